"""Everyday data entry (issue 12): coverage with subscriber and dates, edit, look-alike
warnings, merge; payer set with a recipe by name or file; PA edit and cancel;
appointments; the fee schedule in estimates; an approved intake form's insurance."""

from __future__ import annotations

import io
import json
from datetime import datetime, timezone
from decimal import Decimal
from pathlib import Path

import pytest

from app import clock
from app.errors import PermissionDenied, ValidationError
from app.identity import Session
from app.identity.permissions import Role
from app.services import appointments, eligibility, patients, prior_auth
from automations.portal import builtin_recipes_dir
from tests.unit.test_pa_cli import cli, run  # noqa: F401  (the same CLI fixture)



def _front_desk(practice: Session) -> Session:
    return Session(practice.vault, "desk", frozenset({Role.FRONT_DESK}))


def _audit(practice: Session, action: str) -> list[str]:
    return [r[0] for r in practice.vault.query(
        "SELECT details FROM audit_log WHERE action = ? ORDER BY id", (action,))]


def test_coverage_primary_and_secondary_with_subscriber(practice: Session) -> None:
    pid = patients.list_patients(practice)[0].id
    second = patients.add_coverage(practice, pid, "Summit MA", "SM-1", "GRP9", priority=2,
                                   subscriber_name="Rex Zzyzxquell",
                                   subscriber_relationship="spouse",
                                   effective_date="2026-01-01", termination_date="2026-12-31")
    record = patients.get_patient(practice, pid)
    assert [(c.priority, c.payer_name) for c in record.coverages] == [
        (1, "Acme Health"), (2, "Summit MA")]
    assert second.subscriber_relationship == "spouse" and second.group_number == "GRP9"
    with pytest.raises(ValidationError, match="name the subscriber"):
        patients.add_coverage(practice, pid, "Summit MA", "X", subscriber_relationship="child")
    with pytest.raises(ValidationError, match="ends before it starts"):
        patients.update_coverage(practice, second.id, termination_date="2025-01-01")
    edited = patients.update_coverage(practice, second.id, member_id="SM-2", active=False)
    assert edited.member_id == "SM-2" and not edited.active
    # the audit keeps digests, never the member ID
    assert all("SM-2" not in d for d in _audit(practice, "coverage.update"))
    listed = patients.patient_to_json(patients.list_patients(practice)[0])
    assert listed["coverages"][1]["relationship"] == "spouse"


def test_similar_patients_and_merge(practice: Session) -> None:
    first = patients.list_patients(practice)[0]
    assert [why for _p, why in patients.similar_patients(
        practice, "Quintessa", "Zzyzxquell", "1990-01-01")] == ["same name"]
    assert [why for _p, why in patients.similar_patients(
        practice, "Quinn", "ZZYZXQUELL", "1975-12-04")] == [
        "same last name, close date of birth"]
    assert [why for _p, why in patients.similar_patients(
        practice, "Other", "Person", "", "zqm-4455667")] == ["same member ID"]
    assert patients.similar_patients(practice, "Other", "Person", "1975-04-12") == []
    dup = patients.add_patient(practice, "Quintesa", "Zzyzxquell", "1975-04-13",
                               member_id="ZQM4455667", payer="Acme Health")
    patients.add_coverage(practice, dup.id, "Summit MA", "SM-5")
    appt = appointments.add_appointment(practice, dup.id, "2027-01-04 09:00")
    desk = _front_desk(practice)
    with pytest.raises(PermissionDenied):
        patients.merge_patients(desk, first.id, dup.id)
    moved = patients.merge_patients(practice, first.id, dup.id)
    assert moved["appointments"] == 1 and moved["coverages"] == 1
    kept = patients.get_patient(practice, first.id)
    # the duplicate's identical coverage was dropped, the other one moved
    assert sorted(c.payer_name for c in kept.coverages) == ["Acme Health", "Summit MA"]
    assert appointments.list_appointments(
        practice, datetime(2027, 1, 4).date())[0].patient_id == first.id == kept.id
    assert [p.id for p in patients.list_patients(practice)] == [first.id]
    assert appt.id
    with pytest.raises(ValidationError, match="already merged"):
        patients.merge_patients(practice, first.id, dup.id)
    assert json.loads(_audit(practice, "patient.merge")[0])["duplicate"] == dup.id


