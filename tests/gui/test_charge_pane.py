"""The charge review pane: the day's documented items and billed lines side by side with
the flagged ones highlighted, each with its units and provider, in the biller's queue
(the demo's findings)."""

from __future__ import annotations

from typing import Any


def _task_id(session: Any, flag: str) -> int:
    return int(session.vault.query_one(
        "SELECT id FROM tasks WHERE kind = 'charge_review' AND natural_key LIKE ?",
        (f"%:{flag}:%",))[0])


def _open(open_window: Any, flag: str) -> Any:
    """The biller's window on the demo's `flag` finding: its charge review tab."""
    window = open_window("billie")
    page = window.pages["queue"]
    task_id = _task_id(window.session, flag)
    page.open_item(task_id)
    assert page.current_task_id() == task_id
    tab = page.detail.tabs.currentWidget()
    assert type(tab).__name__ == "ChargeReviewTab"
    return tab


def test_charge_pane_shows_both_sides(qtbot: Any, open_window: Any) -> None:
    tab = _open(open_window, "unsupported")
    assert tab.table.horizontalHeaderItem(0).text() == "Documented (chart)"
    assert "Billed without documentation (71046)" in tab.finding.text()
    assert [c.split()[0] for c in tab.flagged_cells()] == ["71046"]
    assert [b.split()[0] for b in tab.side(2)] == ["99213", "93000", "71046"]
    documented = tab.table.item(0, 0).text()
    assert documented.startswith("encounter snomed 185349003")


def test_charge_pane_visit_with_nothing_billed(qtbot: Any, open_window: Any) -> None:
    tab = _open(open_window, "no_charge")
    assert tab.table.item(0, 2).text() == "(nothing)"
    assert tab.flagged_cells() and "Visit with no charge" in tab.finding.text()


def test_charge_pane_shows_units_and_providers_on_both_sides(qtbot: Any,
                                                             open_window: Any) -> None:
    tab = _open(open_window, "units")
    assert [tab.table.horizontalHeaderItem(c).text() for c in range(4)] == [
        "Documented (chart)", "Units", "Billed (claim lines)", "Units"]
    assert [c.split()[0] for c in tab.flagged_cells()] == ["procedure", "96372"]
    row = next(r for r in range(tab.table.rowCount())
               if tab.table.item(r, 0).text() == "procedure cpt 96372")
    assert tab.table.item(row, 1).text() == "2"  # the chart states two
    billed = next(r for r in range(tab.table.rowCount())
                  if tab.table.item(r, 2).text().startswith("96372"))
    assert tab.table.item(billed, 3).text() == "1"
    assert tab.table.item(billed, 2).toolTip() == ("CHEN, LI (NPI 1555000003) - rendering "
                                                   "provider (837P 2310B)")
    assert tab.provider.text() == (
        "Documented by: CHEN, LI (NPI 1555000003)\n"
        "Rendering provider: CHEN, LI (NPI 1555000003) - rendering provider (837P 2310B)")


def test_charge_pane_em_outlier_names_the_rendering_provider(qtbot: Any,
                                                             open_window: Any) -> None:
    tab = _open(open_window, "em_outlier")
    assert "RIVERA, ELENA (NPI 1987654328)" in tab.finding.text()
    assert tab.finding.text().startswith("E/M level outlier (99215)")
    assert "Rendering provider: RIVERA, ELENA (NPI 1987654328)" in tab.provider.text()
