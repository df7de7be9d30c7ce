"""Referrals: incoming and outbound referrals with their state, late steps highlighted,
filtered by direction and state; selecting one shows what happened to it in one view
(app.services.referrals.referral_history: the source document, the triage suggestion and
its summary, each loop step with its time, who recorded it, when it was due and whether
it came late, the linked tasks with their decisions, and the audit trail). The next loop
step of an outbound referral is recorded here through the service (role check and audit
there). Every read and write runs on the worker; the page holds no vault handle."""

from __future__ import annotations

import html
from datetime import datetime
from typing import Any

from PySide6.QtCore import QDateTime, Qt
from PySide6.QtGui import QColor
from PySide6.QtWidgets import (
    QComboBox,
    QDateTimeEdit,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QPushButton,
    QSplitter,
    QTableWidgetItem,
    QTextBrowser,
    QVBoxLayout,
    QWidget,
)

from app.queue.changes import Changes
from app.referrals.loop import STEP_LABEL
from app.referrals.summary import SOURCE_NAMES
from app.services import referrals
from ui.desktop.models import local_time
from ui.desktop.pages import AppContext, Page
from ui.desktop.tables import readonly_table

LATE = QColor("#ffe9a8")
REFERRAL_KINDS = ("referral_triage", "referral_followup")
DIRECTIONS = (("All referrals", None), ("Incoming", "in"), ("Outbound", "out"))
STATUS_LABEL = {"received": "received", "to_schedule": "to schedule",
                "records_requested": "records requested", "declined": "declined", **STEP_LABEL}
# Text a person can read in the source viewer; anything else (a PDF, a scan) is described.
TEXT_MIMES = ("text/", "application/xml", "application/fhir+json", "application/json")


def _e(value: Any) -> str:
    return html.escape(str(value if value is not None else ""))


