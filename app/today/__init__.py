"""The Today view's rules, pure: what is ready before each visit (eligibility, the PA for
the scheduled service, the intake form, the estimate) and which task or record each cell
opens. The service (app.services.today) gathers the facts; these functions decide."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal

Target = tuple[str, int]  # (desktop page key, the id it opens)

APPROVED = ("approved", "partially_approved")
OPEN = ("submitted", "pending", "info_requested")
INTAKE_WINDOW_DAYS = 60  # a form older than this before the visit is not for this visit


@dataclass(frozen=True)
class Cell:
    label: str
    state: str  # ok | attention | missing | none
    target: Target | None = None
    detail: str = ""  # shown as the cell's tooltip (the estimate's basis)


@dataclass(frozen=True)
class PAFact:
    id: int
    status: str
    service_date: date
    approved_from: date | None = None
    approved_through: date | None = None
    task_id: int | None = None  # an open task about this PA, if any
    service_to: date | None = None  # last day of the service line (None: service_date only)


@dataclass(frozen=True)
class IntakeFact:
    status: str  # review | manual_entry | applied | rejected
    received_at: datetime
    task_id: int | None = None


@dataclass(frozen=True)
class VisitRow:
    appointment_id: int
    patient_id: int
    patient_name: str
    start_at: datetime  # UTC
    provider: str
    visit_type: str
    eligibility: Cell
    pa: Cell
    intake: Cell
    estimate: Cell
    status: str = "scheduled"  # scheduled | completed | no_show (cancelled are left out)

    def cells(self) -> tuple[Cell, Cell, Cell, Cell]:
        return (self.eligibility, self.pa, self.intake, self.estimate)


def eligibility_cell(patient_id: int, visit_at: datetime, checked_at: datetime | None,
                     active: bool | None, max_age_days: int,
                     gap_task_id: int | None = None) -> Cell:
    """Checked and active / gap / not checked. An open eligibility_gap task for the visit
    wins (it says what the gap is); a response older than max_age_days is not a check."""
    record: Target = ("patients", patient_id)
    if gap_task_id is not None:
        return Cell("gap", "attention", ("queue", gap_task_id))
    if checked_at is None or visit_at - checked_at > timedelta(days=max_age_days):
        return Cell("not checked", "missing", record)
    if active is False:
        return Cell("gap: inactive", "attention", record)
    if active:
        return Cell("active", "ok", record)
    return Cell("not checked", "missing", record)  # a rejected inquiry says nothing


def pa_cell(patient_id: int, visit_day: date, pas: list[PAFact], needs_pa: bool) -> Cell:
    """Approved / pending / missing / none needed, for the PAs whose dates of service
    (a PA comes as one fact per service line) or approved dates cover the visit's day."""
    def covers(p: PAFact) -> bool:
        if p.service_date <= visit_day <= (p.service_to or p.service_date):
            return True
        return bool(p.approved_from and p.approved_through
                    and p.approved_from <= visit_day <= p.approved_through)

    relevant = [p for p in pas if covers(p)]

    def target(p: PAFact) -> Target:
        return ("queue", p.task_id) if p.task_id is not None else ("patients", patient_id)

    for p in relevant:
        if p.status in APPROVED and (p.approved_through is None
                                     or p.approved_through >= visit_day):
            return Cell("approved", "ok", target(p))
    for p in relevant:
        if p.status in OPEN:
            return Cell("pending", "attention", target(p))
    if relevant:
        p = relevant[0]
        return Cell(f"missing ({p.status.replace('_', ' ')})", "missing", target(p))
    if needs_pa:
        return Cell("missing", "missing", ("patients", patient_id))
    return Cell("none needed", "none", None)


def intake_cell(patient_id: int, visit_at: datetime, forms: list[IntakeFact]) -> Cell:
    """Reviewed / received / missing: the newest form from the window before the visit."""
    since = visit_at - timedelta(days=INTAKE_WINDOW_DAYS)
    recent = sorted((f for f in forms if f.received_at >= since and f.status != "rejected"),
                    key=lambda f: f.received_at, reverse=True)
    if not recent:
        return Cell("missing", "missing", ("patients", patient_id))
    form = recent[0]
    if form.status == "applied":
        return Cell("reviewed", "ok", ("patients", patient_id))
    target: Target = ("queue", form.task_id) if form.task_id else ("patients", patient_id)
    return Cell("received", "attention", target)


def estimate_cell(patient_id: int, amount: Decimal | None, basis: str) -> Cell:
    if amount is None:
        return Cell("—", "none", ("patients", patient_id), basis)
    return Cell(f"${amount:,.2f}", "ok", ("patients", patient_id), f"estimate: {basis}")
