"""Today: the front desk's home page. Today's and tomorrow's visits, one row each, with
what must be ready before the patient walks in; every cell opens the task or record
behind it (Enter or double-click). The rows come from app.services.today on the worker;
the model only adapts them.

A date navigator (previous/next day, a date picker, back to today; Alt+Left, Alt+Right,
Alt+Home, Ctrl+D) shows any other day's visits, so a visit on any date can be found and
booked, moved, cancelled or marked a no-show, all through app.services.appointments
(roles and audit are there).
"""

from __future__ import annotations

from datetime import date, timedelta
from html import escape
from typing import Any

from PySide6.QtCore import QAbstractTableModel, QDate, QModelIndex, QPersistentModelIndex, Qt
from PySide6.QtGui import QBrush, QColor, QKeyEvent, QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QAbstractItemView,
    QDateEdit,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QTableView,
    QVBoxLayout,
)

from app import clock
from app.queue.changes import Changes
from app.services import appointments, prior_auth, today
from app.today import Cell, VisitRow
from ui.desktop.pages import AppContext, Page

Index = QModelIndex | QPersistentModelIndex
TARGET_ROLE = Qt.ItemDataRole.UserRole + 10  # (page key, id) the cell opens, or None
STATE_ROLE = Qt.ItemDataRole.UserRole + 11
STATE_COLORS = {"ok": QColor("#e3f4e6"), "attention": QColor("#fff4d6"),
                "missing": QColor("#fde2e1")}
STATUS_LABELS = {"scheduled": "scheduled", "completed": "completed", "no_show": "no-show"}
STATUS_COLORS = {"completed": QColor("#e8eaed"), "no_show": QColor("#f3d9f7")}
STATUS_COLUMN = 8
FIRST_DAY, LAST_DAY = date(1900, 1, 1), date(2999, 12, 31)  # the days the navigator shows


class TodayModel(QAbstractTableModel):
    """Rows of VisitRow; the first four columns open the patient's record."""

    COLUMNS = ("Time", "Patient", "Provider", "Visit type", "Eligibility", "PA", "Intake",
               "Est. patient owes", "Status")

    def __init__(self, zone: Any = None, parent: Any = None) -> None:
        super().__init__(parent)
        self._rows: list[VisitRow] = []
        self.zone = zone

    def set_rows(self, rows: list[VisitRow]) -> None:
        self.beginResetModel()
        self._rows = list(rows)
        self.endResetModel()

    def clear(self) -> None:
        self.set_rows([])

    def row_at(self, row: int) -> VisitRow | None:
        return self._rows[row] if 0 <= row < len(self._rows) else None

    def rowCount(self, parent: Index = QModelIndex()) -> int:
        return 0 if parent.isValid() else len(self._rows)

    def columnCount(self, parent: Index = QModelIndex()) -> int:
        return 0 if parent.isValid() else len(self.COLUMNS)

    def headerData(self, section: int, orientation: Qt.Orientation,
                   role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole \
                and 0 <= section < len(self.COLUMNS):
            return self.COLUMNS[section]
        return None

    def _cell(self, visit: VisitRow, column: int) -> Cell | None:
        return visit.cells()[column - 4] if 4 <= column < STATUS_COLUMN else None

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        visit = self.row_at(index.row())
        if visit is None:
            return None
        column = index.column()
        cell = self._cell(visit, column)
        if column == STATUS_COLUMN:
            if role == Qt.ItemDataRole.DisplayRole:
                return STATUS_LABELS.get(visit.status, visit.status)
            if role == Qt.ItemDataRole.BackgroundRole and visit.status in STATUS_COLORS:
                return QBrush(STATUS_COLORS[visit.status])
            if role == TARGET_ROLE:
                return ("patients", visit.patient_id)
            return None
        if role == Qt.ItemDataRole.DisplayRole:
            if cell is not None:
                return cell.label
            when = visit.start_at.astimezone(self.zone)
            return (f"{when:%a %H:%M}", visit.patient_name, visit.provider,
                    visit.visit_type.replace("_", " "))[column]
        if role == Qt.ItemDataRole.ToolTipRole and cell is not None:
            return cell.detail or None
        if role == Qt.ItemDataRole.BackgroundRole and cell is not None \
                and cell.state in STATE_COLORS:
            return QBrush(STATE_COLORS[cell.state])
        if role == STATE_ROLE and cell is not None:
            return cell.state
        if role == TARGET_ROLE:
            if cell is not None:
                return cell.target
            return ("patients", visit.patient_id)
        return None


class TodayTable(QTableView):
    """Enter opens the current cell's task or record (arrows move, as in the queue)."""

    def keyPressEvent(self, event: QKeyEvent) -> None:
        if event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter):
            self.activated.emit(self.currentIndex())
            return
        super().keyPressEvent(event)


