"""The Today view (issue 12): a visit of each state, the model checked by qtmodeltester,
keyboard-first (arrows and Enter), each cell opening the task or record behind it."""

from __future__ import annotations

from datetime import timedelta
from typing import Any, Callable

from PySide6.QtCore import QDate, Qt
from PySide6.QtWidgets import QLabel

from app import clock
from app.services import appointments, patients, prior_auth
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
    assert model.rowCount() == 0 and model.columnCount() == 9


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


def _rows(page: Any) -> dict[int, int]:
    return {page.model.row_at(r).appointment_id: r for r in range(page.model.rowCount())}


def test_any_day_by_buttons_keys_and_picker_then_cancel_and_no_show(
        open_window: Any, login_as: Callable[[str], Any], qtbot: Any) -> None:
    """Visits on any date: previous/next, Alt+arrows, Alt+Home, the date picker; a visit
    far ahead is cancelled and one in the past marked a no-show, through the services
    (audited), and the buttons follow what the selected visit allows."""
    owner = login_as("olivia")
    zone = prior_auth.practice_zone(owner)
    day = clock.now().astimezone(zone).date()
    pid = patients.list_patients(owner, "Pemberton")[0].id
    later = day + timedelta(days=40)
    ahead = appointments.add_appointment(owner, pid, f"{later} 14:30", provider="Dr. Ames").id
    past = appointments.add_appointment(owner, pid, f"{day - timedelta(days=1)} 08:00").id
    window = open_window("frida")
    page = window.pages["today"]
    assert "today and tomorrow" in page.summary.text()
    assert not page.today_button.isEnabled()
    page.prev_button.click()
    assert page.shown_day == day - timedelta(days=1)
    assert "(yesterday)" in page.summary.text() and page.today_button.isEnabled()
    assert past in _rows(page)
    # keyboard: Alt+Right twice is tomorrow (one day only), Alt+Home back to today
    page.table.setFocus()
    qtbot.keyClick(page.table, Qt.Key.Key_Right, Qt.KeyboardModifier.AltModifier)
    qtbot.keyClick(page.table, Qt.Key.Key_Right, Qt.KeyboardModifier.AltModifier)
    assert page.shown_day == day + timedelta(days=1) and "(tomorrow)" in page.summary.text()
    qtbot.keyClick(page.table, Qt.Key.Key_Home, Qt.KeyboardModifier.AltModifier)
    assert page.shown_day == day and "today and tomorrow" in page.summary.text()
    qtbot.keyClick(page.table, Qt.Key.Key_D, Qt.KeyboardModifier.ControlModifier)
    assert page.date_edit.hasFocus()
    # the picker: 40 days ahead
    page.date_edit.setDate(QDate(later.year, later.month, later.day))
    assert page.shown_day == later and list(_rows(page)) == [ahead]
    assert page.model.index(0, 8).data() == "scheduled"
    assert page.visit_buttons["cancel"].isEnabled()
    assert not page.visit_buttons["no_show"].isEnabled()  # it has not started
    page.table.setCurrentIndex(page.model.index(0, 1))
    page.visit_buttons["cancel"].click()
    assert appointments._load(owner, ahead).status == "cancelled"
    assert _rows(page) == {}  # cancelled visits are left off the board
    # yesterday's visit: a no-show, shown as such, and it can no longer be marked again
    page.step(-41)
    assert page.shown_day == day - timedelta(days=1)
    page.table.setCurrentIndex(page.model.index(_rows(page)[past], 0))
    assert page.visit_buttons["no_show"].isEnabled()
    page.visit_buttons["no_show"].click()
    row = _rows(page)[past]
    assert page.current_visit().appointment_id == past  # the reload kept the place
    assert page.model.index(row, 8).data() == "no-show"
    assert "no-show" in page.summary.text()  # a past day tells how its visits ended
    assert page.model.index(row, 8).data(Qt.ItemDataRole.BackgroundRole) is not None
    page.table.setCurrentIndex(page.model.index(row, 0))
    assert not page.visit_buttons["no_show"].isEnabled()
    actions = {r[0] for r in owner.vault.query(
        "SELECT action FROM audit_log WHERE actor = 'frida' AND object_id IN (?, ?)",
        (str(ahead), str(past)))}
    assert {"appointment.cancel", "appointment.no_show"} <= actions


def test_book_and_move_a_visit_on_another_day(open_window: Any, qtbot: Any) -> None:
    window = open_window("frida")
    page = window.pages["today"]
    zone = prior_auth.practice_zone(window.session)
    target = clock.now().astimezone(zone).date() + timedelta(days=9)
    page.go_to(target)
    before = set(_rows(page))
    page.table.setFocus()
    qtbot.keyClick(page.table, Qt.Key.Key_N, Qt.KeyboardModifier.ControlModifier)
    picker = page.picker
    assert picker is not None and picker.isVisible()
    qtbot.keyClicks(picker.search, "Pemberton")
    qtbot.waitUntil(lambda: picker.results.count() == 1, timeout=2000)
    qtbot.keyClick(picker.search, Qt.Key.Key_Return)
    form = page.form
    assert form is not None and form.edits["start"].text() == f"{target} 09:00"
    assert "Pemberton, Casey" in form.findChild(QLabel, "visitPatient").text()
    form.edits["start"].setText(f"{target} 25:00")  # checked as typed
    assert not form.save_button.isEnabled() and "YYYY-MM-DD HH:MM" in form.problems.text()
    form.edits["start"].setText(f"{target} 10:15")
    form.edits["provider"].setText("Dr. Bell")
    qtbot.waitUntil(form.save_button.isEnabled, timeout=2000)
    form.save_button.click()
    booked = set(_rows(page)) - before
    assert len(booked) == 1
    (appt_id,) = booked
    assert page.model.index(_rows(page)[appt_id], 0).data().endswith("10:15")
    # move it to the next day: gone from this day, there on the next
    page.table.setCurrentIndex(page.model.index(_rows(page)[appt_id], 1))
    page.visit_buttons["reschedule"].click()
    page.form.edits["start"].setText(f"{target + timedelta(days=1)} 11:45")
    page.form.save_button.click()
    assert appt_id not in _rows(page)
    page.next_button.click()
    assert appt_id in _rows(page)


def test_the_last_day_the_navigator_offers_has_a_next_day(open_window: Any, bridge: Any
                                                          ) -> None:
    """Qt's date edit went to 9999-12-31, whose board (it ends the day after) overflowed
    on the worker, and Next from it on the GUI thread."""
    page = open_window("frida").pages["today"]
    page.date_edit.setDate(QDate(9999, 12, 31))
    last = page.shown_day
    assert last is not None and last.year < 9999
    page.next_button.click()
    assert page.shown_day == last and not bridge.crashes
