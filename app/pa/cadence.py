"""How often to look at a PA: more often as its decision deadline or date of service gets
close, only during the practice's business hours, never once it is decided.

Input and output times are aware UTC; business hours are local hours in `tz`.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from app.domain.pa import PAStatus
from app.pa.business import NO_HOLIDAYS, at_local, next_business_moment


@dataclass(frozen=True)
class Cadence:
    """Tiers of (time left until the nearer of deadline / service day, check interval),
    tried in order; the last interval applies beyond them. Tests use a fast cadence
    (seconds, business hours off) to exercise the scheduler in real time."""

    tiers: tuple[tuple[timedelta, timedelta], ...] = field(default_factory=lambda: (
        (timedelta(hours=24), timedelta(hours=1)),   # overdue or due within a day: hourly
        (timedelta(hours=72), timedelta(hours=2)),
        (timedelta(days=7), timedelta(hours=4)),
    ))
    beyond: timedelta = timedelta(hours=24)
    business_hours_only: bool = True

    @classmethod
    def fast(cls, seconds: float) -> "Cadence":
        step = timedelta(seconds=seconds)
        return cls(tiers=(), beyond=step, business_hours_only=False)


DEFAULT_CADENCE = Cadence()


def interval_for(time_left: timedelta, cadence: Cadence = DEFAULT_CADENCE) -> timedelta:
    for horizon, interval in cadence.tiers:
        if time_left <= horizon:
            return interval
    return cadence.beyond


def next_check_at(*, now: datetime, status: PAStatus, decision_due_at: datetime,
                  service_date: date, tz: ZoneInfo, start_hour: int, end_hour: int,
                  cadence: Cadence = DEFAULT_CADENCE,
                  holidays: Collection[date] = NO_HOLIDAYS) -> datetime | None:
    """When to check next (UTC), or None when the status needs no more checks."""
    if status.is_terminal:
        return None
    service_start = at_local(service_date, start_hour, tz)
    nearest = min(decision_due_at, service_start)
    candidate = now + interval_for(nearest - now, cadence)
    if not cadence.business_hours_only:
        return candidate
    return next_business_moment(candidate, tz, start_hour, end_hour, holidays)
