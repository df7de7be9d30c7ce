"""What a PA's situation asks of people, as task specs (pure: no vault, no queue).

The workflow turns each spec into `app.queue.create_task`; natural keys make that
idempotent, so evaluating the same situation twice never makes a second task:
- `pa:{id}:status:{status}:{date}`        a status change (pa_followup, with evidence)
- `pa:{id}:next:{status}:{date}`          denial / info request next action (pa_next_action)
- `pa:{id}:stall:{date}`                  no change for N business days (pa_escalation)
- `pa:{id}:overdue:{date}`                decision deadline passed, no decision (pa_escalation)
- `pa:{id}:units_short:{units}`           approval with too few units near the service date
- `pa:{id}:expiry:{date}`                 approval that expires before the date of service
Dates in keys are local dates in the practice's zone. Text carries the PA id, CPT code,
payer reference and the payer's own wording; never patient names or member IDs.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from app.domain.pa import PAStatus, PriorAuth
from app.domain.specs import PRIORITY_HIGH, PRIORITY_NORMAL, TaskSpec
from app.pa.business import (NO_HOLIDAYS, at_local, business_days_between, local,
                             local_date)

DEFAULT_APPEAL_DAYS = 60        # when the payer row has no appeal window
DEFAULT_INFO_RESPONSE_DAYS = 14  # when the payer's request states no deadline

STATUS_LABELS = {
    PAStatus.SUBMITTED: "submitted", PAStatus.PENDING: "pending review",
    PAStatus.INFO_REQUESTED: "information requested", PAStatus.APPROVED: "approved",
    PAStatus.PARTIAL: "partially approved", PAStatus.DENIED: "denied",
    PAStatus.CANCELLED: "cancelled", PAStatus.EXPIRED: "expired",
    PAStatus.NOT_FOUND: "not found at the payer",
}


@dataclass(frozen=True)
class Observation:
    """A status seen at the source; dates are local dates in the practice's zone."""

    status: PAStatus
    wording: str
    at: datetime                       # aware UTC
    respond_by: date | None = None
    respond_within_days: int | None = None


def _fmt(dt: datetime, tz: ZoneInfo) -> str:
    return local(dt, tz).strftime("%Y-%m-%d %H:%M %Z")


def _head(pa: PriorAuth) -> str:
    codes = ", ".join(dict.fromkeys(ln.code for ln in pa.services)) or pa.cpt_code
    return f"PA {pa.id} (CPT {codes}, ref {pa.payer_ref or '-'})"


def on_status_change(pa: PriorAuth, obs: Observation, tz: ZoneInfo, *,
                     appeal_window_days: int | None) -> list[TaskSpec]:
    """Tasks for a newly observed status. `pa` is the record after the change."""
    day = local_date(obs.at, tz)
    label = STATUS_LABELS[obs.status]
    specs = [TaskSpec(
        kind="pa_followup",
        natural_key=f"pa:{pa.id}:status:{obs.status.value}:{day.isoformat()}",
        title=f"{_head(pa)}: now {label}",
        draft=(f"The payer's status changed to {label}.\nPayer wording: \"{obs.wording}\"\n"
               f"Seen {_fmt(obs.at, tz)}. Decision due {_fmt(pa.decision_due_at, tz)} "
               f"({pa.clock_basis})."),
        due_at=obs.at + timedelta(hours=24),
        priority=PRIORITY_HIGH if obs.status in (PAStatus.DENIED, PAStatus.INFO_REQUESTED,
                                                 PAStatus.NOT_FOUND) else PRIORITY_NORMAL,
        payload={"pa_id": pa.id, "status": obs.status.value, "event": "status_change"},
        with_evidence=True)]
    if obs.status is PAStatus.DENIED:
        # The payer's own words win: a date, else a day count ("within 180 days of this
        # letter", counted from the day it was seen), else the payer's stored window.
        window = obs.respond_within_days or appeal_window_days or DEFAULT_APPEAL_DAYS
        stated = obs.respond_by is not None or obs.respond_within_days is not None
        appeal_by = obs.respond_by or day + timedelta(days=window)
        actions = ["peer_to_peer", "appeal"] if _p2p_worth_it(obs.wording) else ["appeal"]
        steps = ("Ask for a peer-to-peer review with the payer's reviewer; if the denial "
                 "stands, file an appeal with the clinical records." if "peer_to_peer" in actions
                 else "File an appeal with the clinical records that answer the stated reason.")
        specs.append(TaskSpec(
            kind="pa_next_action",
            natural_key=f"pa:{pa.id}:next:denied:{day.isoformat()}",
            title=f"{_head(pa)}: denied - {actions[0].replace('_', '-')} / appeal",
            draft=(f"Payer wording: \"{obs.wording}\"\nNext step: {steps}\n"
                   f"Appeal deadline: {appeal_by.isoformat()} "
                   f"({'stated by the payer' if stated else f'{window}-day window'})."),
            due_at=at_local(appeal_by, 12, tz), priority=PRIORITY_HIGH,
            payload={"pa_id": pa.id, "actions": actions, "deadline": appeal_by.isoformat(),
                     "payer_wording": obs.wording}, with_evidence=True))
    elif obs.status is PAStatus.INFO_REQUESTED:
        days = obs.respond_within_days or DEFAULT_INFO_RESPONSE_DAYS
        respond_by = obs.respond_by or day + timedelta(days=days)
        action = "peer_to_peer" if "peer" in obs.wording.lower() else "send_records"
        what = ("Schedule the peer-to-peer call the payer offers." if action == "peer_to_peer"
                else "Send the requested records to the payer.")
        specs.append(TaskSpec(
            kind="pa_next_action",
            natural_key=f"pa:{pa.id}:next:info_requested:{day.isoformat()}",
            title=f"{_head(pa)}: payer asks for {action.replace('_', ' ')}",
            draft=(f"Payer wording: \"{obs.wording}\"\nNext step: {what}\n"
                   f"Respond by: {respond_by.isoformat()}."),
            due_at=at_local(respond_by, 12, tz), priority=PRIORITY_HIGH,
            payload={"pa_id": pa.id, "actions": [action], "deadline": respond_by.isoformat(),
                     "payer_wording": obs.wording}, with_evidence=True))
    return specs


