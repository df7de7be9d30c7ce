"""Small element converters shared by the transaction parsers. They raise ValueError,
which the parsers turn into an X12Error naming the segment and its position."""

from __future__ import annotations

import re
from datetime import date
from decimal import Decimal

_NUMBER = re.compile(r"-?(?:\d+\.?\d*|\.\d+)\Z").match


def amount(text: str, what: str, cache: dict[str, Decimal] | None = None) -> Decimal:
    """An X12 'R' number: digits with an optional sign and decimal point (no exponent,
    which could overflow Decimal arithmetic later). `cache` memoizes within one file:
    remittances repeat the same amounts and dates, and a dict hit is far cheaper than
    validating and building a Decimal again (measured in bench/x12.py)."""
    if cache is not None:
        hit = cache.get(text)
        if hit is not None:
            return hit
    if not _NUMBER(text):
        raise ValueError(f"{what} {text[:20]!r} is not a number")
    value = Decimal(text)
    if cache is not None:
        cache[text] = value
    return value


def opt_amount(text: str, what: str) -> Decimal | None:
    return amount(text, what) if text else None


def ccyymmdd(text: str, what: str, cache: dict[str, date] | None = None) -> date:
    if cache is not None:
        hit = cache.get(text)
        if hit is not None:
            return hit
        value = ccyymmdd(text, what)
        cache[text] = value
        return value
    if len(text) != 8 or not text.isdigit():
        raise ValueError(f"{what} {text[:20]!r} is not a CCYYMMDD date")
    try:
        return date(int(text[:4]), int(text[4:6]), int(text[6:]))
    except ValueError:
        raise ValueError(f"{what} {text!r} is not a real date") from None


def el(seg: list[str], i: int) -> str:
    return seg[i] if len(seg) > i else ""


def need(seg: list[str], count: int) -> None:
    """The segment must carry at least `count` elements after its ID."""
    if len(seg) <= count or not seg[count] and count == 1:
        raise ValueError(f"{seg[0]} needs at least {count} elements, has {len(seg) - 1}")


def date_range(qualifier: str, value: str, what: str) -> tuple[date, date]:
    """DTP D8 (one date) or RD8 (from-to)."""
    if qualifier == "RD8":
        start, _, end = value.partition("-")
        return ccyymmdd(start, what), ccyymmdd(end, what)
    one = ccyymmdd(value, what)
    return one, one


def check_version(version: str, accepted: tuple[str, ...], set_id: str) -> str | None:
    """None when the implementation reference is one we parse; else the problem text."""
    if any(version.startswith(a) for a in accepted):
        return None
    return (f"transaction {set_id} says version {version or '(none)'!r}; OffHold reads "
            + " or ".join(accepted))
