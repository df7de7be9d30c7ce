"""Outbound referral loop closure (pure): sent -> scheduled -> seen -> report received.

Each step has a due time counted from the step before it (days from the practice's
settings; once the visit is booked, 'seen' is due the day after the booked visit). An
overdue step is a `referral_followup` task. Natural key
`referral:out:{referral_id}:overdue:{step}`: one follow-up per referral and late step, so
the hourly check never repeats it.

An incoming referral whose triage suggested "schedule within N days" and whose visit is
still not booked N days after it came (its triage task decided: while that task is open,
it is the visible work) is a `referral_followup` task too (`incoming_overdue`, natural key
`referral:in:{referral_id}:overdue:scheduled`); it is done once the visit is recorded or
the referral declined (`followup_done`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from app.domain.specs import PRIORITY_HIGH, PRIORITY_NORMAL, TaskSpec

STEPS = ("sent", "scheduled", "seen", "report_received")
# An incoming referral's visit is still to be booked in these states; its 'scheduled'
# step is recorded from 'to_schedule' (the triage approved scheduling).
INCOMING_TO_SCHEDULE = ("received", "to_schedule")
STEP_LABEL = {"sent": "referral sent", "scheduled": "visit scheduled",
              "seen": "patient seen", "report_received": "consult report received"}


@dataclass(frozen=True)
class LoopDays:
    scheduled: int = 14        # days from sent to a booked visit
    seen: int = 30             # days from scheduled to the visit, when no date was booked
    report_received: int = 14  # days from the visit to the consult report


@dataclass(frozen=True)
class Outbound:
    referral_id: int
    patient_id: int | None
    to: str                    # the specialist or organisation referred to
    specialty: str
    last_step: str
    last_at: datetime          # aware UTC
    appointment_at: datetime | None = None
    urgency: str = ""


def next_step(step: str) -> str | None:
    """The step after `step`; None when the loop is closed. ValueError for an unknown."""
    i = STEPS.index(step)
    return STEPS[i + 1] if i + 1 < len(STEPS) else None


def check_order(current: str, new: str) -> None:
    """A step may only follow the one before it (ValueError names both)."""
    expected = next_step(current)
    if new not in STEPS:
        raise ValueError(f"unknown step {new!r}; steps: {', '.join(STEPS[1:])}")
    if new != expected:
        raise ValueError(f"the referral is at '{current}'; the next step is "
                         f"{expected or 'none (the loop is closed)'}, not '{new}'")


def due_at(ref: Outbound, days: LoopDays) -> datetime | None:
    """When the next step is due (aware UTC); None when the loop is closed."""
    step = next_step(ref.last_step)
    if step is None:
        return None
    if step == "seen" and ref.appointment_at is not None:
        return ref.appointment_at + timedelta(days=1)
    return ref.last_at + timedelta(days=getattr(days, step))


def overdue(ref: Outbound, now: datetime, days: LoopDays) -> TaskSpec | None:
    """The follow-up for a step past its due time, else None."""
    step = next_step(ref.last_step)
    due = due_at(ref, days)
    if step is None or due is None or now <= due:
        return None
    late = (now - due).days
    what = {"scheduled": f"Call {ref.to} to confirm they received the referral and booked "
                         "the visit; tell the patient how to book if not.",
            "seen": f"Ask {ref.to} whether the patient was seen; if the visit was missed, "
                    "call the patient to rebook.",
            "report_received": f"Ask {ref.to} for the consult report (fax or portal) and "
                               "file it with the chart."}[step]
    return TaskSpec(
        kind="referral_followup",
        natural_key=f"referral:out:{ref.referral_id}:overdue:{step}",
        title=f"Referral {ref.referral_id} to {ref.specialty or ref.to}: "
              f"{STEP_LABEL[step]} overdue"[:200],
        draft=(f"The referral to {ref.to} is at '{STEP_LABEL[ref.last_step]}' since "
               f"{ref.last_at:%Y-%m-%d}; '{STEP_LABEL[step]}' was due {due:%Y-%m-%d} "
               f"({late} day(s) ago).\nNext step: {what}\nRecord the step when it happens "
               f"(offhold referral step {ref.referral_id} {step})."),
        due_at=now + timedelta(days=1),
        priority=PRIORITY_HIGH if ref.urgency in ("urgent", "emergent") else PRIORITY_NORMAL,
        subject_type="referral", subject_id=str(ref.referral_id), patient_id=ref.patient_id,
        payload={"referral_id": ref.referral_id, "step": step, "due": due.isoformat(),
                 "days_late": late})


@dataclass(frozen=True)
class Incoming:
    referral_id: int
    patient_id: int | None
    referring: str             # who sent the referral
    specialty: str
    status: str
    received_at: datetime      # aware UTC
    within_days: int | None    # the triage's "schedule within N days", else None
    triage_open: bool          # its referral_triage task still waits for a decision
    urgency: str = ""


def loop_open(direction: str, status: str) -> bool:
    """Whether a referral's loop is still open: an outbound one until the consult report
    is received; an incoming one until its visit is booked or it is declined."""
    if direction == "in":
        return status not in ("scheduled", "declined")
    return status != "report_received"


def followup_done(direction: str, step: str, status: str) -> bool:
    """Whether a referral_followup for `step` is no longer needed at the referral's
    `status`: the step (or a later one) has been recorded; for an incoming referral, its
    visit is no longer waiting to be booked (scheduled, declined, records requested)."""
    if direction == "in":
        return status not in INCOMING_TO_SCHEDULE
    return step in STEPS and status in STEPS and STEPS.index(status) >= STEPS.index(step)


def incoming_overdue(ref: Incoming, now: datetime) -> TaskSpec | None:
    """The follow-up for an incoming referral still waiting to be booked past the
    triage's "schedule within N days" of its receipt (`incoming_due`), once its triage
    task is decided; else None. No patient name or member ID in the title."""
    if ref.triage_open:
        return None
    found = incoming_due(ref.status, ref.received_at, ref.within_days, None)
    if found is None or found[0] != "scheduled" or now <= found[1]:
        return None
    due = found[1]
    late = (now - due).days
    who = ref.referring or "the referring provider"
    if ref.status == INCOMING_TO_SCHEDULE[1]:
        what = ("call the patient to book the visit; once it is booked, record it "
                f"(offhold referral step {ref.referral_id} scheduled --visit YYYY-MM-DD, "
                "or on the Referrals page).")
    else:  # the triage task was closed without a decision being recorded
        what = ("no triage decision was recorded; decide whether to schedule the visit, "
                f"ask {who} for records or decline, and call the patient to book.")
    return TaskSpec(
        kind="referral_followup",
        natural_key=f"referral:in:{ref.referral_id}:overdue:scheduled",
        title=f"Incoming referral {ref.referral_id} ({ref.specialty or 'visit'}): "
              f"visit not booked, overdue"[:200],
        draft=(f"The referral from {who} came {ref.received_at:%Y-%m-%d}; triage suggested "
               f"scheduling within {ref.within_days} day(s), by {due:%Y-%m-%d} ({late} "
               f"day(s) ago), and no visit is booked.\nNext step: {what}"),
        due_at=now + timedelta(days=1),
        priority=PRIORITY_HIGH if ref.urgency in ("urgent", "emergent") else PRIORITY_NORMAL,
        subject_type="referral", subject_id=str(ref.referral_id), patient_id=ref.patient_id,
        payload={"referral_id": ref.referral_id, "step": "scheduled", "direction": "in",
                 "due": due.isoformat(), "days_late": late})


def incoming_due(status: str, received_at: datetime, within_days: int | None,
                 triage_due: datetime | None) -> tuple[str, datetime] | None:
    """What an incoming referral waits for next and when it is due (aware UTC), as
    `due_at` is for an outbound one: its triage decision by the open triage task's due
    time (`triage_due`, None once the task is decided), and, while the visit is still to
    be booked (received, to schedule), the 'scheduled' step within the triage's
    'schedule within N days' of its receipt. The earlier of the two, named 'triage' or
    'scheduled'; None when nothing is due (declined, records requested, scheduled)."""
    dues: list[tuple[str, datetime]] = []
    if triage_due is not None:
        dues.append(("triage", triage_due))
    if status in INCOMING_TO_SCHEDULE and within_days is not None:
        dues.append(("scheduled", received_at + timedelta(days=within_days)))
    return min(dues, key=lambda d: d[1]) if dues else None


def step_dues(steps: list[tuple[str, datetime]], appointment_at: datetime | None,
              days: LoopDays) -> list[datetime | None]:
    """For each recorded step (in the order recorded), when it was due: counted from the
    loop step before it, as `due_at` counts (today's settings); None for a step that is
    not a loop step after another (sent, or an incoming referral's triage steps)."""
    out: list[datetime | None] = []
    prev: tuple[str, datetime] | None = None
    for step, at in steps:
        due = None
        if prev is not None and step in STEPS and next_step(prev[0]) == step:
            due = due_at(Outbound(0, None, "", "", prev[0], prev[1], appointment_at), days)
        out.append(due)
        if step in STEPS:
            prev = (step, at)
    return out
