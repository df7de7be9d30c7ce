"""The outbox: approved messages queued, sending, sent, failed (with the reason) or
cancelled; send now and retry a failed one. Calls app.services.outbox (role-checked) and
automations.outbox.send_outbox on the worker."""

from __future__ import annotations

from typing import Any

from PySide6.QtWidgets import QHBoxLayout, QLabel, QPushButton, QVBoxLayout, QWidget

from app import clock
from app.services import outbox
from ui.desktop.pages import AppContext, Page
from ui.desktop.tables import fill_table as _fill
from ui.desktop.tables import readonly_table as _table


def _local(stamp: str | None) -> str:
    """A stored UTC time as this computer's local time (the app never shows UTC)."""
    return clock.parse_iso(stamp).astimezone().strftime("%Y-%m-%d %H:%M") if stamp else ""


class OutboxPage(Page):
    title = "Outbox"

    def __init__(self, ctx: AppContext, parent: QWidget | None = None) -> None:
        super().__init__(ctx, parent)
        self.rows: list[dict[str, Any]] = []
        may_send = ctx.session.can("outbox.send")
        self.send_button = QPushButton("Send now")
        self.send_button.setToolTip("Send what is ready (quiet hours and opt-outs apply)")
        self.send_button.setEnabled(may_send)
        self.send_button.clicked.connect(self.send_now)
        self.retry_button = QPushButton("Retry failed message")
        self.retry_button.setEnabled(False)
        self.retry_button.clicked.connect(self.retry_selected)
        self.may_send = may_send
        self.summary = QLabel()
        self.summary.setWordWrap(True)
        top = QHBoxLayout()
        top.addWidget(self.summary, 1)
        top.addWidget(self.retry_button)
        top.addWidget(self.send_button)
        self.table = _table(["#", "Channel", "Kind", "To", "Status", "Sent at", "Reason"])
        self.table.currentCellChanged.connect(lambda row, *_: self._chosen(row))
        layout = QVBoxLayout(self)
        layout.setContentsMargins(8, 8, 8, 8)
        layout.addLayout(top)
        layout.addWidget(self.table, 1)

    def refresh(self) -> None:
        session = self.ctx.session
        self.ctx.worker.run(lambda: outbox.list_messages(session), done=self.show_rows,
                            label="Loading the outbox")

    def show_rows(self, rows: list[dict[str, Any]]) -> None:
        self.rows = rows
        counts: dict[str, int] = {}
        for r in rows:
            counts[r["status"]] = counts.get(r["status"], 0) + 1
        self.summary.setText(", ".join(f"{n} {s}" for s, n in sorted(counts.items()))
                             or "The outbox is empty.")
        _fill(self.table, [[str(r["id"]), r["channel"], r["kind"].replace("_", " "),
                            r["recipient"].split("\n")[0], r["status"], _local(r["sent_at"]),
                            r["last_error"] if r["status"] in ("failed", "cancelled") else ""]
                           for r in rows])
        self._chosen(self.table.currentRow())

    def _chosen(self, row: int) -> None:
        failed = 0 <= row < len(self.rows) and self.rows[row]["state"] == "failed"
        self.retry_button.setEnabled(self.may_send and failed)

    def send_now(self) -> None:
        from automations.outbox import send_outbox
        session = self.ctx.session

        def done(report: outbox.SendReport) -> None:
            self.ctx.bridge.info(f"Outbox: {len(report.sent)} sent, {len(report.failed)} "
                                 f"failed, {len(report.cancelled)} cancelled, "
                                 f"{len(report.held)} held")
            self.refresh()

        self.ctx.worker.run(lambda: send_outbox(session), done=done, label="Sending",
                            phi=False)

    def retry_selected(self) -> None:
        row = self.table.currentRow()
        if not 0 <= row < len(self.rows):
            return
        outbox_id = int(self.rows[row]["id"])
        session = self.ctx.session
        self.ctx.worker.run(lambda: outbox.retry_message(session, outbox_id),
                            done=lambda _row: self.refresh(), label="Queueing again")

    def clear_phi(self) -> None:
        self.rows = []
        _fill(self.table, [])
        self.summary.setText("")
