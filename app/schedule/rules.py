"""No-show and cancellation recovery, and waitlist fill, as pure rules (no vault, no Qt).

The workflow (automations/workflows/no_show.py) reads the schedule, calls these, and turns
the results into tasks with these natural keys:
- `outreach:no_show:{patient}:{channel}:appt{id}`             rebook a missed visit
- `outreach:cancellation_rebook:{patient}:{channel}:appt{id}` rebook a late cancellation
- `waitlist:slot{appt}:entry{entry}`                          offer a freed slot to one
                                                               waitlisted patient
Times are aware datetimes (UTC in storage); days and times of day are judged in the
practice's zone, which the caller passes.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
# Parts of the local day a patient may prefer; the end hour is exclusive.
TIMES_OF_DAY = {"morning": (0, 12), "afternoon": (12, 17), "evening": (17, 24)}


@dataclass(frozen=True)
class Visit:
    """An appointment as the rules see it. `start_at` is aware."""

    id: int
    patient_id: int
    start_at: datetime
    provider: str = ""
    visit_type: str = "office_visit"
    status: str = "scheduled"


@dataclass(frozen=True)
class Missed:
    """A visit to rebook: `event` is 'no_show' or 'late_cancel'. `prior_no_shows` are the
    patient's earlier no-shows inside the repeat window (evidence for the reviewer)."""

    visit: Visit
    event: str
    prior_no_shows: tuple[Visit, ...] = ()
    repeat: bool = False


def is_no_show(visit: Visit, now: datetime, grace: timedelta | None) -> bool:
    """Marked no-show, or still 'scheduled' (never arrived) once `grace` past its start.
    `grace` None: only marked visits count (a schedule export that never marks visits
    completed would otherwise make every past visit a no-show)."""
    return visit.status == "no_show" or (grace is not None and visit.status == "scheduled"
                                         and visit.start_at + grace <= now)


def is_late_cancel(visit: Visit, cancel_seen_at: datetime | None, late_hours: int) -> bool:
    """Cancelled less than `late_hours` before its start. The schedule exports carry no
    cancellation time, so the moment the workflow first saw the cancellation stands in
    for it (the job runs every few minutes)."""
    if visit.status != "cancelled" or cancel_seen_at is None:
        return False
    return visit.start_at - cancel_seen_at <= timedelta(hours=late_hours)


def repeat_no_shows(visit: Visit, history: Iterable[Visit], *, window_days: int
                    ) -> tuple[Visit, ...]:
    """The patient's other no-shows in the `window_days` before this visit (inclusive)."""
    since = visit.start_at - timedelta(days=window_days)
    return tuple(sorted((h for h in history if h.id != visit.id and h.status == "no_show"
                         and h.patient_id == visit.patient_id
                         and since <= h.start_at <= visit.start_at),
                        key=lambda h: h.start_at))


def find_missed(visits: Iterable[Visit], history: Iterable[Visit], now: datetime, *,
                grace: timedelta | None, late_hours: int, repeat_count: int, window_days: int,
                cancel_seen: dict[int, datetime]) -> list[Missed]:
    """Visits to rebook. Repeat: this no-show plus the earlier ones in the window reach
    `repeat_count`. `cancel_seen` maps a cancelled visit's id to when it was first seen."""
    past = list(history)
    out: list[Missed] = []
    for visit in visits:
        if visit.start_at <= now and is_no_show(visit, now, grace):
            prior = repeat_no_shows(visit, past, window_days=window_days)
            out.append(Missed(visit, "no_show", prior, len(prior) + 1 >= repeat_count))
        elif is_late_cancel(visit, cancel_seen.get(visit.id), late_hours):
            out.append(Missed(visit, "late_cancel"))
    return out


@dataclass(frozen=True)
class WaitlistEntry:
    """A patient waiting for an earlier visit. Empty provider or visit type means any;
    empty preferred days or times means any. `earliest`/`latest` are local dates."""

    id: int
    patient_id: int
    earliest: date
    latest: date
    created_at: datetime
    provider: str = ""
    visit_type: str = ""
    preferred_days: tuple[str, ...] = ()
    preferred_times: tuple[str, ...] = ()


@dataclass(frozen=True)
class Ranked:
    entry: WaitlistEntry
    rank: int
    score: int
    reasons: tuple[str, ...] = field(default_factory=tuple)


def time_of_day(hour: int) -> str:
    return next(name for name, (lo, hi) in TIMES_OF_DAY.items() if lo <= hour < hi)


def rank_candidates(slot: Visit, entries: Sequence[WaitlistEntry], tz: ZoneInfo, now: datetime,
                    *, busy_patients: Iterable[int] = ()) -> list[Ranked]:
    """Who should be offered `slot`, best first, with the reason for each rank.

    A candidate must fit: the slot's local date inside their window, the visit type and
    provider they asked for (if any), not the slot's own patient and not already booked at
    that time (`busy_patients`). Among those: same provider +3, preferred day +2,
    preferred time of day +2; ties go to whoever has waited longest, then the lower id."""
    local = slot.start_at.astimezone(tz)
    day, part = WEEKDAYS[local.weekday()], time_of_day(local.hour)
    busy = set(busy_patients) | {slot.patient_id}
    scored: list[tuple[int, WaitlistEntry, list[str]]] = []
    for e in entries:
        if e.patient_id in busy or not e.earliest <= local.date() <= e.latest:
            continue
        if e.visit_type and e.visit_type != slot.visit_type:
            continue
        if e.provider and e.provider != slot.provider:
            continue
        score = 0
        reasons = [f"fits the window {e.earliest.isoformat()} to {e.latest.isoformat()}"]
        if e.provider:
            score += 3
            reasons.append(f"same provider ({slot.provider})")
        if day in e.preferred_days:
            score += 2
            reasons.append(f"preferred day ({day})")
        if part in e.preferred_times:
            score += 2
            reasons.append(f"preferred time ({part})")
        scored.append((score, e, reasons))
    scored.sort(key=lambda s: (-s[0], s[1].created_at, s[1].id))
    out = []
    for n, (score, e, reasons) in enumerate(scored, start=1):
        waited = (now - e.created_at).days
        reasons.append(f"waiting {waited} day{'s' if waited != 1 else ''}" +
                       (", the longest among equals" if _longest_among_equals(scored, n - 1)
                        else ""))
        out.append(Ranked(e, n, score, tuple(reasons)))
    return out


def _longest_among_equals(scored: list[tuple[int, WaitlistEntry, list[str]]], i: int) -> bool:
    """True when waiting time decided this rank over someone with the same score."""
    score = scored[i][0]
    return sum(1 for s in scored if s[0] == score) > 1 and (
        i == 0 or scored[i - 1][0] != score)


def next_candidate(ranked: Sequence[Ranked], tried: Iterable[int]) -> Ranked | None:
    """The best-ranked entry not offered this slot yet (expired or declined offers count
    as tried), or None when the list is used up."""
    done = set(tried)
    return next((r for r in ranked if r.entry.id not in done), None)


def offer_expired(hold_until: datetime, now: datetime) -> bool:
    """An unanswered offer frees its slot for the next candidate at `hold_until`."""
    return now >= hold_until


def slot_still_open(slot: Visit, now: datetime, min_lead: timedelta,
                    booked_starts: Iterable[tuple[str, datetime]]) -> bool:
    """A freed slot is worth offering when it starts at least `min_lead` from now and
    nobody else is booked with its provider at its time."""
    return slot.start_at - now >= min_lead and (slot.provider, slot.start_at) not in set(
        booked_starts)

