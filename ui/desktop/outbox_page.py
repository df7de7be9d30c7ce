"""The outbox: approved messages queued, sending, sent, failed (with the reason) or
cancelled, and the patients' replies next to the message they answer; send now, read
replies now, retry a failed one. Calls app.services.outbox and app.services.replies
(role-checked) and automations.outbox on the worker."""

from __future__ import annotations

from typing import Any

from PySide6.QtWidgets import QHBoxLayout, QLabel, QPushButton, QVBoxLayout, QWidget

from app.services import outbox, replies
from ui.desktop.models import local_time
from ui.desktop.pages import AppContext, Page
from ui.desktop.tables import fill_table as _fill
from ui.desktop.tables import readonly_table as _table


def _load(session: Any) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    return outbox.list_messages(session), replies.list_replies(session)


class OutboxPage(Page):
    title = "Outbox"

    def __init__(self, ctx: AppContext, parent: QWidget | None = None) -> None:
        super().__init__(ctx, parent)
        self.rows: list[dict[str, Any]] = []
        self.replies: dict[int | None, list[dict[str, Any]]] = {}  # outbox id -> replies
        may_send = ctx.session.can("outbox.send")
        self.send_button = QPushButton("Send now")
        self.send_button.setToolTip("Send what is ready (quiet hours and opt-outs apply)")
        self.send_button.setEnabled(may_send)
        self.send_button.clicked.connect(self.send_now)
        self.replies_button = QPushButton("Read replies now")
        self.replies_button.setToolTip("Read the texting vendor's replies folder and the "
                                       "replies mailbox (also every 10 minutes)")
        self.replies_button.setEnabled(may_send)
        self.replies_button.clicked.connect(self.read_replies_now)
        self.retry_button = QPushButton("Retry failed message")
        self.retry_button.setEnabled(False)
        self.retry_button.clicked.connect(self.retry_selected)
        self.may_send = may_send
        self.summary = QLabel()
        self.summary.setWordWrap(True)
        top = QHBoxLayout()
        top.addWidget(self.summary, 1)
        top.addWidget(self.retry_button)
        top.addWidget(self.replies_button)
        top.addWidget(self.send_button)
        self.table = _table(["#", "Channel", "Kind", "To", "Status", "Sent at", "Reason",
                             "Replies"], stretch=6)  # a failure's reason reads whole
        self.table.currentCellChanged.connect(lambda row, *_: self._chosen(row))
        self.replies_label = QLabel("Replies to the chosen message")
        self.reply_table = _table(["Received", "From", "Says", "What OffHold did", "Reply"],
                                  stretch=4)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(8, 8, 8, 8)
        layout.addLayout(top)
        layout.addWidget(self.table, 3)
        layout.addWidget(self.replies_label)
        layout.addWidget(self.reply_table, 1)

    def refresh(self) -> None:
        session = self.ctx.session
        self.ctx.worker.run(lambda: _load(session), done=self._loaded,
                            label="Loading the outbox")

    def _loaded(self, loaded: tuple[list[dict[str, Any]], list[dict[str, Any]]]) -> None:
        rows, recorded = loaded
        self.replies = {}
        for reply in recorded:  # newest first
            self.replies.setdefault(reply["outbox_id"], []).append(reply)
        self.show_rows(rows)

    def _reply_note(self, outbox_id: int) -> str:
        mine = self.replies.get(outbox_id, [])
        if not mine:
            return ""
        latest = mine[0]
        return f"{len(mine)}: {latest['intent']}" + (f" ({latest['outcome']})"
                                                      if latest["outcome"] else "")

    def show_rows(self, rows: list[dict[str, Any]]) -> None:
        self.rows = rows
        counts: dict[str, int] = {}
        for r in rows:
            counts[r["status"]] = counts.get(r["status"], 0) + 1
        text = ", ".join(f"{n} {s}" for s, n in sorted(counts.items())) \
            or "The outbox is empty."
        unmatched = len(self.replies.get(None, []))
        if unmatched:
            text += (f". {unmatched} repl{'ies' if unmatched != 1 else 'y'} matched no "
                     "message: see Patient replies in the queue.")
        self.summary.setText(text)
        _fill(self.table, [[str(r["id"]), r["channel"], r["kind"].replace("_", " "),
                            r["recipient"].split("\n")[0], r["status"], local_time(r["sent_at"]),
                            r["last_error"] if r["status"] in ("failed", "cancelled") else "",
                            self._reply_note(int(r["id"]))]
                           for r in rows])
        self._chosen(self.table.currentRow())

    def _chosen(self, row: int) -> None:
        chosen = 0 <= row < len(self.rows)
        failed = chosen and self.rows[row]["state"] == "failed"
        self.retry_button.setEnabled(self.may_send and failed)
        mine = self.replies.get(int(self.rows[row]["id"]), []) if chosen else []
        self.replies_label.setText(
            f"Replies to message {self.rows[row]['id']}: {len(mine)}" if chosen
            else "Replies to the chosen message")
        _fill(self.reply_table, [[local_time(r["received_at"]), r["sender"], r["intent"],
                                  r["outcome"], r["body"].replace("\n", " ")]
                                 for r in mine])

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

    def read_replies_now(self) -> None:
        from automations.outbox import RepliesRun, read_replies
        session = self.ctx.session

        def done(run: RepliesRun) -> None:
            r = run.report
            self.ctx.bridge.info(
                f"Replies: {len(r.recorded)} new, {len(r.booked)} booked, "
                f"{len(r.declined)} declined, {len(r.opted_out)} opted out, "
                f"{len(r.tasks)} for a person" + (f", {run.failed} could not be read"
                                                  if run.failed else ""))
            self.refresh()

        self.ctx.worker.run(lambda: read_replies(session), done=done,
                            label="Reading replies", phi=False)

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
        self.replies = {}
        _fill(self.table, [])
        _fill(self.reply_table, [])
        self.summary.setText("")
