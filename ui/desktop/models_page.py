"""The "Models" settings tab: the GGUF models the practice may run (pinned by SHA-256),
which one drafts by default, their grounding pass rates, re-verifying the files, and
importing another GGUF. Calls automations.workflows.models (which registers the bundled
model and reads GGUF metadata) and app.services.models (role-checked, audited)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from app.domain.models import ModelRecord
from app.services import models as model_service
from ui.desktop.pages import AppContext
from ui.desktop.settings_dialog import SETTINGS_PAGES


class ModelsTab(QWidget):
    def __init__(self, ctx: AppContext) -> None:
        super().__init__()
        self.ctx = ctx
        self.setObjectName("modelsTab")
        manage = ctx.session.can("model.manage")
        self.table = QTableWidget(0, 6)
        self.table.setObjectName("modelsTable")
        self.table.setHorizontalHeaderLabels(["Model", "Size", "Licence", "SHA-256",
                                              "Grounding pass rate", "Used for"])
        self.table.verticalHeader().hide()
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self.default_box = QComboBox()
        self.default_box.setEnabled(manage)
        self.use_button = QPushButton("Use for drafting")
        self.use_button.setEnabled(manage)
        self.use_button.clicked.connect(self.use_selected)
        self.verify_button = QPushButton("Verify files")
        self.verify_button.setEnabled(manage)
        self.verify_button.clicked.connect(self.verify)
        row = QHBoxLayout()
        row.addWidget(QLabel("Default model:"))
        row.addWidget(self.default_box, 1)
        row.addWidget(self.use_button)
        row.addWidget(self.verify_button)
        self.import_path = QLineEdit()
        self.import_path.setPlaceholderText("path to a .gguf file on this computer")
        self.import_path.setEnabled(manage)
        self.import_button = QPushButton("Import model")
        self.import_button.setEnabled(manage)
        self.import_button.clicked.connect(self.import_model)
        import_row = QHBoxLayout()
        import_row.addWidget(self.import_path, 1)
        import_row.addWidget(self.import_button)
        self.status = QLabel()
        self.status.setWordWrap(True)
        layout = QVBoxLayout(self)
        layout.addWidget(self.table, 1)
        layout.addLayout(row)
        layout.addLayout(import_row)
        layout.addWidget(self.status)
        self.models: list[ModelRecord] = []
        self.reload()

    def reload(self) -> None:
        from automations.workflows import models as flow
        session = self.ctx.session
        self.ctx.worker.run(lambda: flow.list_models(session), done=self.show_models,
                            label="Loading models", phi=False)

    def show_models(self, models: list[ModelRecord]) -> None:
        self.models = models
        self.table.setRowCount(len(models))
        self.default_box.clear()
        for row, m in enumerate(models):
            rate = m.grounding_pass_rate
            values = [m.name + (" (bundled)" if m.bundled else ""), f"{m.size / 1e6:.0f} MB",
                      m.license or "?", m.sha256[:16] + "…",
                      "–" if rate is None else f"{rate * 100:.0f}% of {m.grounding_checks}",
                      ", ".join(m.used_for) or "-"]
            for col, value in enumerate(values):
                self.table.setItem(row, col, QTableWidgetItem(value))
            self.default_box.addItem(m.name)
            if model_service.DEFAULT_KIND in m.used_for:
                self.default_box.setCurrentIndex(row)

    def use_selected(self) -> None:
        name = self.default_box.currentText()
        if not name:
            return
        session = self.ctx.session

        def done(rec: ModelRecord) -> None:
            self.ctx.bridge.info(f"{rec.name} now drafts for every kind without its own model.")
            self.reload()

        self.ctx.worker.run(lambda: model_service.set_active(
            session, model_service.DEFAULT_KIND, name), done=done, label="Choosing model",
            phi=False)

    def verify(self) -> None:
        from automations.workflows import models as flow
        session = self.ctx.session

        def done(outcomes: list[Any]) -> None:
            bad = [o for o in outcomes if not o.ok]
            text = "All model files match their pinned SHA-256." if not bad else \
                "; ".join(f"{o.name}: {o.message}" for o in bad)
            self.status.setText(text)
            (self.ctx.bridge.info if not bad else self.ctx.bridge.warning)(text)

        self.ctx.worker.run(lambda: flow.verify_models(session), done=done,
                            label="Verifying model files", phi=False)

    def import_model(self) -> None:
        from automations.workflows import models as flow
        path = Path(self.import_path.text().strip())
        session = self.ctx.session

        def done(rec: ModelRecord) -> None:
            self.import_path.clear()
            self.ctx.bridge.info(f"Imported {rec.name} (SHA-256 {rec.sha256[:12]}…).")
            self.reload()

        self.ctx.worker.run(lambda: flow.import_model(session, path), done=done,
                            label="Importing model", phi=False)


SETTINGS_PAGES.append(("Models", "model.generate", ModelsTab))
