"""The Qt binding keeps Python's reference counts: PySide6 6.12.0 under Python 3.11 dropped
a reference to None on every void-returning call (and the app, or the test process,
aborted in none_dealloc/bool_dealloc once None's count ran out, usually at exit). Any
upgrade of the binding must pass this before it lands."""

from __future__ import annotations

import sys
from typing import Any, Callable

import pytest
from PySide6.QtGui import QBrush, QColor, QStandardItem
from PySide6.QtWidgets import QLabel, QPushButton, QTableWidget, QTableWidgetItem

CALLS = 2000


def _drift(fn: Callable[[], Any]) -> tuple[int, int, int]:
    fn()
    before = (sys.getrefcount(None), sys.getrefcount(True), sys.getrefcount(False))
    for _ in range(CALLS):
        fn()
    after = (sys.getrefcount(None), sys.getrefcount(True), sys.getrefcount(False))
    return (after[0] - before[0], after[1] - before[1], after[2] - before[2])


@pytest.fixture
def widgets(qtbot: Any) -> dict[str, Any]:
    label, button, table = QLabel(), QPushButton("x"), QTableWidget(1, 1)
    for widget in (label, button, table):
        qtbot.addWidget(widget)
    item = QTableWidgetItem("a")
    table.setItem(0, 0, item)
    return {"label": label, "button": button, "table": table, "item": item,
            "standard": QStandardItem("s")}


@pytest.mark.parametrize("call", [
    "label.setText", "button.setVisible", "button.setEnabled", "item.setText",
    "item.setForeground", "standard.setText", "table.setRowCount", "button.isVisible"])
def test_no_reference_is_lost_per_call(widgets: dict[str, Any], call: str) -> None:
    calls: dict[str, Callable[[], Any]] = {
        "label.setText": lambda: widgets["label"].setText("b"),
        "button.setVisible": lambda: widgets["button"].setVisible(False),
        "button.setEnabled": lambda: widgets["button"].setEnabled(True),
        "item.setText": lambda: widgets["item"].setText("c"),
        "item.setForeground": lambda: widgets["item"].setForeground(QBrush(QColor("#123"))),
        "standard.setText": lambda: widgets["standard"].setText("t"),
        "table.setRowCount": lambda: widgets["table"].setRowCount(1),
        "button.isVisible": lambda: widgets["button"].isVisible(),
    }
    none, true, false = _drift(calls[call])
    # a few references may come and go with caches; a leak shows as about -CALLS
    assert abs(none) < CALLS // 10 and abs(true) < CALLS // 10 and abs(false) < CALLS // 10
