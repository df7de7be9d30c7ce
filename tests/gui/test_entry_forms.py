"""Everyday data entry in the desktop (issue 12): payers with their recipe (a file picked
with the file dialog) and fees; a PA recorded, corrected and cancelled; a visit booked,
moved and cancelled from Today; a duplicate merged. Each form checks as the person types."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

from app import clock
from app.services import appointments, patients, prior_auth
from automations.portal import builtin_recipes_dir
from tests.gui.conftest import settings_tab


def test_payer_added_linked_to_a_recipe_file_and_given_a_fee(
        open_window: Any, bridge: Any, tmp_path: Path) -> None:
    window = open_window("manny")
    tab = settings_tab(window, "Payers")
    tab.new_payer()
    tab.name.setText("Prairie Mutual")
    tab.plan_type.setCurrentText("commercial")
    tab.numbers["decision_days_standard"].setText("fifteen")
    assert not tab.save_button.isEnabled() and "whole number" in tab.problems.text()
    tab.numbers["decision_days_standard"].setText("15")
    tab.name.setText(tab.payers[0].name)  # a payer of that name exists
    assert not tab.save_button.isEnabled()
    tab.name.setText("Prairie Mutual")
    tab.portal_url.setText("http://portal.prairie.example/")  # not on this machine
    assert not tab.save_button.isEnabled() and "must use https" in tab.problems.text()
    tab.portal_url.setText("https://portal.prairie.example/")
    tab.save_button.click()
    row = next(i for i, p in enumerate(tab.payers) if p.name == "Prairie Mutual")
    assert tab.payers[row].decision_days_standard == 15
    assert tab.payers[row].portal_url == "https://portal.prairie.example/"
    tab.table.setCurrentCell(row, 0)
    recipe = tmp_path / "prairie_portal.yaml"
    recipe.write_text((builtin_recipes_dir() / "northwind.yaml").read_text().replace(
        "name: northwind", "name: prairie_portal"))
    tab.choose_recipe_file = lambda: str(recipe)
    tab.recipe_file_button.click()
    payer = patients.find_payer(window.session, "Prairie Mutual")
    assert payer.portal_recipe == "prairie_portal" and not payer.portal_enabled
    assert any("uses recipe prairie_portal" in t for t in bridge.texts("info"))
    tab.table.setCurrentCell(row, 0)
    tab.fee_type.setCurrentText("office_visit")
    tab.fee_amount.setText("ninety")
    assert not tab.fee_button.isEnabled()
    tab.fee_amount.setText("$92.50")
    tab.fee_button.click()
    assert [(f.visit_type, str(f.allowed_amount)) for f in appointments.list_fees(
        window.session) if f.payer_name == "Prairie Mutual"] == [("office_visit", "92.50")]


def test_a_biller_saves_a_payer_whose_stored_portal_url_the_check_refuses(
        open_window: Any) -> None:
    """A portal URL migrated from before the check (plain http on the internet) is the
    owner's to fix: the biller cannot edit it, so it must not keep their change unsaved."""
    window = open_window("billie")
    payer = patients.list_payers(window.session)[0]
    with window.session.vault.write() as conn:
        conn.execute("UPDATE payers SET portal_url = 'http://portal.old.example/' "
                     "WHERE id = ?", (payer.id,))
    tab = settings_tab(window, "Payers")
    tab.reload()
    row = next(i for i, p in enumerate(tab.payers) if p.id == payer.id)
    tab.table.setCurrentCell(row, 0)
    assert not tab.portal_url.isEnabled()
    tab.numbers["appeal_window_days"].setText("45")
    assert tab.save_button.isEnabled(), tab.problems.text()
    tab.save_button.click()
    saved = patients.get_payer(window.session, payer.id)
    assert saved.appeal_window_days == 45
    assert saved.portal_url == "http://portal.old.example/"  # untouched: not theirs to set


def _open_patient_with_coverage(window: Any) -> Any:
    target = next(p for p in patients.list_patients(window.session)
                  if any(c.active for c in p.coverages))
    window.show_page("patients")
    page = window.pages["patients"]
    page.open_item(target.id)
    return page, target


