"""The "Models" settings tab: the GGUF models the practice may run (pinned by SHA-256),
which one drafts by default, their grounding pass rates, re-verifying the files, and
importing another GGUF. Calls automations.workflows.models (which registers the bundled
model and reads GGUF metadata) and app.services.models (role-checked, audited)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtGui import QColor
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

from app.domain.models import ModelHealth, ModelRecord
from app.services import models as model_service
from ui.desktop.pages import AppContext


HEALTH_COLOURS = {"healthy": "#1b7a3a", "slow": "#b3261e", "broken": "#b3261e",
                  "untested": "#5f6368"}


def health_text(health: ModelHealth | None) -> str:
    """The status cell: the verdict, its reason and what to do."""
    if health is None:
        return "not tested yet (tested on first use)"
    if health.usable:
        return f"healthy ({health.tokens_per_s:.0f} tokens/s)"
    return (f"{health.health.upper()}: {health.reason}. Not used for drafts; the owner can "
            "re-test it with 'Verify and re-test'.")


class ModelsTab(QWidget):
    def __init__(self, ctx: AppContext) -> None:
        super().__init__()
        self.ctx = ctx
        self.setObjectName("modelsTab")
        manage = ctx.session.can("model.manage")
        self.table = QTableWidget(0, 7)
        self.table.setObjectName("modelsTable")
        self.table.setHorizontalHeaderLabels(["Model", "Status on this computer", "Size",
                                              "Licence", "SHA-256", "Grounding pass rate",
                                              "Used for"])
        self.table.verticalHeader().hide()
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self.default_box = QComboBox()
        self.default_box.setEnabled(manage)
        self.use_button = QPushButton("Use for drafting")
        self.use_button.setEnabled(manage)
        self.use_button.clicked.connect(self.use_selected)
        self.verify_button = QPushButton("Verify and re-test")
        self.verify_button.setToolTip("Re-check every model file's SHA-256 and run its "
                                      "self-test again on this computer")
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
        # the full reason and what to do for a slow or broken model (the cell is narrow)
        self.health_note = QLabel()
        self.health_note.setObjectName("modelHealthNote")
        self.health_note.setWordWrap(True)
        self.health_note.setStyleSheet(f"color: {HEALTH_COLOURS['broken']};")
        self.health_note.hide()
        layout = QVBoxLayout(self)
        layout.addWidget(self.table, 1)
        layout.addWidget(self.health_note)
        layout.addLayout(row)
        layout.addLayout(import_row)
        layout.addWidget(self.status)
        self.models: list[ModelRecord] = []
        self.health: dict[str, ModelHealth | None] = {}
        self.reload()

    def reload(self) -> None:
        from automations.workflows import models as flow
        session = self.ctx.session
        self.ctx.worker.run(lambda: flow.models_with_health(session), done=self.show_models,
                            label="Loading models", phi=False)

    def show_models(self, rows: list[tuple[ModelRecord, ModelHealth | None]]) -> None:
        self.models = [m for m, _h in rows]
        self.health = {m.sha256: h for m, h in rows}
        self.table.setRowCount(len(rows))
        self.default_box.clear()
        notes = [f"{m.name} is {h.health}: {h.reason}. What to do: "
                 + model_service.health_advice(h.health)
                 for m, h in rows if h is not None and not h.usable]
        self.health_note.setText("\n".join(notes))
        self.health_note.setVisible(bool(notes))
        for row, (m, health) in enumerate(rows):
            rate = m.grounding_pass_rate
            values = [m.name + (" (bundled)" if m.bundled else ""), health_text(health),
                      f"{m.size / 1e6:.0f} MB", m.license or "?", m.sha256[:16] + "…",
                      "–" if rate is None else f"{rate * 100:.0f}% of {m.grounding_checks}",
                      ", ".join(m.used_for) or "-"]
            for col, value in enumerate(values):
                item = QTableWidgetItem(value)
                if col == 1:
                    item.setForeground(QColor(HEALTH_COLOURS[health.health if health
                                                             else "untested"]))
                    item.setToolTip(value)
                self.table.setItem(row, col, item)
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
            text = "Every model file matches its pinned SHA-256 and passed its self-test." \
                if not bad else "; ".join(f"{o.name}: {o.message}" for o in bad)
            self.status.setText(text)
            (self.ctx.bridge.info if not bad else self.ctx.bridge.warning)(text)
            self.reload()

        self.ctx.worker.run(lambda: flow.verify_models(session), done=done,
                            label="Verifying and re-testing models", phi=False)

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