def test_appointments_add_reschedule_cancel_no_show(practice: Session) -> None:
    pid = patients.list_patients(practice)[0].id
    clock.set_clock(lambda: datetime(2027, 1, 4, 20, 0, tzinfo=timezone.utc))
    a = appointments.add_appointment(practice, pid, "2027-01-04 09:00", provider="Dr. Lee",
                                     visit_type="new_patient")
    assert a.start_at == datetime(2027, 1, 4, 14, 0, tzinfo=timezone.utc)  # EST
    moved = appointments.reschedule_appointment(practice, a.id, "2027-01-05 10:30")
    assert moved.start_at.hour == 15 and moved.provider == "Dr. Lee"
    with pytest.raises(ValidationError, match="not started"):
        appointments.mark_no_show(practice, a.id)
    b = appointments.add_appointment(practice, pid, "2027-01-04 08:00")
    assert appointments.mark_no_show(practice, b.id).status == "no_show"
    assert appointments.cancel_appointment(practice, a.id).status == "cancelled"
    with pytest.raises(ValidationError, match="already cancelled"):
        appointments.cancel_appointment(practice, a.id)
    with pytest.raises(ValidationError, match="YYYY-MM-DD HH:MM"):
        appointments.add_appointment(practice, pid, "tomorrow")
    with pytest.raises(ValidationError, match="visit type"):
        appointments.add_appointment(practice, pid, "2027-01-06 08:00", visit_type="x y")
    day = appointments.list_appointments(practice, datetime(2027, 1, 4).date(), 2,
                                         include_cancelled=True)
    assert [x.status for x in day] == ["no_show", "cancelled"]
    actions = {r[0] for r in practice.vault.query(
        "SELECT action FROM audit_log WHERE object_type = 'appointment'")}
    assert {"appointment.create", "appointment.reschedule", "appointment.cancel",
            "appointment.no_show"} <= actions


def test_fee_schedule_feeds_the_estimate(practice: Session) -> None:
    pid = patients.list_patients(practice)[0].id
    before = eligibility.estimate_for_visit(practice, pid, "office_visit")
    assert before.inputs["expected allowed amount"] == "$110.00"
    fee = appointments.set_fee(practice, "Acme Health", "office_visit", "$92.5")
    assert fee.allowed_amount == Decimal("92.50")
    after = eligibility.estimate_for_visit(practice, pid, "office_visit")
    assert after.inputs["expected allowed amount"] == "$92.50"
    assert [(f.payer_name, f.visit_type) for f in appointments.list_fees(practice)] == [
        ("Acme Health", "office_visit")]
    with pytest.raises(ValidationError, match="number of dollars"):
        appointments.set_fee(practice, "Acme Health", "office_visit", "ninety")
    appointments.set_fee(practice, "Acme Health", "office_visit", "none")
    assert appointments.list_fees(practice) == []


def test_pa_edit_and_cancel(practice: Session) -> None:
    pid = patients.list_patients(practice)[0].id
    pa = prior_auth.add_prior_auth(practice, patient_id=pid, payer="Acme Health",
                                   cpt_code="97110", units=6, service_date="2027-02-01")
    edited = prior_auth.update_prior_auth(practice, pa.id, cpt_code="97112", units=8,
                                          payer_ref="AC-9")
    assert (edited.cpt_code, edited.units, edited.payer_ref) == ("97112", 8, "AC-9")
    assert edited.decision_due_at == pa.decision_due_at  # the clock runs from submission
    with pytest.raises(ValidationError, match="units"):
        prior_auth.update_prior_auth(practice, pa.id, units=0)
    cancelled = prior_auth.cancel_prior_auth(practice, pa.id, "patient declined")
    assert cancelled.status.value == "cancelled"
    assert pa.id not in prior_auth.open_pa_ids(practice)
    with pytest.raises(ValidationError, match="already cancelled"):
        prior_auth.cancel_prior_auth(practice, pa.id)
    with pytest.raises(ValidationError, match="no longer be edited"):
        prior_auth.update_prior_auth(practice, pa.id, units=3)


def test_form_insurance_updates_and_replaces_coverage(practice: Session) -> None:
    pid = patients.list_patients(practice)[0].id
    note = patients.apply_form_insurance(practice, pid, "ACME health PPO", "ZQM-NEW-1", "G-7")
    assert note.startswith("coverage ") and "group_number, member_id" in note
    cov = patients.get_patient(practice, pid).coverages
    assert (cov[0].member_id, cov[0].group_number) == ("ZQM-NEW-1", "G-7")
    note = patients.apply_form_insurance(practice, pid, "Summit MA", "SM-77")
    assert note.startswith("new primary coverage")
    active = [c for c in patients.get_patient(practice, pid).coverages if c.active]
    assert [(c.payer_name, c.member_id) for c in active] == [("Summit MA", "SM-77")]
    assert "no payer" in patients.apply_form_insurance(practice, pid, "Nowhere Mutual", "Q1")
    assert patients.apply_form_insurance(practice, pid, "", "") == ""


# -- the CLI ---------------------------------------------------------------------------------

