"""What the care-gap workflow reads: each patient's facts (birth date, sex, active plan
types, clinical records) and the care_gap tasks already made. Reads only; the tasks are
written through the queue."""

from __future__ import annotations

from collections import defaultdict
from datetime import date, datetime

from app import clock
from app.care_gaps.rules import PatientFacts, Record
from app.identity import Session, require


def _day(text: str | None) -> date | None:
    return date.fromisoformat(text[:10]) if text and len(text) >= 10 else None


def patient_facts(session: Session) -> list[PatientFacts]:
    """Every patient's facts, with their clinical records and the plan types of their
    active coverage. A patient with no birth date (an 837 without a DMG segment) is left
    out: every rule needs an age."""
    require(session, "patient.view")
    vault = session.vault
    people = vault.query("SELECT id, dob, sex FROM patients WHERE dob != '' ORDER BY id")
    records: dict[int, list[Record]] = defaultdict(list)
    for pid, kind, system, code, status, on, ended in vault.query(
            "SELECT patient_id, kind, code_system, code, status, recorded_on, ended_on "
            "FROM clinical_records"):
        records[int(pid)].append(Record(kind, system, code, _day(on), status or "",
                                        _day(ended)))
    plans: dict[int, set[str]] = defaultdict(set)
    for pid, plan in vault.query("SELECT c.patient_id, p.plan_type FROM coverages c JOIN "
                                 "payers p ON p.id = c.payer_id WHERE c.active = 1"):
        plans[int(pid)].add(plan)
    return [PatientFacts(int(pid), date.fromisoformat(dob), sex or "",
                         tuple(records.get(int(pid), ())), frozenset(plans.get(int(pid), ())))
            for pid, dob, sex in people]


def latest_gap_tasks(session: Session) -> dict[tuple[int, str], tuple[int, str, datetime]]:
    """The newest care_gap task per (patient, rule): (task id, state, created at)."""
    require(session, "task.view")
    out: dict[tuple[int, str], tuple[int, str, datetime]] = {}
    for task_id, state, created, rule_id, pid in session.vault.query(
            "SELECT id, state, created_at, subject_id, patient_id FROM tasks WHERE "
            "kind = 'care_gap' AND subject_type = 'care_gap' ORDER BY id"):
        out[(int(pid), str(rule_id))] = (int(task_id), state, clock.parse_iso(created))
    return out
