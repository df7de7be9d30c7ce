"""The Today view: today's and tomorrow's visits, each with what must be ready before the
patient walks in. Facts are read here in one pass; app.today decides each cell. Opening the
board is one audited view (it shows names for the day's visits)."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

from app import audit, clock
from app.domain import ACTIONABLE_STATES, TaskState
from app.identity import Session, require
from app.services import eligibility
from app.services.appointments import allowed_for_patient
from app.services.practice import get_setting
from app.services.prior_auth import practice_zone
from app.today import (
    IntakeFact,
    PAFact,
    VisitRow,
    eligibility_cell,
    estimate_cell,
    intake_cell,
    pa_cell,
)

_OPEN_TASK_STATES = tuple(s.value for s in ACTIONABLE_STATES | {TaskState.SNOOZED})


def _day(text: str | None) -> date | None:
    return date.fromisoformat(text) if text else None


def pa_visit_types(session: Session) -> frozenset[str]:
    """Visit types the practice marked as needing a PA (setting pa_visit_types)."""
    text = str(get_setting(session, "pa_visit_types") or "")
    return frozenset(t.strip() for t in text.split(",") if t.strip())


def today_board(session: Session, first_day: date | None = None, days: int = 2
                ) -> list[VisitRow]:
    """Visits from `first_day` (practice-local; default today) for `days` days, by time;
    cancelled visits are left out."""
    require(session, "patient.view")
    tz = practice_zone(session)
    first = first_day or clock.now().astimezone(tz).date()
    start = datetime.combine(first, time(0), tz)
    end = start + timedelta(days=days)
    vault = session.vault
    placeholders = ",".join("?" * len(_OPEN_TASK_STATES))
    appts = vault.query(
        "SELECT a.id, a.patient_id, a.start_at, a.provider, a.visit_type, a.status, "
        "p.last_name || ', ' || p.first_name FROM appointments a JOIN patients p ON "
        "p.id = a.patient_id WHERE a.start_at >= ? AND a.start_at < ? AND a.status != 'cancelled' "
        "ORDER BY a.start_at, a.id", (clock.iso(start), clock.iso(end)))
    max_age = int(get_setting(session, "eligibility_max_age_days"))
    needs_pa = pa_visit_types(session)
    types = eligibility.visit_types(session)
    rows: list[VisitRow] = []
    elig_cache: dict[int, eligibility.Eligibility | None] = {}
    for appt_id, pid, start_text, provider, visit_type, status, name in appts:
        visit_at = clock.parse_iso(start_text)
        visit_day = visit_at.astimezone(tz).date()
        if pid not in elig_cache:
            elig_cache[pid] = eligibility.latest_for_patient(session, pid)
        elig = elig_cache[pid]
        gap = vault.query_one(
            f"SELECT id FROM tasks WHERE natural_key = ? AND state IN ({placeholders})",
            (f"eligibility_gap:appt:{appt_id}", *_OPEN_TASK_STATES))
        elig_cell = eligibility_cell(
            pid, visit_at, clock.parse_iso(elig.received_at) if elig else None,
            elig.active if elig else None, max_age, gap[0] if gap else None)
        # One fact per service line: a PA covers the visit if any of its lines does.
        pas = [PAFact(r[0], r[1], date.fromisoformat(r[2]), _day(r[3]), _day(r[4]), r[5],
                      _day(r[6]))
               for r in vault.query(
                   "SELECT a.id, a.status, coalesce(l.service_from, a.service_date), "
                   "a.approved_from, a.approved_through,"
                   f" (SELECT t.id FROM tasks t WHERE t.subject_type = 'prior_auth' AND "
                   f"t.subject_id = CAST(a.id AS TEXT) AND t.state IN ({placeholders}) "
                   "ORDER BY t.id DESC LIMIT 1), l.service_to FROM prior_auths a "
                   "LEFT JOIN pa_service_lines l ON l.pa_id = a.id WHERE a.patient_id = ? "
                   "ORDER BY a.id, l.line_no",
                   (*_OPEN_TASK_STATES, pid))]
        forms = [IntakeFact(r[0], clock.parse_iso(r[1]), r[2]) for r in vault.query(
            "SELECT status, received_at, task_id FROM intake_forms WHERE patient_id = ?",
            (pid,))]
        if visit_type in types:
            allowed, service_type = types[visit_type]
            allowed = allowed_for_patient(session, pid, visit_type) or allowed
            est = eligibility.compute_estimate(elig, visit_type, allowed, service_type)
            money = estimate_cell(pid, est.amount, est.basis)
        else:
            money = estimate_cell(pid, None, f"no expected amount for {visit_type}")
        rows.append(VisitRow(
            appt_id, pid, name, visit_at, provider, visit_type, elig_cell,
            pa_cell(pid, visit_day, pas, visit_type in needs_pa),
            intake_cell(pid, visit_at, forms), money, status))
    audit.record_now(vault, session, "today.view", object_type="appointment",
                     details={"from": first.isoformat(), "days": days, "visits": len(rows)})
    return rows
