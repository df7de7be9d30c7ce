"""The charge review pane: the day's documented items and billed lines side by side with
the flagged ones highlighted, in the biller's queue (the demo's findings)."""

from __future__ import annotations

from typing import Any


def _task_id(session: Any, flag: str) -> int:
    return int(session.vault.query_one(
        "SELECT id FROM tasks WHERE kind = 'charge_review' AND natural_key LIKE ?",
        (f"%:{flag}:%",))[0])


def test_charge_pane_shows_both_sides(qtbot: Any, open_window: Any) -> None:
    window = open_window("billie")
    page = window.pages["queue"]
    task_id = _task_id(window.session, "unsupported")
    page.open_item(task_id)
    assert page.current_task_id() == task_id
    tab = page.detail.tabs.currentWidget()
    assert type(tab).__name__ == "ChargeReviewTab"
    assert tab.table.horizontalHeaderItem(0).text() == "Documented (chart)"
    assert "Billed without documentation (71046)" in tab.finding.text()
    assert [c.split()[0] for c in tab.flagged_cells()] == ["71046"]
    billed = [tab.table.item(r, 1).text() for r in range(tab.table.rowCount())
              if tab.table.item(r, 1) is not None]
    assert [b.split()[0] for b in billed] == ["99213", "93000", "71046"]
    documented = tab.table.item(0, 0).text()
    assert documented.startswith("encounter snomed 185349003")


def test_charge_pane_visit_with_nothing_billed(qtbot: Any, open_window: Any) -> None:
    window = open_window("billie")
    page = window.pages["queue"]
    page.open_item(_task_id(window.session, "no_charge"))
    tab = page.detail.tabs.currentWidget()
    assert type(tab).__name__ == "ChargeReviewTab"
    assert tab.table.item(0, 1).text() == "(nothing)"
    assert tab.flagged_cells() and "Visit with no charge" in tab.finding.text()
