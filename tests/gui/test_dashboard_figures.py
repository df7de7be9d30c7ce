"""The dashboard's practice figures: tiles for a chosen period against the one before it,
loaded on the worker and reloaded on the change signal; a tile or a chart bar opens the
claims, PAs or tasks behind it, and a row opens its task in the queue."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal as D
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel

from app.queue.changes import EVERYTHING
from app.x12.synth import SynthClaim, SynthLine, build_835
from automations.workflows import denials


def _denial(session: Any) -> None:
    paid = date.today() - timedelta(days=2)
    claims = [SynthClaim(n, status, "ZZYZXQUELL", "QUINTESSA", "ZQM4455667",
                         paid - timedelta(days=20),
                         [SynthLine("99214", D("200.00"), amount, adj)],
                         payer_claim_number=f"PCN{n}")
              for n, status, amount, adj in [
                  ("DASH1", "4", D("0.00"), [("CO", "16", D("200.00"))]),
                  ("DASH2", "1", D("160.00"), [("CO", "45", D("40.00"))])]]
    denials.import_835_file(session, build_835(claims, payer_name="Dash Health",
                                               payer_id="DASH", trace="DASH-T1", paid_on=paid))


def test_figures_reload_on_change_and_open_what_is_behind(qtbot: Any,
                                                          open_window: Any) -> None:
    window = open_window("olivia")
    window.show_page("dashboard")
    page = window.pages["dashboard"]
    tab = page.figures_tab
    assert tab is not None and page.tabs.tabText(0) == "Practice figures"
    assert "compared with" in tab.compared.text()
    assert set(tab.tiles) >= {"denial_rate", "pa_cycle", "tasks_done", "overdue"}
    _denial(window.ctx.session)
    window.ctx.changes.announce(EVERYTHING, None)  # the change signal reloads the figures
    rate = tab.tiles["denial_rate"]
    assert [lab.text() for lab in tab.tile_labels["denial_rate"][:2]] == ["Denial rate",
                                                                          "50%"]
    assert rate.accessibleName().startswith("Denial rate: 50%")
    qtbot.mouseClick(rate, Qt.MouseButton.LeftButton)
    dialog = tab.items_dialog
    assert dialog is not None and dialog.table.rowCount() == 1
    assert "DASH1" in dialog.table.item(0, 1).text()
    task_id = dialog.items[0]["task_id"]
    dialog.open_row(0)
    assert window.current_page() is window.pages["queue"]
    assert window.pages["queue"].current_task_id() == task_id


def test_period_choice_and_chart_bars(qtbot: Any, open_window: Any) -> None:
    window = open_window("olivia")
    _denial(window.ctx.session)
    window.show_page("dashboard")
    tab = window.pages["dashboard"].figures_tab
    tab.period.setCurrentIndex(tab.period.findData("7d"))
    assert tab.compared.text() == "Last 7 days compared with the 7 days before"
    chart = tab.charts[0].chart()
    assert chart.title() == "Denied dollars by category"
    current = chart.series()[0].barSets()[1]  # this period's bars
    current.clicked.emit(0)  # a click on this period's bar
    assert tab.items_dialog is not None and tab.items_dialog.table.rowCount() == 1
    tab.items_dialog.reject()


def test_a_figure_with_nothing_behind_it_says_so(qtbot: Any, open_window: Any) -> None:
    window = open_window("olivia")
    window.show_page("dashboard")
    tab = window.pages["dashboard"].figures_tab
    qtbot.mouseClick(tab.tiles["hours_saved"], Qt.MouseButton.LeftButton)
    assert tab.items_dialog is None
    assert window.bridge.texts("info")[-1].startswith("Staff hours saved: nothing to list")


def test_figures_are_the_owner_and_managers(qtbot: Any, open_window: Any) -> None:
    window = open_window("frida")
    window.show_page("dashboard")
    page = window.pages["dashboard"]
    assert page.figures_tab is None and page.tabs.count() == 1


def test_the_hours_saved_tile_says_where_the_hours_come_from(qtbot: Any,
                                                            open_window: Any) -> None:
    window = open_window("olivia")
    window.show_page("dashboard")
    tab = window.pages["dashboard"].figures_tab
    source = tab.tiles["hours_saved"].findChild(QLabel, "figureSource_hours_saved")
    assert source is not None
    qtbot.waitUntil(source.isVisible, timeout=1000)  # tiles are laid out as figures arrive
    assert source.text() == "from automated checks and drafts, not tasks done"
    assert tab.tiles["tasks_done"].findChild(QLabel, "figureSource_tasks_done") is None
