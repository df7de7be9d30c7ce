"""The charge review pane: a tab in the task detail pane for `charge_review` tasks. The
day's documented items (chart) and billed lines (claims) side by side, the flagged ones
highlighted, so the biller sees both sides at once and approves in one click: each item
with its units, and above the table who documented and who rendered (the claim's
rendering provider with its NPI and the loop it was read from; a stand-in such as the
billing provider says so). When a side has more than one provider, each item names its
own (the detail pane is narrow: a provider column per side did not fit). Codes only (CPT descriptors are the AMA's); the rows come from the
task's payload (app.charges.rules.columns), so the pane reads nothing else. Tasks made
before units and providers were kept have (text, flagged) rows: those cells stay empty."""

from __future__ import annotations

from typing import Any

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

from app.charges.rules import FLAG_LABEL, sentence
from app.domain import Task
from ui.desktop.detail import TaskDetailPane

FLAGGED = QColor("#ffe9a8")
HEADERS = ["Documented (chart)", "Units", "Billed (claim lines)", "Units"]
CODE_COLUMNS = (0, 2)  # the item's own text; its units beside it


class ChargeReviewTab(QWidget):
    def __init__(self, pane: TaskDetailPane) -> None:
        super().__init__()
        self.pane = pane
        self.finding = QLabel()
        self.finding.setObjectName("chargeFinding")
        self.finding.setWordWrap(True)
        self.provider = QLabel()
        self.provider.setObjectName("chargeProvider")
        self.provider.setWordWrap(True)
        self.table = QTableWidget(0, len(HEADERS))
        self.table.setObjectName("chargeSideBySide")
        self.table.setHorizontalHeaderLabels(HEADERS)
        header = self.table.horizontalHeader()
        for column in range(len(HEADERS)):
            header.setSectionResizeMode(column, QHeaderView.ResizeMode.Stretch
                                        if column in CODE_COLUMNS
                                        else QHeaderView.ResizeMode.ResizeToContents)
        self.table.verticalHeader().setVisible(False)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.finding)
        layout.addWidget(self.provider)
        layout.addWidget(self.table, 1)

    @staticmethod
    def accepts(task: Task) -> bool:
        """Tasks made by the charge review workflow carry both columns."""
        return isinstance(task.payload, dict) and isinstance(task.payload.get("columns"),
                                                             dict)

    def show_task(self, task: Task) -> None:
        payload = task.payload
        flag = str(payload.get("flag", ""))
        self.finding.setText(f"{sentence(FLAG_LABEL.get(flag, flag))} "
                             f"({payload.get('code', '')}), date of service "
                             f"{payload.get('date_of_service', '')}: {payload.get('why', '')}")
        cols = payload["columns"]
        left = [list(i) for i in cols.get("documented", [])]
        right = [list(i) for i in cols.get("billed", [])]
        sides = [_providers(left), _providers(right)]
        lines = [f"{label}: {'; '.join(who) if who else 'not recorded'}"
                 for label, who in (("Documented by", sides[0]),
                                    ("Rendering provider", sides[1]))]
        known = any(len(i) > 3 for i in left + right)  # rows from before providers: none
        self.provider.setText("\n".join(lines) if known else "")
        self.provider.setVisible(known)
        self.table.clearContents()
        self.table.setRowCount(max(len(left), len(right), 1))
        for first, items, who in zip(CODE_COLUMNS, (left, right), sides):
            if not items:
                self.table.setItem(0, first, QTableWidgetItem("(nothing)"))
            for row, item in enumerate(items):
                self._row(row, first, item, several=len(who) > 1)
        self.table.resizeRowsToContents()

    def _row(self, row: int, first: int, item: list[Any], several: bool) -> None:
        """One side of a row: the item (with its provider when the side has several),
        its units."""
        text, marked = str(item[0]), bool(item[1])
        units = str(item[2]) if len(item) > 2 else ""
        who = str(item[3]) if len(item) > 3 else ""
        if units:  # the units have their own column
            text = text.replace(f" x{units}", "", 1)
        if several and who:
            text += f"\n{_short(who)}"
        for offset, value in enumerate((text, units)):
            cell = QTableWidgetItem(value)
            if offset == 0 and who:
                cell.setToolTip(who)
            if marked:
                cell.setBackground(FLAGGED)
                font = QFont(cell.font())
                font.setBold(True)
                cell.setFont(font)
            self.table.setItem(row, first + offset, cell)

    def side(self, column: int) -> list[str]:
        """One column's non-empty cell texts, top to bottom (tests)."""
        return [item.text() for row in range(self.table.rowCount())
                if (item := self.table.item(row, column)) is not None and item.text()]

    def flagged_cells(self) -> list[str]:
        """The highlighted items' text (tests)."""
        out = []
        for row in range(self.table.rowCount()):
            for column in CODE_COLUMNS:
                item = self.table.item(row, column)
                if item is not None and item.font().bold():
                    out.append(item.text())
        return out


def _short(who: str) -> str:
    """'NAME (NPI n) - billing provider (2010AA; ...)' -> 'NAME (NPI n), billing provider':
    the name, and a stand-in said on its face (a rendering provider needs no note)."""
    name, _sep, where = who.partition(" - ")
    if where and not where.startswith("rendering provider"):
        return f"{name}, {where.split(' (')[0]}"
    return name


def _providers(rows: list[list[Any]]) -> list[str]:
    """A side's providers, each once, in row order, as the label shows them: the name
    and where it was read ('CHEN, LI (NPI 1555000003) - rendering provider (837P 2310B)')."""
    return list(dict.fromkeys(str(r[3]) for r in rows if len(r) > 3 and r[3]))