def test_pa_recorded_corrected_and_cancelled(open_window: Any) -> None:
    window = open_window("frida")
    page, target = _open_patient_with_coverage(window)
    assert page.pa_button.isVisible() and not page.merge_button.isVisible()
    page.pa_button.click()
    form = page.form
    form.set_line(0, "code", "971")
    form.set_line(0, "units", "0")
    assert not form.save_button.isEnabled()
    assert "5-character" in form.problems.text()
    form.set_line(0, "code", "97110")
    form.set_line(0, "units", "12")
    start = (clock.now() + timedelta(days=20)).date()
    form.edits["service_date"].setText(start.isoformat())
    form.edits["payer_ref"].setText("REF-55")
    assert form.save_button.isEnabled()
    # a second line, checked as it is typed: its dates may not end before they start,
    # nor start before the PA's date of service
    form.add_line_button.click()
    assert not form.save_button.isEnabled()  # an empty line has no code yet
    form.set_line(1, "code", "97140")
    form.set_line(1, "units", "4")
    form.set_line(1, "modifier", "GP")
    form.set_line(1, "service_from", (start - timedelta(days=1)).isoformat())
    assert not form.save_button.isEnabled()
    assert "before the PA's date of service" in form.problems.text()
    assert form.lines.item(1, 3).toolTip() == "before the PA's date of service"
    form.set_line(1, "service_from", (start + timedelta(days=2)).isoformat())
    form.set_line(1, "service_to", (start + timedelta(days=1)).isoformat())
    assert "ends before it starts" in form.problems.text()
    form.set_line(1, "service_to", (start + timedelta(days=30)).isoformat())
    assert form.save_button.isEnabled() and form.problems.text() == ""
    form.save_button.click()
    pa = next(p for p in prior_auth.list_prior_auths(window.session)
              if p.patient_id == target.id and p.payer_ref == "REF-55")
    assert [(s.code, s.units, s.modifier, s.service_from, s.service_to)
            for s in pa.services] == [
        ("97110", 12, "", start, start),
        ("97140", 4, "GP", start + timedelta(days=2), start + timedelta(days=30))]

    window.show_page("pa_board")
    board = window.pages["pa_board"]
    board.selected_pa = pa.id
    board.edit_button.click()
    edit = board.form
    assert edit.edits["payer_ref"].text() == "REF-55" and not edit.payer.isEnabled()
    assert edit.lines.rowCount() == 2 and edit.lines.item(1, 2).text() == "GP"
    edit.lines.setCurrentCell(1, 0)
    edit.remove_line_button.click()
    edit.set_line(0, "units", "8")
    edit.save_button.click()
    saved = prior_auth.get_prior_auth(window.session, pa.id)
    assert [(s.code, s.units) for s in saved.services] == [("97110", 8)] and saved.units == 8
    board.selected_pa = pa.id
    board.edit_button.click()
    board.form.cancel_reason.setText("patient declined")
    board.form.cancel_button.click()
    assert prior_auth.get_prior_auth(window.session, pa.id).status.value == "cancelled"


def test_visit_booked_then_moved_and_cancelled_from_today(open_window: Any) -> None:
    window = open_window("frida")
    page, target = _open_patient_with_coverage(window)
    page.visit_button.click()
    form = page.form
    form.edits["start"].setText("tomorrow 9")
    assert not form.save_button.isEnabled()
    tz = prior_auth.practice_zone(window.session)
    tomorrow = (clock.now().astimezone(tz) + timedelta(days=1)).date()
    form.edits["start"].setText(f"{tomorrow} 16:40")
    form.edits["provider"].setText("Dr. Quill")
    form.visit_type.setCurrentText("office_visit")
    form.save_button.click()
    booked = next(a for a in appointments.list_appointments(window.session, tomorrow)
                  if a.patient_id == target.id and a.provider == "Dr. Quill")

    window.show_page("today")
    today_page = window.pages["today"]
    model = today_page.model
    row = next(r for r in range(model.rowCount())
               if model.row_at(r).appointment_id == booked.id)
    today_page.table.setCurrentIndex(model.index(row, 0))
    no_show = today_page.visit_buttons["no_show"]  # not started yet: not offered, said why
    assert not no_show.isEnabled() and "not started" in no_show.toolTip()
    today_page.visit_buttons["reschedule"].click()
    move = today_page.form
    assert move.edits["start"].text() == f"{tomorrow} 16:40"
    move.edits["start"].setText(f"{tomorrow} 17:10")
    move.save_button.click()
    moved = next(a for a in appointments.list_appointments(window.session, tomorrow)
                 if a.id == booked.id)
    assert moved.start_at.astimezone(tz).strftime("%H:%M") == "17:10"
    row = next(r for r in range(model.rowCount())
               if model.row_at(r).appointment_id == booked.id)
    today_page.table.setCurrentIndex(model.index(row, 0))
    today_page.visit_buttons["cancel"].click()
    assert all(model.row_at(r).appointment_id != booked.id for r in range(model.rowCount()))


def test_owner_merges_a_duplicate(open_window: Any) -> None:
    window = open_window("olivia")
    keep = patients.list_patients(window.session)[0]
    dup = patients.add_patient(window.session, keep.first_name, keep.last_name,
                               keep.dob.isoformat())
    window.show_page("patients")
    page = window.pages["patients"]
    page.open_item(keep.id)
    page.merge_button.click()
    dialog = page.form
    rows = [dialog.results.item(i) for i in range(dialog.results.count())]
    item = next(i for i in rows if f"patient {dup.id}" in i.text())
    dialog.results.setCurrentItem(item)
    assert dialog.merge_button.isEnabled()
    dialog.merge_button.click()
    assert dup.id not in [p.id for p in patients.list_patients(window.session)]
