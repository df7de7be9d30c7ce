"""Calendar helpers in the practice's time zone.

Stored times are aware UTC datetimes; the practice's wall clock is `practice.timezone`
(an IANA name, via zoneinfo). Business days are Monday to Friday minus the practice's
closed days (`holidays`, local dates). Business hours are whole local hours
[start_hour, end_hour).
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from app.errors import ValidationError

NO_HOLIDAYS: frozenset[date] = frozenset()


def zone(name: str) -> ZoneInfo:
    """The practice's zone; a clear error for a misspelt name."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValidationError(f"unknown time zone {name!r} (use an IANA name such as "
                              "America/New_York)") from exc


def local(dt: datetime, tz: ZoneInfo) -> datetime:
    """An aware UTC datetime shown on the practice's wall clock."""
    if dt.tzinfo is None:
        raise ValueError("naive datetime; OffHold stores aware UTC times")
    return dt.astimezone(tz)


def local_date(dt: datetime, tz: ZoneInfo) -> date:
    return local(dt, tz).date()


def at_local(day: date, hour: int, tz: ZoneInfo, minute: int = 0) -> datetime:
    """The UTC instant of a local wall-clock time. In the repeated hour at a DST end the
    first (daylight) instant is taken; a time skipped at DST start resolves forward."""
    wall = datetime.combine(day, time(hour, minute), tzinfo=tz)
    return wall.astimezone(timezone.utc)


def is_business_day(day: date, holidays: Collection[date] = NO_HOLIDAYS) -> bool:
    return day.weekday() < 5 and day not in holidays


def add_business_days(day: date, count: int,
                      holidays: Collection[date] = NO_HOLIDAYS) -> date:
    """The business day `count` business days after `day` (count >= 0; 0 = `day` itself
    if it is a business day, else the next one)."""
    if count < 0:
        raise ValueError("count must be >= 0")
    current = day
    while not is_business_day(current, holidays):
        current += timedelta(days=1)
    while count:
        current += timedelta(days=1)
        if is_business_day(current, holidays):
            count -= 1
    return current


def business_days_between(start: date, end: date,
                          holidays: Collection[date] = NO_HOLIDAYS) -> int:
    """Business days in (start, end]: how many business days have passed since `start`.
    A change on Friday checked the next Monday is 1 business day old."""
    if end <= start:
        return 0
    # Whole weeks first so long spans cost O(1) plus at most 6 single days.
    days = (end - start).days
    weeks, rest = divmod(days, 7)
    count = weeks * 5
    for offset in range(1, rest + 1):
        if (start + timedelta(days=offset)).weekday() < 5:
            count += 1
    count -= sum(1 for h in holidays if start < h <= end and h.weekday() < 5)
    return count


def in_business_hours(at: datetime, tz: ZoneInfo, start_hour: int, end_hour: int,
                      holidays: Collection[date] = NO_HOLIDAYS) -> bool:
    wall = local(at, tz)
    return is_business_day(wall.date(), holidays) and start_hour <= wall.hour < end_hour


def next_business_moment(at: datetime, tz: ZoneInfo, start_hour: int, end_hour: int,
                         holidays: Collection[date] = NO_HOLIDAYS) -> datetime:
    """`at` itself if it falls in business hours, else the next opening (UTC)."""
    if not 0 <= start_hour < end_hour <= 24:
        raise ValidationError(f"business hours {start_hour}-{end_hour} are not a valid range")
    if in_business_hours(at, tz, start_hour, end_hour, holidays):
        return at
    wall = local(at, tz)
    day = wall.date()
    if wall.hour >= end_hour or not is_business_day(day, holidays):
        day += timedelta(days=1)
    while not is_business_day(day, holidays):
        day += timedelta(days=1)
    return at_local(day, start_hour, tz)
