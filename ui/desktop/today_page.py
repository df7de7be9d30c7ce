"""Today: the front desk's home page. Today's and tomorrow's visits, one row each, with
what must be ready before the patient walks in; every cell opens the task or record
behind it (Enter or double-click). The rows come from app.services.today on the worker;
the model only adapts them."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QPersistentModelIndex, Qt
from PySide6.QtGui import QBrush, QColor, QKeyEvent
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QTableView,
    QVBoxLayout,
)

from app.queue.changes import Changes
from app.services import appointments, prior_auth, today
from app.today import Cell, VisitRow
from ui.desktop.pages import AppContext, Page

Index = QModelIndex | QPersistentModelIndex
TARGET_ROLE = Qt.ItemDataRole.UserRole + 10  # (page key, id) the cell opens, or None
STATE_ROLE = Qt.ItemDataRole.UserRole + 11
STATE_COLORS = {"ok": QColor("#e3f4e6"), "attention": QColor("#fff4d6"),
                "missing": QColor("#fde2e1")}


class TodayModel(QAbstractTableModel):
    """Rows of VisitRow; the first four columns open the patient's record."""

    COLUMNS = ("Time", "Patient", "Provider", "Visit type", "Eligibility", "PA", "Intake",
               "Est. patient owes")

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
        return visit.cells()[column - 4] if column >= 4 else None

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        visit = self.row_at(index.row())
        if visit is None:
            return None
        column = index.column()
        cell = self._cell(visit, column)
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
        top = QHBoxLayout()
        top.addWidget(self.summary, 1)
        self.visit_buttons: dict[str, QPushButton] = {}
        for key, text in (("reschedule", "Reschedule…"), ("cancel", "Cancel visit"),
                          ("no_show", "No-show")):
            button = QPushButton(text)
            button.setObjectName(f"visit_{key}")
            button.setVisible(ctx.session.can("appointment.manage"))
            button.clicked.connect(lambda _c=False, k=key: self.visit_action(k))
            top.addWidget(button)
            self.visit_buttons[key] = button
        self.form: Any = None
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.addLayout(top)
        layout.addWidget(self.table, 1)
        self.setFocusProxy(self.table)

    def refresh(self) -> None:
        session = self.ctx.session
        self.ctx.worker.run(lambda: (prior_auth.practice_zone(session),
                                     today.today_board(session)),
                            done=self.show_rows, label="Loading today's visits")

    def show_rows(self, result: tuple[Any, list[VisitRow]]) -> None:
        zone, rows = result
        self.model.zone = zone
        self.model.set_rows(rows)
        self.table.resizeColumnsToContents()
        not_ready = sum(1 for r in rows if any(c.state in ("attention", "missing")
                                                for c in r.cells()[:3]))
        self.summary.setText(f"{len(rows)} visits today and tomorrow; {not_ready} need "
                             "something before the patient arrives. Enter opens a cell.")
        if rows and not self.table.currentIndex().isValid():
            self.table.setCurrentIndex(self.model.index(0, 4))

    def open_cell(self, index: QModelIndex) -> None:
        target = index.data(TARGET_ROLE) if index.isValid() else None
        if target is not None:
            page, item = target
            self.ctx.navigate(page, item)

    def visit_action(self, which: str) -> None:
        """Move, cancel or mark a no-show the visit on the current row."""
        visit = self.model.row_at(self.table.currentIndex().row())
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

    def on_changed(self, changes: Changes) -> None:
        shown = {r.patient_id for r in self.model._rows}
        if changes.everything or changes.patient_ids & shown or changes.kinds & {
                "eligibility_gap", "intake_review", "pa_followup", "pa_escalation"}:
            if self.isVisible():
                self.refresh()

    def clear_phi(self) -> None:
        if self.form is not None:
            self.form.reject()
            self.form = None
        self.model.clear()
        self.summary.clear()