class ReferralsPage(Page):
    title = "Referrals"

    def __init__(self, ctx: AppContext, parent: QWidget | None = None) -> None:
        super().__init__(ctx, parent)
        self.rows: list[dict[str, Any]] = []
        self.shown: list[dict[str, Any]] = []
        self.history: dict[str, Any] | None = None
        self.pending_id: int | None = None   # open this one once the list is loaded
        self._loads = 0  # counts referral loads: only the newest one's answer is shown
        self.may_record = ctx.session.can("referral.manage")

        self.direction = QComboBox()
        self.direction.setObjectName("referralDirection")
        for text, value in DIRECTIONS:
            self.direction.addItem(text, value)
        self.state = QComboBox()
        self.state.setObjectName("referralState")
        self.direction.currentIndexChanged.connect(lambda _i: self.refresh())
        self.state.currentIndexChanged.connect(lambda _i: self._show_rows())
        self.count = QLabel()
        top = QHBoxLayout()
        top.addWidget(QLabel("Show"))
        top.addWidget(self.direction)
        top.addWidget(QLabel("State"))
        top.addWidget(self.state)
        top.addWidget(self.count, 1)

        self.table = readonly_table(["#", "Direction", "From / to", "Specialty", "Urgency",
                                     "State", "Next step due"], stretch=2)
        self.table.setObjectName("referralTable")
        self.table.currentCellChanged.connect(lambda row, *_: self._chosen(row))

        self.story = QTextBrowser()
        self.story.setObjectName("referralStory")
        self.story.setOpenLinks(False)
        self.story.setPlaceholderText("Select a referral to see what happened to it.")
        self.patient_button = QPushButton("Open patient")
        self.patient_button.clicked.connect(self._open_patient)
        self.source_button = QPushButton("Show source document")
        self.source_button.setObjectName("referralSourceButton")
        self.source_button.clicked.connect(self.show_source)
        self.source_view = QPlainTextEdit()
        self.source_view.setObjectName("referralSource")
        self.source_view.setReadOnly(True)
        self.source_view.setMaximumHeight(180)
        self.source_view.hide()
        buttons = QHBoxLayout()
        buttons.addWidget(self.patient_button)
        buttons.addWidget(self.source_button)
        buttons.addStretch(1)

        # Recording the next loop step: the step is fixed by the loop (the service refuses
        # any other), so the form only asks when it happened, the visit and a note.
        self.step_box = QGroupBox("Record the next step")
        self.step_box.setObjectName("referralStepForm")
        form = QFormLayout(self.step_box)
        self.step_label = QLabel()
        self.step_at = QDateTimeEdit()
        self.step_at.setCalendarPopup(True)
        self.step_at.setDisplayFormat("yyyy-MM-dd HH:mm")
        self.visit_at = QDateTimeEdit()
        self.visit_at.setCalendarPopup(True)
        self.visit_at.setDisplayFormat("yyyy-MM-dd HH:mm")
        self.visit_label = QLabel("Booked visit")
        self.note = QLineEdit()
        self.note.setPlaceholderText("Note (optional: who confirmed, how)")
        self.record_button = QPushButton("Record step")
        self.record_button.setObjectName("recordStep")
        self.record_button.clicked.connect(self.record_step)
        for edit in (self.step_at, self.visit_at):
            edit.setMaximumWidth(220)
        record_row = QHBoxLayout()
        record_row.addWidget(self.record_button)
        record_row.addStretch(1)
        form.addRow("Next step", self.step_label)
        form.addRow("Happened at", self.step_at)
        form.addRow(self.visit_label, self.visit_at)
        form.addRow("Note", self.note)
        form.addRow("", record_row)
        self.step_box.hide()

        right = QWidget()
        right_layout = QVBoxLayout(right)
        right_layout.setContentsMargins(0, 0, 0, 0)
        right_layout.addLayout(buttons)
        right_layout.addWidget(self.story, 1)
        right_layout.addWidget(self.source_view)
        right_layout.addWidget(self.step_box)
        splitter = QSplitter(Qt.Orientation.Horizontal)
        splitter.addWidget(self.table)
        splitter.addWidget(right)
        splitter.setStretchFactor(0, 1)
        splitter.setStretchFactor(1, 1)
        splitter.setSizes([700, 800])
        layout = QVBoxLayout(self)
        layout.setContentsMargins(8, 8, 8, 8)
        layout.addLayout(top)
        layout.addWidget(splitter, 1)
        self._show_history(None)

    # -- the list
    def refresh(self) -> None:
        session = self.ctx.session
        direction = self.direction.currentData()
        self.ctx.worker.run(lambda: referrals.list_referrals(session, direction=direction),
                            done=self.set_rows, label="Loading referrals")

    def set_rows(self, rows: list[dict[str, Any]]) -> None:
        self.rows = rows
        wanted = self.state.currentData()
        self.state.blockSignals(True)
        self.state.clear()
        self.state.addItem("Any state", None)
        self.state.addItem("Open (loop not closed)", "open")
        self.state.addItem("Late steps only", "overdue")
        for status in sorted({str(r["status"]) for r in rows}):
            self.state.addItem(STATUS_LABEL.get(status, status), status)
        index = self.state.findData(wanted)
        self.state.setCurrentIndex(max(index, 0))
        self.state.blockSignals(False)
        self._show_rows()

    def _show_rows(self) -> None:
        wanted = self.state.currentData()
        self.shown = [r for r in self.rows if wanted is None
                      or (wanted == "open" and r["open"])
                      or (wanted == "overdue" and r["overdue"]) or r["status"] == wanted]
        late = sum(1 for r in self.shown if r["overdue"])
        self.count.setText(f"{len(self.shown)} referral(s)" + (f", {late} with a late step"
                                                                if late else ""))
        keep = self.history["id"] if self.history else self.pending_id
        self.table.blockSignals(True)
        self.table.setRowCount(len(self.shown))
        for n, r in enumerate(self.shown):
            due = local_time(r["due_at"]) + (" LATE" if r["overdue"] else "")
            values = [str(r["id"]), "incoming" if r["direction"] == "in" else "outbound",
                      r["counterpart"] or "-", r["specialty"] or "-", r["urgency"] or "-",
                      STATUS_LABEL.get(r["status"], r["status"]), due]
            for c, value in enumerate(values):
                item = QTableWidgetItem(value)
                if r["overdue"]:
                    item.setBackground(LATE)
                    item.setToolTip("A step of this referral's loop is late")
                self.table.setItem(n, c, item)
        self.table.blockSignals(False)
        row = next((n for n, r in enumerate(self.shown) if r["id"] == keep), -1)
        if row >= 0:
            self.table.setCurrentCell(row, 0)
            self._chosen(row)
        elif self.pending_id is not None:
            self.load(self.pending_id)  # filtered out: show it all the same
        else:
            self._show_history(None)

    def late_rows(self) -> list[int]:
        """The referral ids whose rows are highlighted as late (tests)."""
        return [int(self.shown[n]["id"]) for n in range(self.table.rowCount())
                if self.table.item(n, 0).background().color() == LATE]

    def _chosen(self, row: int) -> None:
        if 0 <= row < len(self.shown):
            rid = int(self.shown[row]["id"])
            if self.history is None or self.history["id"] != rid:
                self.load(rid)

    # -- one referral
    def open_item(self, arg: Any) -> None:
        """Open one referral (from a referral task's review pane)."""
        self.pending_id = int(arg)
        self.history = None
        self.refresh()

    def load(self, referral_id: int) -> None:
        session = self.ctx.session
        self._loads += 1
        load = self._loads

        def loaded(history: dict[str, Any]) -> None:
            # The pool runs loads side by side: a click on A then B may answer B first,
            # and A's story must not then replace B's (its step button would record on A).
            if load == self._loads:
                self._show_history(history)

        self.ctx.worker.run(lambda: referrals.referral_history(session, referral_id),
                            done=loaded, label="Loading the referral")

    def _show_history(self, history: dict[str, Any] | None) -> None:
        self.history = history
        self.source_view.hide()
        self.source_view.clear()
        if history is None:
            self.story.clear()
            self.patient_button.setEnabled(False)
            self.source_button.setEnabled(False)
            self.step_box.hide()
            return
        self.pending_id = None
        self.story.setHtml(story_html(history))
        self.patient_button.setEnabled(history["patient_id"] is not None)
        self.source_button.setEnabled(history["source_document"] is not None)
        step = history["next_step"]
        self.step_box.setVisible(step is not None)
        self.record_button.setEnabled(self.may_record and step is not None)
        self.record_button.setToolTip("" if self.may_record else
                                      "Your role cannot record referral steps")
        if step is not None:
            self.step_label.setText(STEP_LABEL[step])
            self.step_at.setDateTime(QDateTime.currentDateTime())
            self.visit_at.setDateTime(QDateTime.currentDateTime().addDays(7))
            self.visit_label.setVisible(step == "scheduled")
            self.visit_at.setVisible(step == "scheduled")
            self.note.clear()

    def record_step(self) -> None:
        if self.history is None or self.history["next_step"] is None:
            return
        referral_id, step = int(self.history["id"]), str(self.history["next_step"])
        at = _aware(self.step_at.dateTime())
        visit = _aware(self.visit_at.dateTime()) if step == "scheduled" else None
        note = self.note.text().strip()
        session = self.ctx.session
        self.record_button.setEnabled(False)

        def done(state: dict[str, Any]) -> None:
            self.ctx.bridge.info(f"Referral {referral_id}: {STEP_LABEL[step]} recorded")
            self.pending_id = referral_id
            self.history = None
            self.refresh()

        self.ctx.worker.run(
            lambda: referrals.record_step(session, referral_id, step, at=at,
                                          appointment_at=visit, note=note),
            done=done, failed=lambda _e: self.record_button.setEnabled(self.may_record),
            label="Recording the step")

    def show_source(self) -> None:
        if self.history is None or self.history["source_document"] is None:
            return
        referral_id = int(self.history["id"])
        session = self.ctx.session

        def shown(doc: tuple[bytes, str]) -> None:
            if self.history is None or int(self.history["id"]) != referral_id:
                return  # another referral was opened meanwhile
            data, mime = doc
            if mime.startswith(TEXT_MIMES):
                self.source_view.setPlainText(data[:200_000].decode("utf-8", "replace"))
            else:
                self.source_view.setPlainText(
                    f"A {mime} file of {len(data):,} bytes. Its text, as read, is on the "
                    "triage task's evidence ('Reason for referral (source text)').")
            self.source_view.show()

        self.ctx.worker.run(lambda: referrals.source_document(session, referral_id),
                            done=shown, label="Opening the source document")

    def _open_patient(self) -> None:
        if self.history is not None and self.history["patient_id"] is not None:
            self.ctx.navigate("patients", int(self.history["patient_id"]))

    def on_changed(self, changes: Changes) -> None:
        if self.isVisible() and changes.touches_kinds(REFERRAL_KINDS):
            self.refresh()

    def clear_phi(self) -> None:
        self._loads += 1  # a load still running is not shown after this
        self.rows, self.shown, self.pending_id = [], [], None
        self.table.setRowCount(0)
        self.count.setText("")
        self._show_history(None)


