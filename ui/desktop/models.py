"""Thin Qt item models over plain service results (STYLE: thin Qt models). They hold
rows handed to them and never query the vault themselves (no vault work in data())."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Callable

from PySide6.QtCore import (
    QAbstractListModel,
    QAbstractTableModel,
    QModelIndex,
    QPersistentModelIndex,
    QSortFilterProxyModel,
    Qt,
)
from PySide6.QtGui import QBrush, QColor, QFont

from app import clock
from app.domain import Patient, Task, TaskState
from app.queue.kinds import KINDS

Index = QModelIndex | QPersistentModelIndex
SORT_ROLE = Qt.ItemDataRole.UserRole + 1
TASK_ID_ROLE = Qt.ItemDataRole.UserRole + 2

OVERDUE_BG = QColor("#fde2e1")
SHADOW_FG = QColor("#6b5b00")
PRIORITY_TEXT = {1: "High", 2: "Normal", 3: "Low"}
STATE_TEXT = {"shadow": "Shadow", "pending": "Pending", "failed": "Failed",
              "snoozed": "Snoozed", "approved": "Approved", "executing": "Running",
              "done": "Done", "rejected": "Rejected"}


def kind_label(name: str) -> str:
    spec = KINDS.get(name)
    return spec.label if spec else name


def local_time(dt: datetime | str | None) -> str:
    """A short local-time label for a stored UTC time (a datetime, or the ISO text a
    service hands back); the app never shows UTC."""
    if not dt:
        return ""
    if isinstance(dt, str):
        dt = clock.parse_iso(dt)
    return dt.astimezone().strftime("%b %d %H:%M")


class TaskTableModel(QAbstractTableModel):
    """A queue page: rows of Task (no evidence/history) plus patient display names."""

    COLUMNS = ("Pri", "Task", "Patient", "Kind", "State", "Due", "Assignee")

    def __init__(self, now: Callable[[], datetime] = clock.now, parent: Any = None) -> None:
        super().__init__(parent)
        self._tasks: list[Task] = []
        self._names: dict[int, str] = {}
        self._now = now

    # -- plain-Python side
    def set_rows(self, tasks: list[Task], names: dict[int, str] | None = None) -> None:
        self.beginResetModel()
        self._tasks = list(tasks)
        self._names = dict(names or {})
        self.endResetModel()

    def clear(self) -> None:
        self.set_rows([], {})

    def task_at(self, row: int) -> Task | None:
        return self._tasks[row] if 0 <= row < len(self._tasks) else None

    def row_of(self, task_id: int) -> int:
        for i, task in enumerate(self._tasks):
            if task.id == task_id:
                return i
        return -1

    @property
    def tasks(self) -> list[Task]:
        return list(self._tasks)

    # -- Qt side
    def rowCount(self, parent: Index = QModelIndex()) -> int:
        return 0 if parent.isValid() else len(self._tasks)

    def columnCount(self, parent: Index = QModelIndex()) -> int:
        return 0 if parent.isValid() else len(self.COLUMNS)

    def headerData(self, section: int, orientation: Qt.Orientation,
                   role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if (orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole
                and 0 <= section < len(self.COLUMNS)):
            return self.COLUMNS[section]
        return None

    def _cell(self, task: Task, column: int) -> tuple[str, Any]:
        """(display text, sort key) for one cell."""
        if column == 0:
            return PRIORITY_TEXT.get(task.priority, str(task.priority)), task.priority
        if column == 1:
            return task.title, task.title.lower()
        if column == 2:
            name = self._names.get(task.patient_id or -1, "")
            return name, name.lower()
        if column == 3:
            return kind_label(task.kind), kind_label(task.kind)
        if column == 4:
            return STATE_TEXT.get(task.state.value, task.state.value), task.state.value
        if column == 5:
            text = local_time(task.due_at)
            if task.is_overdue(self._now()):
                text = f"Late · {text}"
            return text, clock.iso(task.due_at) if task.due_at else "9999"
        return task.assignee or "", task.assignee or ""

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or not (0 <= index.row() < len(self._tasks)):
            return None
        task = self._tasks[index.row()]
        if role in (Qt.ItemDataRole.DisplayRole, Qt.ItemDataRole.ToolTipRole):
            return self._cell(task, index.column())[0]
        if role == SORT_ROLE:
            return self._cell(task, index.column())[1]
        if role == TASK_ID_ROLE:
            return task.id
        if role == Qt.ItemDataRole.BackgroundRole and task.is_overdue(self._now()):
            return QBrush(OVERDUE_BG)
        if role == Qt.ItemDataRole.ForegroundRole and task.state is TaskState.SHADOW:
            return QBrush(SHADOW_FG)
        if role == Qt.ItemDataRole.FontRole:
            if task.is_overdue(self._now()) or task.priority == 1:
                font = QFont()
                font.setBold(True)
                return font
            if task.state is TaskState.SHADOW:
                font = QFont()
                font.setItalic(True)
                return font
        return None


class TaskFilterProxy(QSortFilterProxyModel):
    """Sorts by raw values and filters on the text of every column."""

    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent)
        self.setSortRole(SORT_ROLE)
        self.setFilterKeyColumn(-1)
        self.setFilterCaseSensitivity(Qt.CaseSensitivity.CaseInsensitive)


class QueueListModel(QAbstractListModel):
    """The sidebar: 'All my work' then each kind the user works, with live counts."""

    KIND_ROLE = Qt.ItemDataRole.UserRole + 1

    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent)
        self._rows: list[tuple[str, str, int]] = []  # (kind or "", label, count)

    def set_counts(self, counts: dict[str, int]) -> None:
        rows = [("", "All my work", sum(counts.values()))]
        rows += [(k, kind_label(k), n) for k, n in counts.items()]
        if [r[:2] for r in rows] == [r[:2] for r in self._rows]:
            self._rows = rows  # same kinds: update counts in place, keep the selection
            if rows:
                self.dataChanged.emit(self.index(0), self.index(len(rows) - 1))
            return
        self.beginResetModel()
        self._rows = rows
        self.endResetModel()

    def kinds(self) -> list[str]:
        return [r[0] for r in self._rows if r[0]]

    def count_for(self, kind_name: str) -> int:
        for k, _label, n in self._rows:
            if k == kind_name:
                return n
        return 0

    def rowCount(self, parent: Index = QModelIndex()) -> int:
        return 0 if parent.isValid() else len(self._rows)

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or not (0 <= index.row() < len(self._rows)):
            return None
        kind_name, label, count = self._rows[index.row()]
        if role == Qt.ItemDataRole.DisplayRole:
            return f"{label}  ({count})"
        if role == Qt.ItemDataRole.ToolTipRole:
            return f"{count} open {label.lower()} tasks"
        if role == self.KIND_ROLE:
            return kind_name
        if role == Qt.ItemDataRole.FontRole and not kind_name:
            font = QFont()
            font.setBold(True)
            return font
        return None


class PatientListModel(QAbstractListModel):
    """Patient search results: 'Last, First (DOB)'."""

    ID_ROLE = Qt.ItemDataRole.UserRole + 1

    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent)
        self._patients: list[Patient] = []

    def set_patients(self, patients: list[Patient]) -> None:
        self.beginResetModel()
        self._patients = list(patients)
        self.endResetModel()

    def clear(self) -> None:
        self.set_patients([])

    def rowCount(self, parent: Index = QModelIndex()) -> int:
        return 0 if parent.isValid() else len(self._patients)

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or not (0 <= index.row() < len(self._patients)):
            return None
        patient = self._patients[index.row()]
        if role == Qt.ItemDataRole.DisplayRole:
            return f"{patient.display_name}  ({patient.dob.isoformat()})"
        if role == self.ID_ROLE:
            return patient.id
        return None
