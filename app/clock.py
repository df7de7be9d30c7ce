"""One clock for the whole core, so tests can fake time (auto-lock, deadlines, lockouts).
All times are timezone-aware UTC datetimes."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Callable

_now: Callable[[], datetime] = lambda: datetime.now(timezone.utc)


def now() -> datetime:
    """The current time, aware, in UTC."""
    return _now()


def set_clock(fn: Callable[[], datetime] | None) -> None:
    """Replace the clock (tests); None restores the system clock."""
    global _now
    _now = fn if fn is not None else (lambda: datetime.now(timezone.utc))


def iso(dt: datetime) -> str:
    """Store datetimes as ISO-8601 UTC strings that sort correctly."""
    return dt.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_iso(text: str) -> datetime:
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=timezone.utc)
