"""Remittances: the 835s received (payer, trace, payment, balance) with each claim's
classification, next action and appeal deadline, and importing an X12 file (835, 271 or
277) in the background. Calls app.services.remittance (role-checked) and
automations.workflows.denials.import_x12_file (all-or-nothing; denials become tasks)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QSplitter,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from app.denials.view import claim_summary
from app.queue.changes import EVERYTHING
from app.services import remittance
from ui.desktop.pages import AppContext, Page
from ui.desktop.tables import fill_table as _fill
from ui.desktop.tables import readonly_table as _table


class RemittancePage(Page):
    title = "Remittances"

    def __init__(self, ctx: AppContext, parent: QWidget | None = None) -> None:
        super().__init__(ctx, parent)
        self.remits: list[dict[str, Any]] = []
        self.path = QLineEdit()
        self.path.setPlaceholderText("path to an 835, 271 or 277 file")
        self.import_button = QPushButton("Import X12 file")
        self.import_button.clicked.connect(self.import_file)
        self.import_button.setEnabled(ctx.session.can("remit.import"))
        top = QHBoxLayout()
        top.addWidget(self.path, 1)
        top.addWidget(self.import_button)
        self.list = _table(["Payer", "Trace", "Payment", "Balanced", "Claims", "Denials"])
        self.list.currentCellChanged.connect(lambda row, *_: self._chosen(row))
        self.header = QLabel("Choose a remittance.")
        self.header.setObjectName("detailTitle")
        self.header.setWordWrap(True)
        self.summary: dict[str, Any] = {}
        self.claims = _table(["Claim", "Status", "Charge", "Paid", "Patient owes", "Denial",
                              "Category", "Next action", "Appeal by"])
        self.claims.currentCellChanged.connect(lambda row, *_: self._claim_chosen(row))
        # One claim: every adjustment group together, line-level ones marked.
        self.claim_header = QLabel("Choose a claim to see its adjustments.")
        self.claim_header.setWordWrap(True)
        self.letter_button = QPushButton("Open letter…")
        self.letter_button.setEnabled(False)
        self.letter_button.clicked.connect(self.open_letter)
        self.groups = QTreeWidget()
        self.groups.setObjectName("adjustmentGroups")
        self.groups.setHeaderLabels(["Adjustment", "Amount", "Where", "Reason"])
        self.groups.setColumnWidth(0, 250)
        claim_row = QHBoxLayout()
        claim_row.addWidget(self.claim_header, 1)
        claim_row.addWidget(self.letter_button)
        self.letter_task: int | None = None
        right = QWidget()
        right_layout = QVBoxLayout(right)
        right_layout.setContentsMargins(0, 0, 0, 0)
        right_layout.addWidget(self.header)
        right_layout.addWidget(self.claims, 1)
        right_layout.addLayout(claim_row)
        right_layout.addWidget(self.groups, 1)
        splitter = QSplitter(Qt.Orientation.Vertical)
        splitter.addWidget(self.list)
        splitter.addWidget(right)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(8, 8, 8, 8)
        layout.addLayout(top)
        layout.addWidget(splitter, 1)

    def refresh(self) -> None:
        session = self.ctx.session
        self.ctx.worker.run(lambda: remittance.list_remittances(session), done=self.show_list,
                            label="Loading remittances")

    def show_list(self, remits: list[dict[str, Any]]) -> None:
        self.remits = remits
        _fill(self.list, [[r["payer"], r["trace_number"], f"${r['payment']}",
                           "yes" if r["balanced"] else "NO", str(r["claims"]),
                           str(r["denials"])] for r in remits])

    def _chosen(self, row: int) -> None:
        if not 0 <= row < len(self.remits):
            return
        remit_id = int(self.remits[row]["id"])
        session = self.ctx.session
        self.ctx.worker.run(lambda: remittance.remittance_summary(session, remit_id),
                            done=self.show_summary, label="Opening remittance")

    def show_summary(self, summary: dict[str, Any]) -> None:
        issues = "; ".join(summary["issues"]) or "balanced"
        self.header.setText(f"{summary['payer']} · trace {summary['trace_number']} · "
                            f"${summary['payment']} on {summary['payment_date'] or '?'} · "
                            f"{issues}")
        self.summary = summary
        _fill(self.claims, [[c["claim_number"], c["status_text"], f"${c['charge']}",
                             f"${c['paid']}", f"${c['patient_responsibility']}",
                             c["scope_label"] if c["denial"] else "",
                             c["category_label"], c["next_action_label"],
                             c["appeal_deadline_text"]] for c in summary["claims"]])
        self.show_claim(None)

    def _claim_chosen(self, row: int) -> None:
        claims = self.summary.get("claims", [])
        if not 0 <= row < len(claims):
            return
        rc_id = int(claims[row]["id"])
        session = self.ctx.session
        self.ctx.worker.run(lambda: remittance.remit_claim_detail(session, rc_id),
                            done=self.show_claim, label="Opening claim")

    def show_claim(self, d: dict[str, Any] | None) -> None:
        """Every adjustment group of one claim (contractual, patient responsibility, ...)
        with its total, each adjustment's code, amount and whether it is on a line."""
        self.groups.clear()
        self.letter_task = None
        self.letter_button.setEnabled(False)
        if d is None:
            self.claim_header.setText("Choose a claim to see its adjustments.")
            return
        self.claim_header.setText(" · ".join(claim_summary(d)))
        for g in d["groups"]:
            top = QTreeWidgetItem(self.groups, [g["label"], f"${g['total']}", "", ""])
            for a in g["adjustments"]:
                QTreeWidgetItem(top, [a["code"], f"${a['amount']}",
                                      f"line {a['line']}" if a["line_level"] else "claim",
                                      a["reason"]])
            top.setExpanded(True)
        task_id = next((c.get("task_id") for c in self.summary.get("claims", [])
                        if c["id"] == d["id"]), None)
        if task_id is not None and self.ctx.session.can("claim.manage"):
            self.letter_task = int(task_id)
            self.letter_button.setEnabled(True)

    def open_letter(self) -> None:
        if self.letter_task is None:
            return
        from ui.desktop.letter_view import LetterDialog
        self.letter_dialog = LetterDialog(self.ctx, self.letter_task, self)
        self.letter_dialog.open()

    def import_file(self) -> None:
        path = Path(self.path.text().strip())
        session = self.ctx.session

        def job() -> Any:
            from app.imports.files import read_import_file
            from automations.workflows.denials import import_x12_file
            # refused by its size before it is read; unreadable: a clear message
            return import_x12_file(session, read_import_file(path, "x12"))

        def done(result: Any) -> None:
            self.path.clear()
            self.ctx.bridge.info(f"Imported a {result.kind}: {result.stored} new, "
                                 f"{result.duplicates} already here, {result.denials} denials,"
                                 f" {len(result.tasks)} tasks.")
            self.refresh()
            self.ctx.changes.announce(EVERYTHING, self)  # denial and claim tasks made

        self.ctx.worker.run(job, done=done, label="Importing X12")

    def clear_phi(self) -> None:
        self.remits = []
        _fill(self.list, [])
        _fill(self.claims, [])
        self.summary = {}
        self.show_claim(None)
        self.header.setText("Choose a remittance.")
        dialog = getattr(self, "letter_dialog", None)
        if dialog is not None:  # the letter names the patient
            dialog.document.close()
            dialog.reject()
