"""The owner's monthly report dialog: pick a month, optionally the PHI appendix, choose
where to save; the PDF is built off the GUI thread by the service (which checks the
owner's role and audits the export)."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QLabel,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from app import clock
from app.services import reports
from ui.desktop.pages import AppContext


def recent_months(today: date, count: int = 12) -> list[tuple[int, int]]:
    """The last `count` complete months, most recent first."""
    out: list[tuple[int, int]] = []
    day = today.replace(day=1)
    for _ in range(count):
        day = (day - timedelta(days=1)).replace(day=1)
        out.append((day.year, day.month))
    return out


class MonthlyReportDialog(QDialog):
    def __init__(self, ctx: AppContext, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.ctx = ctx
        self.setWindowTitle("Monthly report")
        self.month = QComboBox()
        for year, month in recent_months(clock.now().date()):
            self.month.addItem(date(year, month, 1).strftime("%B %Y"), (year, month))
        self.phi = QCheckBox("Add the appendix with patient identifiers (PHI; the export "
                             "is recorded in the audit log)")
        self.status = QLabel("The report is de-identified: counts, rates and dollars.")
        self.status.setWordWrap(True)
        self.save_button = QPushButton("Save PDF…")
        self.save_button.clicked.connect(self.save)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        buttons.addButton(self.save_button, QDialogButtonBox.ButtonRole.ActionRole)
        form = QFormLayout()
        form.addRow("Month", self.month)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.phi)
        layout.addWidget(self.status)
        layout.addWidget(buttons)

    def choose_file(self, suggested: str) -> str:
        """Ask where to save (tests replace this). An empty string means cancelled."""
        path, _filter = QFileDialog.getSaveFileName(self, "Save the monthly report",
                                                    str(Path.home() / suggested),
                                                    "PDF files (*.pdf)")
        return path

    def save(self) -> None:
        year, month = self.month.currentData()
        phi = self.phi.isChecked()
        suggested = f"offhold-report-{year:04d}-{month:02d}{'-PHI' if phi else ''}.pdf"
        chosen = self.choose_file(suggested)
        if not chosen:
            return
        target = Path(chosen if chosen.lower().endswith(".pdf") else chosen + ".pdf")
        session = self.ctx.session
        self.save_button.setEnabled(False)
        self.status.setText("Building the report…")
        self.ctx.worker.run(
            lambda: reports.export_monthly_report(session, year, month, target, phi),
            done=self._saved, failed=self._failed, label="Building the monthly report",
            phi=False)

    def _saved(self, path: Path) -> None:
        self.save_button.setEnabled(True)
        self.status.setText(f"Saved to {path}")
        self.ctx.bridge.info(f"Monthly report saved to {path}")

    def _failed(self, exc: BaseException) -> None:
        self.save_button.setEnabled(True)
        self.status.setText("The report was not saved.")
