"""No-show and cancellation recovery, and waitlist fill.

Each run reads the schedule around now and applies app.schedule.rules:
  * a missed visit (marked no-show, or never arrived past the grace time) or a late
    cancellation becomes an `outreach` rebook draft for the office manager, with the
    patient's earlier no-shows as evidence; a repeat no-show is flagged on the title;
  * a cancelled visit still ahead frees a slot: the waitlist is ranked for it (the reason
    for each rank is the task's evidence) and a `waitlist_offer` draft goes to the first
    candidate. Approval sends it and holds the slot (`send_offer`), with a `waitlist_hold`
    task due when the hold ends: approving it (the patient said yes) books the visit
    (`book_held_slot`); rejecting it (they declined), rejecting the offer's draft, or the
    hold running out unanswered moves the slot to the next candidate on the next run. A
    YES or NO reply the outbox records approves or rejects the hold task by itself
    (app.services.replies).
One write transaction per missed visit and per slot; natural keys (app.schedule.rules)
make a re-run create nothing new. Logs carry ids and counts only.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from app import audit, clock, queue
from app.domain import Patient, Task, TaskState
from app.domain.outreach import Channel, OutreachKind
from app.errors import ValidationError
from app.identity import Session, require
from app.schedule import rules
from app.schedule.rules import Missed, Visit
from app.services import patients, practice
from app.services import waitlist as waitlist_svc
from automations.workflows import outreach

log = logging.getLogger(__name__)

SYSTEM_ACTOR = "schedule_recovery"
TASK_KIND = "waitlist_offer"
LOOKBACK = timedelta(days=7)     # missed visits older than this are not chased any more
HORIZON = timedelta(days=30)     # freed slots up to this far ahead are offered
MIN_LEAD = timedelta(hours=2)    # a slot closer than this cannot be filled in time
OFFER_REVIEW_WITHIN = timedelta(hours=1)  # a freed slot loses value by the hour


@dataclass
class RecoverySummary:
    """PHI-free counts of one run."""

    rebooks_created: int = 0
    repeat_flagged: int = 0
    offers_created: int = 0
    offers_closed: int = 0
    unreachable: int = 0
    draft_failures: int = 0  # a visible automation_failure task each
    task_ids: list[int] = field(default_factory=list)

    def to_json(self) -> dict[str, int]:
        return {k: v for k, v in vars(self).items() if isinstance(v, int)}


def channel_for(patient: Patient) -> Channel | None:
    """Text first (rebooking is time-sensitive), email second; None when neither is allowed."""
    if patient.phone.strip() and not patient.sms_opt_out:
        return Channel.SMS
    if patient.email.strip() and not patient.email_opt_out:
        return Channel.EMAIL
    return None


def _zone(system: Session) -> ZoneInfo:
    return ZoneInfo(practice.practice_info(system)["timezone"])


def _history_text(m: Missed, tz: ZoneInfo, window_days: int) -> str:
    what = "No-show" if m.event == "no_show" else "Late cancellation"
    lines = [f"{what}: appointment {m.visit.id}, "
             f"{m.visit.start_at.astimezone(tz):%Y-%m-%d %H:%M %Z}, {m.visit.provider or '-'}"
             f", {m.visit.visit_type}"]
    if m.event == "no_show":
        lines.append(f"Earlier no-shows in the last {window_days} days: "
                     f"{len(m.prior_no_shows)}" + (" (repeat no-show)" if m.repeat else ""))
        lines += [f"  appointment {p.id}, {p.start_at.astimezone(tz):%Y-%m-%d}, "
                  f"{p.provider or '-'}" for p in m.prior_no_shows]
    return "\n".join(lines)


def _failure_key(system: Session, key: str) -> str:
    """`key` while its task is open; once a person closed it (thinking it fixed), the next
    free `key:n`: the closed task's key would hand back the closed task, telling no one
    that the draft still fails."""
    found, n = key, 0
    while (row := system.vault.query_one("SELECT state FROM tasks WHERE natural_key = ?",
                                         (found,))) is not None and \
            TaskState(row[0]) not in queue.OPEN_STATES:
        n += 1
        found = f"{key}:{n}"
    return found


def _rebook(system: Session, m: Missed, tz: ZoneInfo, window_days: int,
            summary: RecoverySummary) -> None:
    patient = patients._load_patient(system, m.visit.patient_id)
    channel = channel_for(patient)
    if channel is None:
        summary.unreachable += 1
        return
    kind = OutreachKind.NO_SHOW if m.event == "no_show" else OutreachKind.CANCELLATION
    try:
        with system.vault.write():
            outcome = outreach.draft_outreach(
                system, patient.id, kind.value, channel.value, when=m.visit.start_at,
                ref=f"appt{m.visit.id}", use_model=False,
                flag="repeat no-show" if m.repeat else "",
                history=[queue.NewEvidence("Visit history",
                                           excerpt=_history_text(m, tz, window_days))])
    except ValidationError as exc:
        if channel_for(patients._load_patient(system, patient.id)) is not channel:
            # The patient opted out (or the contact was removed) between the read and
            # the draft: unreachable on that channel now, as if read a moment later.
            log.info("appointment %s: no rebook draft (opted out mid-run)", m.visit.id)
            summary.unreachable += 1
            return
        # Anything else is a problem a person must see, not a quiet "unreachable".
        task, created = queue.create_task(
            system, "automation_failure",
            _failure_key(system, f"schedule:rebook:appt{m.visit.id}:failed"),
            f"No rebook message could be drafted (appointment {m.visit.id})",
            priority=queue.PRIORITY_HIGH, subject_type="appointment",
            subject_id=m.visit.id, patient_id=patient.id,
            draft=(f"The {kind.value.replace('_', ' ')} message for appointment "
                   f"{m.visit.id} was not drafted: {exc}. Fix the cause; the next run "
                   "drafts it (or draft it with 'offhold outreach draft')."),
            payload={"appointment_id": m.visit.id, "channel": channel.value})
        log.info("appointment %s: rebook draft failed (%s), task %s", m.visit.id,
                 type(exc).__name__, task.id)
        if created:
            summary.draft_failures += 1
            summary.task_ids.append(task.id)
        return
    if outcome.created:
        summary.rebooks_created += 1
        summary.repeat_flagged += m.repeat
        summary.task_ids.append(outcome.task.id)


def rebook_key(m: Missed, channel: Channel) -> str:
    kind = OutreachKind.NO_SHOW if m.event == "no_show" else OutreachKind.CANCELLATION
    return f"outreach:{kind.value}:{m.visit.patient_id}:{channel.value}:appt{m.visit.id}"


def offer_key(slot_id: int, entry_id: int) -> str:
    return f"waitlist:slot{slot_id}:entry{entry_id}"


def hold_key(offer_id: int) -> str:
    return f"waitlist:hold:offer{offer_id}"


def _offer(system: Session, slot: Visit, ranked: list[rules.Ranked], cand: rules.Ranked,
           tz: ZoneInfo, hold_hours: int, summary: RecoverySummary) -> None:
    patient = patients._load_patient(system, cand.entry.patient_id)
    channel = channel_for(patient)
    assert channel is not None  # unreachable patients were left out of the ranking
    message, _runs = outreach.compose(system, patient, OutreachKind.WAITLIST_OFFER, channel,
                                      when=slot.start_at, use_model=False,
                                      hold_hours=hold_hours)
    ranking = "\n".join(f"{r.rank}. waitlist entry {r.entry.id} (patient {r.entry.patient_id})"
                        f": {'; '.join(r.reasons)}" for r in ranked)
    with system.vault.write():
        task, created = queue.create_task(
            system, TASK_KIND, offer_key(slot.id, cand.entry.id),
            f"Offer the freed {slot.start_at.astimezone(tz):%a %b %d %H:%M} slot "
            f"(rank {cand.rank} of {len(ranked)})", draft=message.body,
            due_at=min(clock.now() + OFFER_REVIEW_WITHIN, slot.start_at - MIN_LEAD),
            priority=queue.PRIORITY_HIGH, subject_type="appointment", subject_id=slot.id,
            patient_id=patient.id,
            payload={"kind": OutreachKind.WAITLIST_OFFER.value, "channel": channel.value,
                     "recipient": message.recipient, "subject": message.subject,
                     "tcpa_exempt": True, "slot_appointment_id": slot.id,
                     "entry_id": cand.entry.id, "rank": cand.rank,
                     "reasons": list(cand.reasons), "hold_hours": hold_hours},
            evidence=[queue.NewEvidence(
                "Why this patient", excerpt=f"Freed slot: appointment {slot.id} "
                f"({slot.provider or '-'}, {slot.visit_type}), "
                f"{slot.start_at.astimezone(tz):%Y-%m-%d %H:%M %Z}\nRanking:\n{ranking}"),
                *outreach.checks_evidence(message)],
            update_open=False)
        waitlist_svc.record_offer(system, cand.entry.id, slot.id, cand.rank,
                                  list(cand.reasons), task.id)
    if created:
        summary.offers_created += 1
        summary.task_ids.append(task.id)


def _fill_slots(system: Session, visits: list[Visit], now: datetime, tz: ZoneInfo,
                hold_hours: int, summary: RecoverySummary) -> None:
    booked = [(v.provider, v.start_at) for v in visits if v.status in ("scheduled",
                                                                        "completed")]
    freed = [v for v in visits if v.status == "cancelled"
             and rules.slot_still_open(v, now, MIN_LEAD, booked)]
    if not freed:
        return
    reachable: list[rules.WaitlistEntry] = []
    for entry in waitlist_svc.list_entries(system):
        if channel_for(patients._load_patient(system, entry.patient_id)) is not None:
            reachable.append(entry)
    for slot in freed:
        offers = waitlist_svc.slot_offers(system, slot.id)
        if any(o["state"] in ("drafted", "offered", "accepted") for o in offers):
            continue  # one candidate at a time: the open offer holds the slot
        busy = [v.patient_id for v in visits if v.start_at == slot.start_at
                and v.status == "scheduled"]
        ranked = rules.rank_candidates(slot, reachable, tz, now, busy_patients=busy)
        cand = rules.next_candidate(ranked, (o["entry_id"] for o in offers))
        if cand is not None:
            _offer(system, slot, ranked, cand, tz, hold_hours, summary)


def run_recovery(system: Session) -> RecoverySummary:
    """One pass over the schedule around now, as a system session (see the module doc)."""
    now = clock.now()
    tz = _zone(system)

    def setting(key: str) -> int:
        return int(practice.get_setting(system, key))

    window = setting("no_show_repeat_window_days")
    hold_hours = setting("waitlist_hold_hours")
    grace = setting("no_show_grace_minutes")
    summary = RecoverySummary()
    summary.offers_closed, holds = waitlist_svc.close_stale_offers(system, now)
    for task_id in holds:
        queue.reject(system, task_id, "no answer before the hold ended; the slot goes to "
                     "the next candidate")
    visits = waitlist_svc.schedule_window(system, now - LOOKBACK, now + HORIZON)
    cancel_seen = waitlist_svc.observe_cancellations(
        system, [v.id for v in visits if v.status == "cancelled"])
    patient_ids = {v.patient_id for v in visits}
    history = waitlist_svc.no_shows_since(system, sorted(patient_ids),
                                          now - LOOKBACK - timedelta(days=window))
    missed = rules.find_missed(visits, history, now,
                               grace=timedelta(minutes=grace) if grace > 0 else None,
                               late_hours=setting("late_cancel_hours"),
                               repeat_count=setting("no_show_repeat_count"),
                               window_days=window, cancel_seen=cancel_seen)
    keys = {rebook_key(m, ch): m for m in missed for ch in (Channel.SMS, Channel.EMAIL)}
    done = waitlist_svc.existing_task_keys(system, list(keys))
    for m in missed:
        if not any(rebook_key(m, ch) in done for ch in (Channel.SMS, Channel.EMAIL)):
            _rebook(system, m, tz, window, summary)
    _fill_slots(system, visits, now, tz, hold_hours, summary)
    audit.record_now(system.vault, system, "schedule.recovery_run", object_type="schedule",
                     details=summary.to_json())
    return summary


def send_offer(session: Session, task: Task) -> str:
    """The waitlist_offer effect: the offer goes to the outbox (re-checked like any
    outreach) and the slot is held for this patient, in one transaction."""
    payload = task.payload
    hold_until = clock.now() + timedelta(hours=int(payload.get("hold_hours", 4)))
    offers = waitlist_svc.slot_offers(session, int(payload["slot_appointment_id"]))
    offer = next((o for o in offers if o["entry_id"] == int(payload["entry_id"])), None)
    if offer is None:
        raise ValidationError(f"task {task.id} has no waitlist offer recorded")
    tz = _zone(session)
    with session.vault.write():
        note = outreach.send_to_outbox(session, task)
        waitlist_svc.mark_offered(session, int(offer["id"]), hold_until)
        queue.create_task(
            session, "waitlist_hold", hold_key(int(offer["id"])),
            f"Held slot: did the patient take it? (until "
            f"{hold_until.astimezone(tz):%a %H:%M})", due_at=hold_until,
            priority=queue.PRIORITY_HIGH, subject_type="appointment",
            subject_id=payload["slot_appointment_id"], patient_id=task.patient_id,
            payload={"offer_id": int(offer["id"]), "offer_task_id": task.id,
                     "slot_appointment_id": payload["slot_appointment_id"]},
            evidence=[queue.NewEvidence("The offer", excerpt=(
                f"Sent by {payload['channel']} (task {task.id}); the slot is held until "
                f"{hold_until.astimezone(tz):%Y-%m-%d %H:%M %Z}.\nApprove when the patient "
                "says yes: the visit is booked. Reject if they decline: the next "
                "candidate is offered.\n\n" + task.draft))])
    return f"{note}; slot held until {clock.iso(hold_until)}"


def book_held_slot(session: Session, task: Task) -> str:
    """The waitlist_hold effect: the patient said yes, so the slot is booked for them."""
    appointment_id = waitlist_svc.accept_offer(session, int(task.payload["offer_id"]))
    return f"appointment {appointment_id} booked"


def run_now(session: Session) -> RecoverySummary:
    """A person's "run now": their role is checked and audited, then the workflow runs as
    the system actor (the drafts are the workflow's, not the person's)."""
    require(session, "appointment.manage")
    audit.record_now(session.vault, session, "schedule.recovery_now", object_type="schedule")
    return run_recovery(Session.system(session.vault, SYSTEM_ACTOR))
