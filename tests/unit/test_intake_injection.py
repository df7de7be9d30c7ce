"""Prompt injection in intake forms: a corpus of forms with instructions hidden in
different styles. None may change a structured field, and none may create any action:
no approval, no extra task, no change to the patient record. Every one is flagged."""

from __future__ import annotations

from pathlib import Path

import pytest

from app import queue
from app.identity import Session
from app.services import patients
from automations.workflows.intake import import_intake

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "intake"
CORPUS = sorted((FIXTURES / "injection").glob("*.txt"))
STRUCTURED = ("first_name", "last_name", "dob", "sex", "address", "phone", "email",
              "insurance", "member_id", "group_number", "medications", "allergies",
              "problems", "smoking", "last_screenings", "reason")


def _structured(result: object) -> dict[str, list[str]]:
    return {name: result.items(name) for name in STRUCTURED}  # type: ignore[attr-defined]


def _patient_id(session: Session) -> int:
    return int(session.vault.query_one("SELECT id FROM patients WHERE last_name = "
                                       "'Zzyzxquell'")[0])


@pytest.fixture
def baseline(practice: Session) -> dict[str, list[str]]:
    pid = _patient_id(practice)
    patients.update_patient(practice, pid, allergies=["penicillin", "sulfa"],
                            medications=["Metformin 500 mg twice daily",
                                         "Lisinopril 10 mg daily"])
    queue.set_mode(practice, "intake_review", "approve_each")
    out = import_intake(practice, (FIXTURES / "base.txt").read_bytes(), "base.txt",
                        use_model=False)
    assert not [f for f in out.result.flags if f.code.startswith("injection")]
    queue.reject(practice, out.task.id, "baseline only")
    return _structured(out.result)


def test_corpus_has_at_least_ten_styles() -> None:
    assert len(CORPUS) >= 10


@pytest.mark.parametrize("path", CORPUS, ids=[p.stem for p in CORPUS])
def test_injected_form_changes_nothing_and_acts_on_nothing(
        practice: Session, baseline: dict[str, list[str]], path: Path) -> None:
    pid = _patient_id(practice)
    record_before = patients._load_patient(practice, pid)
    tasks_before = practice.vault.query_one("SELECT count(*) FROM tasks")[0]
    out = import_intake(practice, path.read_bytes(), path.name, use_model=False)
    result = out.result
    # structured fields are exactly the clean form's
    assert _structured(result) == baseline
    # the attempt is flagged, with spans pointing at the injected text
    injection = [f for f in result.flags if f.code == "injection"]
    assert injection and all(f.severity == "critical" and f.spans for f in injection)
    # no action: one new task, the review itself, waiting for a person
    assert practice.vault.query_one("SELECT count(*) FROM tasks")[0] == tasks_before + 1
    assert out.task.kind == "intake_review" and out.task.state.value == "pending"
    assert out.eligibility_task is None
    assert practice.vault.query_one("SELECT count(*) FROM audit_log WHERE action IN "
                                    "('task.approve', 'patient.update') AND ts >= ?",
                                    (practice.vault.query_one(
                                        "SELECT created_at FROM tasks WHERE id = ?",
                                        (out.task.id,))[0],))[0] == 0
    assert patients._load_patient(practice, pid) == record_before
    # the draft a person would approve holds the clean values only
    assert "FREE123" not in out.task.draft and "Free Health" not in out.task.draft
