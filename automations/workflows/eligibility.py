"""Eligibility workflow: import 271 responses, and before every scheduled visit check
the most recent response. Inactive coverage, a plan change, missing or stale data, a
rejection (AAA) or a deductible not yet met becomes an `eligibility_gap` task for the
front desk, with the visit's patient-responsibility estimate.

Scheduler entry point: `check_upcoming_visits(session, days_ahead=1)` (APScheduler
wiring lives in automations/jobs). Desktop import dialog: `import_271_file`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from app import clock, queue
from app.errors import ValidationError
from app.identity import Session, require
from app.services import eligibility
from app.services.practice import get_setting
from app.services.remittance import ImportResult
from app.x12.x271 import parse_271

KIND = "eligibility_gap"


def import_271_file(session: Session, data: bytes, *, lenient: bool = False) -> ImportResult:
    require(session, "eligibility.import")
    responses = parse_271(data, lenient=lenient)  # raises X12Error; nothing written
    with session.vault.write() as conn:
        result, _stored = eligibility.store_271(session, conn, responses, data,
                                                lenient=lenient)
    return result


@dataclass
class Gap:
    kind: str  # inactive, plan_change, missing, stale, rejected, deductible
    text: str


def find_gaps(session: Session, patient_id: int, visit_type: str, now: datetime,
              ) -> tuple[list[Gap], eligibility.Eligibility | None]:
    elig = eligibility.latest_for_patient(session, patient_id)
    if elig is None:
        return [Gap("missing", "No eligibility response on file: run an eligibility check "
                               "(270) before the visit.")], None
    gaps: list[Gap] = []
    max_age = int(get_setting(session, "eligibility_max_age_days"))
    received = clock.parse_iso(elig.received_at)
    if now - received > timedelta(days=max_age):
        gaps.append(Gap("stale", f"The last eligibility check is older than {max_age} days."))
    if elig.rejections:
        reasons = "; ".join(f"{r['code']} {r['reason']}" for r in elig.rejections)
        gaps.append(Gap("rejected", f"The payer rejected the inquiry: {reasons}."))
    if elig.active is False:
        gaps.append(Gap("inactive", "Coverage is INACTIVE per the payer's latest response."))
    elif elig.active is None and not elig.rejections:
        gaps.append(Gap("missing", "The response does not say whether coverage is active."))
    previous = eligibility.latest_for_patient(session, patient_id, before_id=elig.response_id)
    coverage = session.vault.query_one(
        "SELECT plan_name, group_number FROM coverages WHERE patient_id = ? AND active = 1 "
        "ORDER BY priority, id LIMIT 1", (patient_id,))
    known_plan = (previous.plan_name, previous.group_number) if previous else \
        (coverage[0], coverage[1]) if coverage else ("", "")
    if elig.plan_name and known_plan[0] and elig.plan_name != known_plan[0]:
        gaps.append(Gap("plan_change", f"Plan changed from {known_plan[0]!r} to "
                                       f"{elig.plan_name!r}."))
    elif elig.group_number and known_plan[1] and elig.group_number != known_plan[1]:
        gaps.append(Gap("plan_change", f"Group number changed from {known_plan[1]!r} to "
                                       f"{elig.group_number!r}."))
    ded = eligibility.pick_benefit(elig.benefits, "C", "30", period="29")
    if ded is not None and ded.amount is not None and ded.amount > Decimal("0"):
        gaps.append(Gap("deductible", f"Deductible not met: ${ded.amount} remaining; tell "
                                      "the patient their estimate at check-in."))
    return gaps, elig


def check_upcoming_visits(session: Session, days_ahead: int = 1) -> list[int]:
    """Check every scheduled visit from now to `days_ahead` days out; returns the ids of
    eligibility_gap tasks created or refreshed. Idempotent per appointment."""
    require(session, "eligibility.request")
    now = clock.now()
    rows = session.vault.query(
        "SELECT id, patient_id, start_at, visit_type FROM appointments WHERE status = "
        "'scheduled' AND start_at >= ? AND start_at < ? ORDER BY start_at",
        (clock.iso(now), clock.iso(now + timedelta(days=days_ahead))))
    task_ids: list[int] = []
    for appt_id, patient_id, start_at, visit_type in rows:
        gaps, _elig = find_gaps(session, patient_id, visit_type, now)
        if not gaps:
            continue
        try:
            est = eligibility.estimate_for_visit(session, patient_id, visit_type).text()
        except ValidationError:  # an unknown visit type must not stop the other checks
            est = "No estimate: this visit type has no expected allowed amount set."
        start = clock.parse_iso(start_at)
        kinds = ", ".join(g.kind for g in gaps)
        draft = "\n".join([f"Visit {start:%Y-%m-%d %H:%M} UTC ({visit_type})", ""] +
                          [f"- {g.text}" for g in gaps] + ["", est])
        priority = queue.PRIORITY_HIGH if any(g.kind in ("inactive", "rejected")
                                              for g in gaps) else queue.PRIORITY_NORMAL
        task, _created = queue.create_task(
            session, KIND, f"eligibility_gap:appt:{appt_id}",
            f"Eligibility before visit: {kinds}", draft=draft,
            due_at=start - timedelta(hours=1), priority=priority, subject_type="appointment",
            subject_id=appt_id, patient_id=patient_id,
            payload={"appointment_id": appt_id, "gaps": [g.kind for g in gaps]},
            evidence=[queue.NewEvidence("Eligibility gaps", excerpt=kinds)])
        task_ids.append(task.id)
    return task_ids
