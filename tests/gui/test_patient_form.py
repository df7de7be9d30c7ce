"""The patient form (issue 12): checks as the person types, warns about a look-alike, saves
a new patient with primary and secondary coverage in one operation, edits; roles that may
not create patients never see the button."""

from __future__ import annotations

from typing import Any

from app.services import patients


def _new_form(window: Any) -> Any:
    window.show_page("patients")
    page = window.pages["patients"]
    assert page.new_button.isVisible()
    page.new_button.click()
    return page.form


def test_new_patient_checked_as_typed_warned_and_saved(open_window: Any, qtbot: Any) -> None:
    window = open_window("frida")
    form = _new_form(window)
    assert not form.save_button.isEnabled()
    assert "first name: the first name is required" in form.problems.text()
    form.fields["first_name"].setText("Harriet")
    form.fields["last_name"].setText("Okonkwo-Test")
    form.fields["dob"].setText("1961-13-40")
    assert "date of birth as YYYY-MM-DD" in form.problems.text()
    assert "border" in form.fields["dob"].styleSheet()
    form.fields["dob"].setText("1961-03-14")
    form.fields["phone"].setText("555-0142")
    assert form.save_button.isEnabled() and form.problems.text() == ""
    payers = [form.primary.payer.itemText(i) for i in range(1, form.primary.payer.count())]
    assert len(payers) >= 2
    form.primary.payer.setCurrentText(payers[0])
    assert "primary member id: the member ID is required" in form.problems.text()
    form.primary.member_id.setText("HOK-99812")
    form.primary.group_number.setText("G-17")
    form.secondary.payer.setCurrentText(payers[1])
    form.secondary.member_id.setText("SEC-4410")
    form.secondary.relationship.setCurrentText("spouse")
    assert "name the subscriber" in form.problems.text()
    form.secondary.subscriber.setText("Obi Okonkwo-Test")
    form.secondary.subscriber_dob.setText("1959-02-30")
    assert "subscriber dob: YYYY-MM-DD" in form.problems.text()
    assert not form.save_button.isEnabled()
    form.secondary.subscriber_dob.setText("1959-02-28")
    assert form.save_button.isEnabled()
    form.save_button.click()
    page = window.pages["patients"]
    assert page.header.text() == "Okonkwo-Test, Harriet"
    saved = patients.list_patients(window.session, "Okonkwo-Test")[0]
    assert [(c.priority, c.payer_name, c.subscriber_relationship, str(c.subscriber_dob))
            for c in saved.coverages] == [(1, payers[0], "self", "None"),
                                          (2, payers[1], "spouse", "1959-02-28")]
    # shown again on edit, and a change saved
    page.edit_button.click()
    assert page.form.secondary.subscriber_dob.text() == "1959-02-28"
    assert "Obi Okonkwo-Test (spouse, born 1959-02-28)" in [
        page.coverage.item(r, 5).text() for r in range(page.coverage.rowCount())]


def test_look_alike_warning(open_window: Any, qtbot: Any) -> None:
    window = open_window("frida")
    existing = patients.list_patients(window.session)[0]
    form = _new_form(window)
    form.fields["first_name"].setText(existing.first_name)
    form.fields["last_name"].setText(existing.last_name)
    form.fields["dob"].setText("1900-01-01")
    qtbot.waitUntil(lambda: form.similar.text() != "", timeout=3000)
    assert f"patient {existing.id}: same name" in form.similar.text()
    assert form.save_button.isEnabled()  # a warning: a namesake may be someone else


def test_edit_patient_and_coverage(open_window: Any) -> None:
    window = open_window("frida")
    target = next(p for p in patients.list_patients(window.session) if p.coverages)
    window.show_page("patients")
    page = window.pages["patients"]
    page.open_item(target.id)
    assert page.edit_button.isVisible()
    page.edit_button.click()
    form = page.form
    assert form.fields["last_name"].text() == target.last_name
    assert form.primary.member_id.text() == target.coverages[0].member_id
    form.fields["phone"].setText("555-0177")
    form.primary.group_number.setText("NEWGRP")
    form.save_button.click()
    after = patients.get_patient(window.session, target.id)
    assert after.phone == "555-0177" and after.coverages[0].group_number == "NEWGRP"
    assert after.first_name == target.first_name


def test_biller_cannot_add_patients(open_window: Any) -> None:
    window = open_window("billie")
    window.show_page("patients")
    assert not window.pages["patients"].new_button.isVisible()


def test_time_zone_checked_as_typed_saved_and_shown_on_edit(open_window: Any) -> None:
    window = open_window("frida")
    form = _new_form(window)
    line = form.timezone.lineEdit()
    assert form.timezone.currentText() == ""  # the practice's zone
    assert line.placeholderText() == "the practice's: America/New_York"
    form.fields["first_name"].setText("Tomas")
    form.fields["last_name"].setText("Zonewell-Test")
    form.fields["dob"].setText("1970-05-06")
    assert form.save_button.isEnabled()
    form.timezone.setEditText("America/Chicgo")
    assert "time zone: a time zone name such as America/Chicago" in form.problems.text()
    assert not form.save_button.isEnabled() and "border" in form.timezone.styleSheet()
    form.timezone.setEditText("America/Denver")
    assert form.save_button.isEnabled() and form.problems.text() == ""
    form.save_button.click()
    saved = patients.list_patients(window.session, "Zonewell-Test")[0]
    assert saved.timezone == "America/Denver"
    # edit: the zone is shown; emptying it goes back to the practice's
    page = window.pages["patients"]
    page.open_item(saved.id)
    assert "America/Denver" in page.demographics.text()
    page.edit_button.click()
    assert page.form.timezone.currentText() == "America/Denver"
    page.form.timezone.setEditText("")
    assert page.form.to_save()[0] == {"timezone": ""}
    page.form.save_button.click()
    assert patients.get_patient(window.session, saved.id).timezone == ""
