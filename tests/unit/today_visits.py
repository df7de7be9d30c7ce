"""Visits of each Today state, built through the services (shared by the unit and GUI
tests). All names are synthetic."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import date, timedelta

from app import clock, queue
from app.identity import Session
from app.services import appointments, eligibility, patients, prior_auth
from app.services.practice import set_setting
from app.x12.x271 import parse_271
from tests.unit.test_eligibility_271 import make_271


@dataclass
class Visits:
    ready: int  # eligibility active, PA approved, intake reviewed, an estimate
    waiting: int  # eligibility gap, PA pending (a task), intake received (a task)
    unchecked: int  # eligibility not checked, PA missing, intake missing, no estimate
    plain: int  # an office visit: no PA needed
    gap_task: int  # the waiting visit's eligibility_gap task
    pa_task: int  # the waiting visit's PA follow-up task
    intake_task: int
    patient_ready: int


def _patient(session: Session, first: str, last: str, member: str, payer: str) -> int:
    return patients.add_patient(session, first, last, "1970-05-06", member_id=member,
                                payer=payer).id


def _eligibility(session: Session, first: str, last: str, member: str, active: bool) -> None:
    data = make_271(["EB*1*IND*30**GOLD PPO", "EB*B*IND*98***27*25.00*****Y"] if active
                    else ["EB*6*IND*30"], member=member, last=last.upper(),
                    first=first.upper(), trace=f"TR-{member}")
    with session.vault.write() as conn:
        eligibility.store_271(session, conn, parse_271(data), data)


def _intake(session: Session, patient_id: int, status: str, task_id: int | None) -> None:
    with session.vault.write() as conn:
        conn.execute("INSERT INTO intake_forms (sha256, source_kind, patient_id, task_id, "
                     "status, received_at, received_by) VALUES (?,?,?,?,?,?,?)",
                     (hashlib.sha256(f"{patient_id}{status}".encode()).hexdigest(), "text",
                      patient_id, task_id, status, clock.iso(clock.now()), session.username))


def make_visits(session: Session, payer: str, day: date) -> Visits:
    """Visits on `day` (practice-local) and the next day, one per state."""
    set_setting(session, "pa_visit_types", "therapy_eval")
    eligibility.set_expected_allowed(session, "therapy_eval", "140.00", "98")
    a = _patient(session, "Ada", "Readyford", "RDY100", payer)
    b = _patient(session, "Bo", "Waitwell", "WTW200", payer)
    c = _patient(session, "Cy", "Nocheckson", "NCK300", payer)
    d = _patient(session, "Di", "Plainview", "PLN400", payer)
    _eligibility(session, "Ada", "Readyford", "RDY100", True)
    _eligibility(session, "Bo", "Waitwell", "WTW200", False)
    _eligibility(session, "Di", "Plainview", "PLN400", True)
    tomorrow = day + timedelta(days=1)
    ready = appointments.add_appointment(session, a, f"{day} 09:00", provider="Dr. Ames",
                                         visit_type="therapy_eval").id
    waiting = appointments.add_appointment(session, b, f"{day} 10:30", provider="Dr. Ames",
                                           visit_type="therapy_eval").id
    unchecked = appointments.add_appointment(session, c, f"{tomorrow} 08:15",
                                             provider="Dr. Bell", visit_type="therapy_eval").id
    plain = appointments.add_appointment(session, d, f"{tomorrow} 11:00", provider="Dr. Bell",
                                         visit_type="office_visit").id
    approved = prior_auth.add_prior_auth(session, patient_id=a, payer=payer, cpt_code="97163",
                                         units=1, service_date=day)
    prior_auth.record_status(session, approved.id, "approved", source="manual",
                             approved_units=1, approved_from=day,
                             approved_through=day + timedelta(days=30))
    pending = prior_auth.add_prior_auth(session, patient_id=b, payer=payer, cpt_code="97163",
                                        units=1, service_date=day)
    pa_task, _ = queue.create_task(session, "pa_followup", f"test:pa:{pending.id}",
                                   "PA follow-up", subject_type="prior_auth",
                                   subject_id=pending.id, patient_id=b)
    gap_task, _ = queue.create_task(session, "eligibility_gap",
                                    f"eligibility_gap:appt:{waiting}", "Coverage inactive",
                                    patient_id=b)
    intake_task, _ = queue.create_task(session, "intake_review", f"test:intake:{b}",
                                       "Intake form to review", patient_id=b)
    _intake(session, a, "applied", None)
    _intake(session, b, "review", intake_task.id)
    return Visits(ready, waiting, unchecked, plain, gap_task.id, pa_task.id, intake_task.id, a)