class TodayPage(Page):
    title = "Today"

    def __init__(self, ctx: AppContext, parent: Any = None) -> None:
        super().__init__(ctx, parent)
        self.day: date | None = None  # the first day shown; None: the practice's today
        self.shown_day: date | None = None  # as last loaded
        self.practice_today: date | None = None
        self._load = 0  # the newest load: an older one answering late is ignored
        self.model = TodayModel(parent=self)
        self.table = TodayTable()
        self.table.setObjectName("todayTable")
        self.table.setModel(self.model)
        self.table.verticalHeader().hide()
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectItems)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.horizontalHeader().setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)
        self.table.activated.connect(self.open_cell)
        self.table.doubleClicked.connect(self.open_cell)
        self.summary = QLabel()
        self.summary.setObjectName("todaySummary")
        self.summary.setWordWrap(True)

        # the date navigator
        nav = QHBoxLayout()
        self.prev_button = QPushButton("◀ Previous day")
        self.prev_button.setObjectName("todayPrev")
        self.prev_button.setToolTip("Previous day (Alt+Left)")
        self.prev_button.clicked.connect(lambda: self.step(-1))
        self.date_edit = QDateEdit()
        self.date_edit.setObjectName("todayDate")
        self.date_edit.setCalendarPopup(True)
        self.date_edit.setKeyboardTracking(False)  # one load per date, not per keystroke
        self.date_edit.setDisplayFormat("ddd d MMM yyyy")
        # Qt allows up to 9999-12-31, where the day after (the board's end) overflows
        self.date_edit.setDateRange(QDate(FIRST_DAY.year, FIRST_DAY.month, FIRST_DAY.day),
                                    QDate(LAST_DAY.year, LAST_DAY.month, LAST_DAY.day))
        self.date_edit.setToolTip("Go to a date (Ctrl+D, then type or pick it)")
        self.date_edit.dateChanged.connect(self._date_picked)
        self.next_button = QPushButton("Next day ▶")
        self.next_button.setObjectName("todayNext")
        self.next_button.setToolTip("Next day (Alt+Right)")
        self.next_button.clicked.connect(lambda: self.step(1))
        self.today_button = QPushButton("Today")
        self.today_button.setObjectName("todayToday")
        self.today_button.setToolTip("Back to today and tomorrow (Alt+Home)")
        self.today_button.clicked.connect(lambda: self.go_to(None))
        for widget in (self.prev_button, self.date_edit, self.next_button, self.today_button):
            nav.addWidget(widget)
        nav.addWidget(self.summary, 1)

        # what can be done to a visit (appointment.manage: the front desk and managers)
        actions = QHBoxLayout()
        can_manage = ctx.session.can("appointment.manage")
        self.visit_buttons: dict[str, QPushButton] = {}
        for key, text, tip in (("new", "New visit…", "Book a visit on the day shown (Ctrl+N)"),
                               ("reschedule", "Reschedule…", "Move the selected visit"),
                               ("cancel", "Cancel visit", "Cancel the selected visit"),
                               ("no_show", "No-show", "The patient did not come")):
            button = QPushButton(text)
            button.setObjectName(f"visit_{key}")
            button.setToolTip(tip)
            button.setVisible(can_manage)
            button.clicked.connect(lambda _c=False, k=key: self.visit_action(k))
            actions.addWidget(button)
            self.visit_buttons[key] = button
        actions.addStretch(1)
        self.form: Any = None
        self.picker: Any = None
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.addLayout(nav)
        layout.addLayout(actions)
        layout.addWidget(self.table, 1)
        self.setFocusProxy(self.table)
        self.table.selectionModel().currentChanged.connect(lambda _a, _b: self._enable())
        self.model.modelReset.connect(self._enable)
        self._keys: dict[str, QShortcut] = {}
        for seq, handler in (("Alt+Left", lambda: self.step(-1)),
                             ("Alt+Right", lambda: self.step(1)),
                             ("Alt+Home", lambda: self.go_to(None)),
                             ("Ctrl+D", self._focus_date),
                             ("Ctrl+N", lambda: self.visit_action("new"))):
            shortcut = QShortcut(QKeySequence(seq), self)
            shortcut.setContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
            shortcut.activated.connect(handler)
            self._keys[seq] = shortcut
        self._enable()

    # -- loading and the date navigator
    def refresh(self) -> None:
        session, chosen = self.ctx.session, self.day
        self._load += 1
        load = self._load

        def fetch() -> tuple[Any, date, date, int, list[VisitRow]]:
            zone = prior_auth.practice_zone(session)
            now_day = clock.now().astimezone(zone).date()
            first = chosen or now_day
            days = 2 if first == now_day else 1  # today also shows tomorrow (issue 12)
            return zone, now_day, first, days, today.today_board(session, first, days)

        self.ctx.worker.run(fetch, done=lambda result: self.show_rows(result, load),
                            label="Loading visits")

    def show_rows(self, result: tuple[Any, date, date, int, list[VisitRow]],
                  load: int | None = None) -> None:
        if load is not None and load != self._load:
            return
        zone, now_day, first, days, rows = result
        self.practice_today, self.shown_day = now_day, first
        # Keep the cursor on the same visit and column across a reload (after a cancel or
        # a move the person's place stays put): keyboard-first.
        was = self.current_visit()
        column = max(self.table.currentIndex().column(), 0)
        self.model.zone = zone
        self.model.set_rows(rows)
        same = [n for n, r in enumerate(rows) if was and r.appointment_id == was.appointment_id]
        if same:
            self.table.setCurrentIndex(self.model.index(same[0], column))
        self.table.resizeColumnsToContents()
        self.date_edit.blockSignals(True)
        self.date_edit.setDate(QDate(first.year, first.month, first.day))
        self.date_edit.blockSignals(False)
        self.today_button.setEnabled(first != now_day)
        not_ready = sum(1 for r in rows if r.status == "scheduled" and any(
            c.state in ("attention", "missing") for c in r.cells()[:3]))
        if days == 2:
            when = "today and tomorrow"
        else:
            relative = {-1: " (yesterday)", 1: " (tomorrow)"}.get((first - now_day).days, "")
            when = f"on {first:%A %B} {first.day}, {first.year}{relative}"
        visits = "1 visit" if len(rows) == 1 else f"{len(rows)} visits"
        if first < now_day:  # a past day: how the visits ended, not what to prepare
            counts = [(sum(1 for r in rows if r.status == s), label) for s, label in (
                ("completed", "completed"), ("no_show", "no-show"),
                ("scheduled", "still scheduled"))]
            states = ", ".join(f"{n} {label}" for n, label in counts if n)
            self.summary.setText(f"{visits} {when}" + (f": {states}." if states else "."))
        else:
            verb = "needs" if not_ready == 1 else "need"
            self.summary.setText(f"{visits} {when}; {not_ready} {verb} something before the "
                                 "patient arrives. Enter opens a cell.")
        if rows and not self.table.currentIndex().isValid():
            self.table.setCurrentIndex(self.model.index(0, 4))
        self._enable()

    def go_to(self, day: date | None) -> None:
        """Show `day` (None: today and tomorrow)."""
        self.day = day
        self.refresh()

    def step(self, days: int) -> None:
        base = self.shown_day or self.practice_today
        if base is None:  # not loaded yet: the first load decides where "today" is
            return
        target = base + timedelta(days=days)
        if FIRST_DAY <= target <= LAST_DAY:
            self.go_to(target)

    def _date_picked(self, picked: QDate) -> None:
        day = date(picked.year(), picked.month(), picked.day())
        if day != self.shown_day:
            self.go_to(None if day == self.practice_today else day)

    def _focus_date(self) -> None:
        self.date_edit.setFocus(Qt.FocusReason.ShortcutFocusReason)

    def open_cell(self, index: QModelIndex) -> None:
        target = index.data(TARGET_ROLE) if index.isValid() else None
        if target is not None:
            page, item = target
            self.ctx.navigate(page, item)

    # -- what can be done to a visit
    def current_visit(self) -> VisitRow | None:
        return self.model.row_at(self.table.currentIndex().row())

    def _enable(self) -> None:
        """A completed visit cannot change; a no-show needs a visit that has started. A
        disabled button says why in its tooltip (the services refuse the same)."""
        visit = self.current_visit()
        open_visit = visit is not None and visit.status in ("scheduled", "no_show")
        why = "Select a visit first." if visit is None else \
            f"This visit is {STATUS_LABELS.get(visit.status, visit.status)}."
        for key, tip in (("reschedule", "Move the selected visit"),
                         ("cancel", "Cancel the selected visit")):
            self.visit_buttons[key].setEnabled(open_visit)
            self.visit_buttons[key].setToolTip(tip if open_visit else why)
        started = visit is not None and visit.start_at <= clock.now()
        can_miss = visit is not None and visit.status == "scheduled" and started
        self.visit_buttons["no_show"].setEnabled(can_miss)
        self.visit_buttons["no_show"].setToolTip(
            "The patient did not come" if can_miss else
            "A visit that has not started yet cannot be a no-show." if open_visit else why)

    def visit_action(self, which: str) -> None:
        """Book a visit on the day shown, or move, cancel or mark a no-show the visit on
        the current row."""
        if not self.ctx.session.can("appointment.manage"):
            return
        if which == "new":
            from ui.desktop.patient_picker import PatientPicker
            self.picker = PatientPicker(self.ctx, "Book a visit: which patient?", self)
            self.picker.chosen.connect(self._book_for)
            self.picker.open()
            return
        visit = self.current_visit()
        if visit is None:
            self.ctx.bridge.warning("Select a visit first.")
            return
        session, appt_id = self.ctx.session, visit.appointment_id
        changes = Changes(patient_ids=frozenset({visit.patient_id}))
        if which == "reschedule":
            from app.domain import Appointment
            from ui.desktop.entry_forms import AppointmentForm
            appt = Appointment(appt_id, visit.patient_id, visit.start_at, visit.provider,
                               visit.visit_type)
            self.form = AppointmentForm(self.ctx, visit.patient_id, appt, self.model.zone,
                                        self)
            self.form.show()
            return
        fn = appointments.cancel_appointment if which == "cancel" else \
            appointments.mark_no_show
        self.ctx.operate(lambda: fn(session, appt_id), label="Updating the visit",
                         changed=lambda _a: changes)

    def _book_for(self, patient_id: int, name: str) -> None:
        from ui.desktop.entry_forms import AppointmentForm
        self.form = AppointmentForm(self.ctx, patient_id, None, self.model.zone, self)
        self.form.setWindowTitle(f"New visit: {name}")
        who = QLabel(f"<b>{escape(name)}</b>")
        who.setObjectName("visitPatient")
        self.form.form.insertRow(0, "Patient", who)  # whom the visit is for, in the form
        self.form.setMinimumWidth(420)
        day = self.shown_day or self.practice_today
        if day is not None:  # the day shown, at the first usual hour: the person edits it
            self.form.edits["start"].setText(f"{day.isoformat()} 09:00")
        self.form.saved.connect(lambda _a: self.refresh())  # maybe a patient not shown yet
        self.form.show()

    def on_changed(self, changes: Changes) -> None:
        shown = {r.patient_id for r in self.model._rows}
        if changes.everything or changes.patient_ids & shown or changes.kinds & {
                "eligibility_gap", "intake_review", "pa_followup", "pa_escalation"}:
            if self.isVisible():
                self.refresh()

    def clear_phi(self) -> None:
        for dialog in (self.form, self.picker):
            if dialog is not None:
                dialog.reject()
        self.form = self.picker = None
        self.model.clear()
        self.summary.clear()
