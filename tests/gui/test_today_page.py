"""The Today view (issue 12): a visit of each state, the model checked by qtmodeltester,
keyboard-first (arrows and Enter), each cell opening the task or record behind it."""

from __future__ import annotations

from typing import Any, Callable

from PySide6.QtCore import Qt

from app import clock
from app.services import patients, prior_auth
from tests.unit.today_visits import make_visits
from ui.desktop.today_page import TARGET_ROLE, TodayModel


def _setup(login_as: Callable[[str], Any]) -> Any:
    owner = login_as("olivia")
    day = clock.now().astimezone(prior_auth.practice_zone(owner)).date()
    payer = patients.list_payers(owner)[0].name
    return make_visits(owner, payer, day)


def test_today_shows_each_state_and_opens_what_is_behind_a_cell(
        open_window: Any, login_as: Callable[[str], Any], qtbot: Any,
        qtmodeltester: Any) -> None:
    v = _setup(login_as)
    window = open_window("frida")
    window.show_page("today")
    page = window.pages["today"]
    model = page.model
    qtmodeltester.check(model)
    rows = {model.row_at(r).appointment_id: r for r in range(model.rowCount())}
    assert {v.ready, v.waiting, v.unchecked, v.plain} <= set(rows)

    def labels(appt: int) -> list[str]:
        return [model.index(rows[appt], c).data() for c in range(4, 8)]

    assert labels(v.ready)[:3] == ["active", "approved", "reviewed"]
    assert labels(v.waiting)[:3] == ["gap", "pending", "received"]
    assert labels(v.unchecked)[:3] == ["not checked", "missing", "missing"]
    assert labels(v.plain)[1] == "none needed"
    assert model.index(rows[v.ready], 7).data().startswith("$")
    assert model.index(rows[v.ready], 1).data() == "Readyford, Ada"
    assert model.index(rows[v.waiting], 4).data(Qt.ItemDataRole.BackgroundRole) is not None

    # keyboard: move to the waiting visit's PA cell, Enter opens its task in the queue
    table = page.table
    table.setFocus()
    table.setCurrentIndex(model.index(rows[v.waiting], 5))
    assert model.index(rows[v.waiting], 5).data(TARGET_ROLE) == ("queue", v.pa_task)
    qtbot.keyClick(table, Qt.Key.Key_Return)
    assert window.current_page() is window.pages["queue"]
    # the patient cell opens the record
    window.show_page("today")
    table.setCurrentIndex(model.index(rows[v.ready], 1))
    qtbot.keyClick(table, Qt.Key.Key_Enter)
    assert window.current_page() is window.pages["patients"]
    assert window.pages["patients"].header.text() == "Readyford, Ada"


def test_today_model_empty_and_filled(qtmodeltester: Any) -> None:
    model = TodayModel()
    qtmodeltester.check(model)
    assert model.rowCount() == 0 and model.columnCount() == 8


def test_the_front_desk_starts_on_today_the_others_on_the_queue(open_window: Any) -> None:
    frida = open_window("frida")
    assert frida.current_page() is frida.pages["today"]
    assert frida.page_actions["today"].isChecked()
    manny = open_window("manny")
    assert manny.current_page() is manny.pages["queue"]


def test_start_page_follows_the_first_role_in_the_declared_order() -> None:
    from app.identity import Role
    from ui.desktop.pages import start_page
    keys = ["queue", "today", "patients"]
    assert start_page({Role.FRONT_DESK}, keys) == "today"
    assert start_page({Role.OWNER, Role.FRONT_DESK}, keys) == "queue"
    assert start_page({Role.FRONT_DESK}, ["queue"]) == "queue"  # Today not allowed
    assert start_page({Role.BILLER}, []) is None