def test_cli_patient_coverage_merge_and_warning(cli: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "patient", "add", "--first", "Quintessa", "--last",
                         "Zzyzxquell", "--dob", "1975-04-12", "--json")
    assert code == 0 and "warning: looks like patient 1 (same name)" in err
    new = json.loads(out)
    assert new["similar"] == [{"id": 1, "reason": "same name"}]
    code, out, err = run(capsys, "patient", "coverage", "add", str(new["id"]), "--payer",
                         "Summit MA", "--member-id", "SM-3", "--priority", "2",
                         "--subscriber", "Rex Z", "--relationship", "spouse", "--json")
    assert code == 0, err
    cov_id = json.loads(out)["id"]
    code, out, err = run(capsys, "patient", "coverage", "edit", str(cov_id), "--group", "G1",
                         "--to", "2027-06-30")
    assert code == 0 and "updated" in out, err
    assert run(capsys, "patient", "edit", str(new["id"]), "--phone", "555-0199")[0] == 0
    code, out, err = run(capsys, "patient", "merge", "1", str(new["id"]))
    assert code == 0 and "merged into 1" in out, err
    code, out, _ = run(capsys, "patient", "show", "1", "--json")
    shown = json.loads(out)
    assert {c["payer"] for c in shown["coverages"]} == {"Acme Health", "Summit MA"}
    assert run(capsys, "patient", "edit", "1")[0] == 2  # nothing to change: usage


def test_cli_payer_set_recipe_by_name_and_file(cli: Path, tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "payer", "set", "Acme Health", "--decision-days", "10",
                         "--recipe", "northwind", "--json")
    assert code == 0, err
    assert json.loads(out)["portal_recipe"] == "northwind"
    assert json.loads(out)["portal_enabled"] is False  # off until tested and switched on
    # a recipe file of the practice's own: installed into the practice's recipes folder
    own = tmp_path / "acme_portal.yaml"
    own.write_text((builtin_recipes_dir() / "northwind.yaml").read_text().replace(
        "name: northwind", "name: acme_portal"))
    code, out, err = run(capsys, "payer", "set", "Acme Health", "--recipe", str(own), "--on")
    assert code == 0, err
    assert "recipe acme_portal" in out and "checks on" in out
    assert (cli / "recipes" / "acme_portal.yaml").exists()
    code, out, _ = run(capsys, "recipe", "list", "--recipes", str(cli / "recipes"))
    assert "acme_portal" in out
    bad = tmp_path / "broken.yaml"
    bad.write_text("name: [")
    code, _, err = run(capsys, "payer", "set", "Acme Health", "--recipe", str(bad))
    assert code == 1 and "broken.yaml" in err
    # `portal recipe` is the same operation
    code, out, err = run(capsys, "portal", "recipe", "Summit MA", str(own))
    assert code == 0 and "acme_portal" in out, err


def test_cli_pa_appointments_fees(cli: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(capsys, "pa", "add", "--patient", "1", "--payer", "Acme Health", "--cpt",
               "97110", "--units", "4", "--service-date", "2027-01-20")[0] == 0
    code, out, err = run(capsys, "pa", "edit", "1", "--units", "6", "--json")
    assert code == 0 and json.loads(out)["units"] == 6, err
    code, out, err = run(capsys, "pa", "cancel", "1", "--reason", "not needed")
    assert code == 0 and "cancelled" in out, err
    code, out, err = run(capsys, "appointment", "add", "--patient", "1", "--at",
                         "2031-03-03 09:15", "--provider", "Dr. Lee", "--json")
    assert code == 0, err
    appt = json.loads(out)
    assert appt["start"].startswith("2031-03-03T09:15")
    assert run(capsys, "appointment", "reschedule", str(appt["id"]), "--at",
               "2031-03-04 11:00")[0] == 0
    code, out, _ = run(capsys, "appointment", "list", "--date", "2031-03-04")
    assert "11:00" in out and "Dr. Lee" in out
    code, _, err = run(capsys, "appointment", "no-show", str(appt["id"]))
    assert code == 1 and "not started" in err
    assert run(capsys, "appointment", "cancel", str(appt["id"]))[0] == 0
    code, out, err = run(capsys, "fee", "set", "Acme Health", "office_visit", "88")
    assert code == 0 and "$88.00" in out, err
    code, out, _ = run(capsys, "fee", "list", "--json")
    assert json.loads(out) == [{"payer": "Acme Health", "visit_type": "office_visit",
                                "allowed": "88.00"}]


def test_an_approved_intake_form_updates_the_coverage(
        cli: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    form = tmp_path / "intake.txt"
    form.write_text("Patient name: Quintessa Zzyzxquell\nDate of birth: 04/12/1975\n"
                    "Insurance: Acme Health PPO\nMember ID: ZQM-NEW-77\nGroup number: G-88\n")
    assert run(capsys, "mode", "set", "intake_review", "approve_each")[0] == 0
    code, out, err = run(capsys, "intake", "import", str(form), "--patient", "1",
                         "--no-model")
    assert code == 0, err
    code, out, err = run(capsys, "tasks", "approve", out.strip())
    assert code == 0, err
    code, out, _ = run(capsys, "patient", "show", "1", "--json")
    [coverage] = json.loads(out)["coverages"]
    assert (coverage["payer"], coverage["member_id"], coverage["group"]) == (
        "Acme Health", "ZQM-NEW-77", "G-88")
