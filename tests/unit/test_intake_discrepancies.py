"""Intake vs the vault: name/DOB mismatch, allergies added/removed, medication changes,
payer/member changes (which queue an eligibility re-check), and what approval writes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from app import audit, queue
from app.errors import ValidationError
from app.identity import Session
from app.services import intake as intake_service
from app.services import patients
from automations.workflows import intake as intake_flow
from automations.workflows.intake import import_intake

BASE = (Path(__file__).resolve().parents[1] / "fixtures" / "intake" / "base.txt"
        ).read_text(encoding="utf-8")


@pytest.fixture
def pid(practice: Session) -> int:
    queue.set_mode(practice, "intake_review", "approve_each")
    patient_id = int(practice.vault.query_one(
        "SELECT id FROM patients WHERE last_name = 'Zzyzxquell'")[0])
    patients.update_patient(practice, patient_id, allergies=["penicillin", "sulfa"],
                            medications=["Metformin 500 mg twice daily",
                                         "Lisinopril 10 mg daily"])
    return patient_id


def _codes(out: intake_flow.IntakeOutcome) -> list[tuple[str, str]]:
    return [(d.field, d.kind) for d in out.result.discrepancies]


def test_matching_form_has_no_discrepancies_and_matches_by_member_id(practice: Session,
                                                                      pid: int) -> None:
    out = import_intake(practice, BASE.encode(), use_model=False)
    assert out.result.patient_id == pid and out.result.match == "member_id"
    assert _codes(out) == [] and out.eligibility_task is None


@pytest.mark.parametrize("old, new, expected", [
    ("DOB: 04/12/1975", "DOB: 04/21/1975", [("dob", "mismatch")]),
    ("Patient Name: Quintessa Zzyzxquell", "Patient Name: Quintina Zzyzxquell",
     [("first_name", "mismatch")]),
    ("Allergies: penicillin, sulfa", "Allergies: penicillin, sulfa, latex",
     [("allergies", "added")]),
    ("Allergies: penicillin, sulfa", "Allergies: penicillin", [("allergies", "removed")]),
    ("Allergies: penicillin, sulfa", "Allergies: NKDA",
     [("allergies", "removed"), ("allergies", "removed")]),
    (" - Lisinopril 10 mg daily", " - Lisinopril 20 mg daily", [("medications", "changed")]),
    (" - Lisinopril 10 mg daily", " - Zestril 10 mg daily", [("medications", "changed")]),
    (" - Lisinopril 10 mg daily\n", "", [("medications", "removed")]),
])
def test_planted_discrepancies_are_each_flagged(practice: Session, pid: int, old: str,
                                                new: str, expected: list[tuple[str, str]]
                                                ) -> None:
    assert old in BASE
    out = import_intake(practice, BASE.replace(old, new).encode(), patient_id=pid,
                        use_model=False)
    assert _codes(out) == expected
    flagged = [f for f in out.result.flags if f.code == "discrepancy"]
    assert len(flagged) == len(expected)
    assert out.eligibility_task is None
    # an empty side reads "nothing", never a bare ''
    assert not any("''" in f.message for f in flagged)
    if expected == [("medications", "removed")]:
        assert flagged[0].message.endswith("on the form nothing")


@pytest.mark.parametrize("old, new, field", [
    ("Member ID: ZQM4455667", "Member ID: ZQM9999999", "member_id"),
    ("Insurance: Acme Health", "Insurance: Northwind National", "insurance"),
])
def test_payer_or_member_change_queues_an_eligibility_recheck(practice: Session, pid: int,
                                                              old: str, new: str,
                                                              field: str) -> None:
    out = import_intake(practice, BASE.replace(old, new).encode(), patient_id=pid,
                        use_model=False)
    assert (field, "changed") in _codes(out)
    elig = out.eligibility_task
    assert elig is not None and elig.kind == "eligibility_gap" and elig.patient_id == pid
    assert elig.payload["intake_task_id"] == out.task.id
    again = import_intake(practice, BASE.replace(old, new).encode(), patient_id=pid,
                          use_model=False)
    assert again.eligibility_task is not None and again.eligibility_task.id == elig.id


def test_approval_writes_the_reviewed_fields_with_before_and_after(practice: Session,
                                                                    pid: int) -> None:
    text = BASE.replace("Allergies: penicillin, sulfa", "Allergies: penicillin, sulfa, latex")
    out = import_intake(practice, text.encode(), patient_id=pid, use_model=False)
    view = intake_service.review(practice, out.task.id)
    assert view.source_text == text
    spans = {h.field for h in view.highlights}
    assert {"dob", "member_id", "allergies"} <= spans
    fields = dict(view.fields)
    fields["phone"] = "(555) 010-9999"  # the reviewer corrects a value
    intake_service.save_fields(practice, out.task.id, fields)
    done = queue.approve(practice, out.task.id)
    assert done.state.value == "done", done.history[-1].note
    patient = patients._load_patient(practice, pid)
    assert patient.allergies == ["penicillin", "sulfa", "latex"]
    assert patient.phone == "(555) 010-9999"
    row = practice.vault.query_one("SELECT details FROM audit_log WHERE action = "
                                   "'patient.update' ORDER BY id DESC LIMIT 1")
    changes = json.loads(row[0])["changes"]  # keyed digests, not the lists (issue 10 #15)
    assert changes["allergies"] == {
        "before": audit.digest(practice.vault, ["penicillin", "sulfa"]),
        "after": audit.digest(practice.vault, ["penicillin", "sulfa", "latex"])}
    assert "latex" not in row[0]
    assert practice.vault.query_one("SELECT status FROM intake_forms WHERE task_id = ?",
                                    (out.task.id,))[0] == "applied"


def test_new_patient_form_creates_the_patient_on_approval(practice: Session, pid: int) -> None:
    text = BASE.replace("Quintessa Zzyzxquell", "Odalys Farrowmere").replace(
        "ZQM4455667", "NW55120098")
    out = import_intake(practice, text.encode(), use_model=False)
    assert out.result.patient_id is None and "new_patient" in [f.code for f in
                                                                out.result.flags]
    done = queue.approve(practice, out.task.id)
    assert done.state.value == "done"
    row = practice.vault.query_one("SELECT id, dob, allergies FROM patients WHERE last_name = "
                                   "'Farrowmere'")
    assert row[1] == "1975-04-12" and json.loads(row[2]) == ["penicillin", "sulfa"]


@pytest.mark.expected_logs(r"effect for task \d+ \(intake_review\) failed")
def test_bad_edit_fails_the_task_back_to_a_person(practice: Session, pid: int) -> None:
    out = import_intake(practice, BASE.encode(), use_model=False)
    with pytest.raises(ValidationError, match="dob"):
        intake_service.save_fields(practice, out.task.id, {"dob": "12/04/1975"})
    done = queue.approve(practice, out.task.id, draft='{"dob": "not a date"}')
    assert done.state.value == "failed" and "dob" in done.history[-1].note


def test_front_desk_cannot_be_bypassed_by_automatic_mode(practice: Session) -> None:
    with pytest.raises(ValidationError):
        queue.set_mode(practice, "intake_review", "automatic")