def _p2p_worth_it(wording: str) -> bool:
    text = wording.lower()
    return "peer" in text or "medical" in text or "necess" in text or "clinical" in text


def time_checks(pa: PriorAuth, now: datetime, tz: ZoneInfo, *, stall_business_days: int,
                service_soon_days: int,
                holidays: Collection[date] = NO_HOLIDAYS) -> list[TaskSpec]:
    """Tasks that time alone can call for: stalls, missed deadlines, weak approvals."""
    specs: list[TaskSpec] = []
    today = local_date(now, tz)
    if not pa.status.is_terminal:
        changed_day = local_date(pa.status_changed_at, tz)
        idle = business_days_between(changed_day, today, holidays)
        if idle >= stall_business_days:
            specs.append(TaskSpec(
                kind="pa_escalation",
                natural_key=f"pa:{pa.id}:stall:{changed_day.isoformat()}",
                title=f"{_head(pa)}: no status change for {stall_business_days}+ business days",
                draft=(f"Status has been {STATUS_LABELS[pa.status]} since "
                       f"{_fmt(pa.status_changed_at, tz)} (the practice escalates after "
                       f"{stall_business_days} business days). Call the payer."),
                due_at=at_local(today, 17, tz), priority=PRIORITY_NORMAL,
                payload={"pa_id": pa.id, "event": "stall", "business_days": idle}))
    if not pa.status.is_terminal and now > pa.decision_due_at:
        due_day = local_date(pa.decision_due_at, tz)
        specs.append(TaskSpec(
            kind="pa_escalation",
            natural_key=f"pa:{pa.id}:overdue:{due_day.isoformat()}",
            title=f"{_head(pa)}: payer decision overdue",
            draft=(f"The decision was due {_fmt(pa.decision_due_at, tz)} ({pa.clock_basis}) "
                   f"and has passed with no decision. Status: {STATUS_LABELS[pa.status]}. "
                   "Escalate with the payer and cite the rule."),
            due_at=pa.decision_due_at, priority=PRIORITY_HIGH,
            payload={"pa_id": pa.id, "event": "decision_overdue",
                     "decision_due_at": pa.decision_due_at.isoformat()}))
    if pa.status in (PAStatus.APPROVED, PAStatus.PARTIAL) and pa.service_date >= today:
        soon = (pa.service_date - today).days <= service_soon_days
        if soon and pa.approved_units is not None and pa.approved_units < pa.units:
            specs.append(TaskSpec(
                kind="pa_next_action",
                natural_key=f"pa:{pa.id}:units_short:{pa.approved_units}",
                title=f"{_head(pa)}: {pa.approved_units} of {pa.units} units approved",
                draft=(f"The approval covers {pa.approved_units} units but {pa.units} are "
                       f"planned for {pa.service_date.isoformat()}. Request more units or "
                       "adjust the plan before the visit."),
                due_at=at_local(pa.service_date, 8, tz) - timedelta(days=1),
                priority=PRIORITY_HIGH,
                payload={"pa_id": pa.id, "actions": ["request_units"],
                         "approved_units": pa.approved_units, "units": pa.units}))
        expiry = pa.expires_on or pa.approved_through
        if expiry is not None and expiry < pa.service_date:
            specs.append(TaskSpec(
                kind="pa_next_action",
                natural_key=f"pa:{pa.id}:expiry:{expiry.isoformat()}",
                title=f"{_head(pa)}: approval expires before the date of service",
                draft=(f"The approval ends {expiry.isoformat()}, the service is on "
                       f"{pa.service_date.isoformat()}. Ask the payer for an extension or "
                       "move the visit inside the approved span."),
                due_at=min(at_local(expiry, 8, tz), at_local(pa.service_date, 8, tz)),
                priority=PRIORITY_HIGH,
                payload={"pa_id": pa.id, "actions": ["request_extension", "reschedule"],
                         "expires_on": expiry.isoformat()}))
    return specs
