"""The charge review pane: a tab in the task detail pane for `charge_review` tasks. The
day's documented items (chart) and billed lines (claims) side by side, the flagged ones
highlighted, so the biller sees both sides at once and approves in one click. Codes only
(CPT descriptors are the AMA's); the rows come from the task's payload
(app.charges.rules.columns), so the pane reads nothing else."""

from __future__ import annotations

from PySide6.QtGui import QColor, QFont
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHeaderView,
    QLabel,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from app.charges.rules import FLAG_LABEL
from app.domain import Task
from ui.desktop.detail import TaskDetailPane

FLAGGED = QColor("#ffe9a8")


class ChargeReviewTab(QWidget):
    def __init__(self, pane: TaskDetailPane) -> None:
        super().__init__()
        self.pane = pane
        self.finding = QLabel()
        self.finding.setObjectName("chargeFinding")
        self.finding.setWordWrap(True)
        self.table = QTableWidget(0, 2)
        self.table.setObjectName("chargeSideBySide")
        self.table.setHorizontalHeaderLabels(["Documented (chart)", "Billed (claim lines)"])
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self.table.verticalHeader().setVisible(False)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.finding)
        layout.addWidget(self.table, 1)

    @staticmethod
    def accepts(task: Task) -> bool:
        """Tasks made by the charge review workflow carry both columns."""
        return isinstance(task.payload, dict) and isinstance(task.payload.get("columns"),
                                                             dict)

    def show_task(self, task: Task) -> None:
        payload = task.payload
        flag = str(payload.get("flag", ""))
        self.finding.setText(f"{FLAG_LABEL.get(flag, flag).capitalize()} "
                             f"({payload.get('code', '')}), date of service "
                             f"{payload.get('date_of_service', '')}: {payload.get('why', '')}")
        cols = payload["columns"]
        left, right = list(cols.get("documented", [])), list(cols.get("billed", []))
        self.table.setRowCount(max(len(left), len(right), 1))
        for column, items in enumerate((left, right)):
            if not items:
                self.table.setItem(0, column, QTableWidgetItem("(nothing)"))
            for row, (text, marked) in enumerate(items):
                cell = QTableWidgetItem(str(text))
                if marked:
                    cell.setBackground(FLAGGED)
                    font = QFont(cell.font())
                    font.setBold(True)
                    cell.setFont(font)
                    cell.setToolTip("the finding is about this item")
                self.table.setItem(row, column, cell)
        self.table.resizeRowsToContents()

    def flagged_cells(self) -> list[str]:
        """The highlighted cells' text (tests)."""
        out = []
        for row in range(self.table.rowCount()):
            for column in range(2):
                item = self.table.item(row, column)
                if item is not None and item.font().bold():
                    out.append(item.text())
        return out