def _aware(value: QDateTime) -> datetime:
    """A date-time edit's local time as an aware datetime."""
    return value.toPython().astimezone()  # type: ignore[no-any-return, union-attr]


def story_html(h: dict[str, Any]) -> str:
    """What happened to one referral, as the page shows it (from referral_history)."""
    incoming = h["direction"] == "in"
    parts = [f"<h3>Referral {h['id']}: {'incoming from' if incoming else 'outbound to'} "
             f"{_e(h['counterpart'] or 'unknown')}</h3>",
             f"<p>State: <b>{_e(STATUS_LABEL.get(h['status'], h['status']))}</b>"
             f" &middot; urgency {_e(h['urgency'] or '-')} &middot; specialty "
             f"{_e(h['specialty'] or '-')} &middot; patient "
             f"{_e(h.get('patient_name') or h['patient_id'] or 'not matched')}</p>"]
    due_for = h.get("due_for") or h["next_step"]
    if h["due_at"] and due_for:  # an incoming referral's triage or visit, as a loop step
        late = (f" <span style='background:{LATE.name()}'><b>LATE by {h['days_late']} "
                "day(s)</b></span>") if h["overdue"] else ""
        what = "triage decision" if due_for == "triage" else STEP_LABEL.get(due_for, due_for)
        parts.append(f"<p>Next: {_e(what)}, due {_e(local_time(h['due_at']))}{late}</p>")
    elif h["next_step"]:
        parts.append(f"<p>Next: {_e(STEP_LABEL[h['next_step']])}</p>")
    elif not incoming:
        parts.append("<p>The loop is closed.</p>")
    if h["reason"]:
        parts.append(f"<p>Reason: {_e(h['reason'])}</p>")
    doc = h["source_document"]
    source = SOURCE_NAMES.get(h["source"], h["source"])
    if doc:
        others = [str(r) for r in doc["referrals"] if r != h["id"]]
        parts.append(f"<h4>Source document</h4><p>{_e(source)} ({_e(doc['mime'])}, "
                     f"{doc['size']:,} bytes), stored once"
                     + (f"; the same file holds referral(s) {_e(', '.join(others))}"
                        if others else "") + "</p>")
    elif incoming:
        parts.append(f"<h4>Source document</h4><p>{_e(source)}</p>")
    if h["suggested"]:
        s = h["suggested"]
        parts.append(f"<h4>Triage</h4><p>The practice's rules suggested "
                     f"<b>{_e(str(s['action']).replace('_', ' '))}</b>: {_e(s['reason'])}</p>")
    summary = h["summary"]
    if summary:
        parts.append(f"<p><b>Summary from the extracted fields:</b> "
                     f"{_e(summary['deterministic'])}</p>")
        if summary.get("text"):
            parts.append(f"<p><b>Model summary</b> ({_e(summary['model'])}, each of its "
                         f"{summary['checked']} claim(s) found in the source text): "
                         f"{_e(summary['text'])}</p>")
        elif summary.get("asked"):
            parts.append(f"<p><b>Model summary not used:</b> {_e(summary['notice'])}</p>")
        for d in summary.get("dropped", []):
            parts.append(f"<p style='color:#8a5300'>Dropped from the model's summary: "
                         f"&ldquo;{_e(d['sentence'])}&rdquo; ({_e(d['why'])})</p>")
    rows = "".join(
        f"<tr><td>{_e(local_time(s['at']))}</td><td>{_e(STATUS_LABEL.get(s['step'], s['step']))}"
        f"</td><td>{_e(s['actor'])}</td><td>{_e(local_time(s['due']))}</td>"
        + (f"<td style='background:{LATE.name()}'><b>late</b></td>" if s["late"] else
           f"<td>{'on time' if s['due'] else ''}</td>")
        + f"<td>{_e(s['note'])}</td></tr>" for s in h["steps"])
    parts.append("<h4>Steps</h4><table border='1' cellspacing='0' cellpadding='3'>"
                 "<tr><th>When</th><th>Step</th><th>By</th><th>Due</th><th>On time?</th>"
                 f"<th>Note</th></tr>{rows}</table>")
    parts.append("<h4>Tasks</h4>")
    if not h["tasks"]:
        parts.append("<p>None.</p>")
    for t in h["tasks"]:
        decided = [d for d in t["decisions"] if d["action"] not in ("create", "view")]
        parts.append(f"<p>#{t['id']} {_e(t['kind'].replace('_', ' '))} "
                     f"[{_e(t['state'])}]: {_e(t['title'])}"
                     + "".join(f"<br>&nbsp;&nbsp;{_e(local_time(d['ts']))} {_e(d['action'])} by "
                               f"{_e(d['actor'])}" + (f": {_e(d['note'])}" if d["note"] else "")
                               for d in decided) + "</p>")
    trail = "".join(f"<tr><td>{_e(local_time(a['ts']))}</td><td>{_e(a['actor'])}</td>"
                    f"<td>{_e(a['action'])}</td><td>{_e(a['object'])}</td></tr>"
                    for a in h["audit"])
    parts.append("<h4>Audit trail</h4><table border='1' cellspacing='0' cellpadding='3'>"
                 f"<tr><th>When</th><th>Who</th><th>What</th><th>On</th></tr>{trail}</table>")
    return "".join(parts)
