"""Payer wording -> normalized status, plus the facts a status line states.

Portals say the same thing many ways ("Pended for clinical review", "In Review",
"Approved - 12 units through 03/31", "Denied - not medically necessary"). Recipes may
already normalize; this is the shared fallback and the parser for units and dates, so
every status source (portal recipe today, FHIR tomorrow) lands on the same values.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, timedelta

from app.domain.pa import PAStatus

# Order matters: the first matching pattern wins ("partially approved" before "approved").
_PATTERNS: tuple[tuple[PAStatus, re.Pattern[str]], ...] = tuple(
    (status, re.compile(pattern, re.IGNORECASE)) for status, pattern in (
        (PAStatus.NOT_FOUND, r"\b(no (record|match|authorization) found|not found|"
                             r"unknown reference)\b"),
        (PAStatus.CANCELLED, r"\b(cancel+ed|withdrawn|voided|void)\b"),
        (PAStatus.EXPIRED, r"\b(expired|lapsed)\b"),
        (PAStatus.PARTIAL, r"\b(partial(ly)?[ -]approved|approved in part|partial approval|"
                           r"modified approval|approved with modification)"),
        (PAStatus.DENIED, r"\b(denied|denial|not approved|adverse determination|rejected|"
                          r"non-?certified)\b"),
        (PAStatus.INFO_REQUESTED, r"(additional (information|info|documentation|records)|"
                                  r"info(rmation)? requested|records requested|"
                                  r"request for information|peer[- ]to[- ]peer|"
                                  r"awaiting (clinical )?(documentation|records))"),
        (PAStatus.APPROVED, r"\b(approved|certified|authorized|affirmed)\b"),
        (PAStatus.PENDING, r"\b(pend(ed|ing)?|in review|under review|clinical review|"
                           r"received|in process|processing|open)\b"),
        (PAStatus.SUBMITTED, r"\b(submitted|queued|draft)\b"),
    ))

_UNITS = re.compile(r"(\d+)\s*(units?|visits?|sessions?)\b", re.IGNORECASE)
_DATE = r"(\d{1,2})/(\d{1,2})(?:/(\d{2,4}))?"
_THROUGH = re.compile(r"\b(?:through|thru|until|to|expires?(?: on)?|valid to)\s+" + _DATE,
                      re.IGNORECASE)
_FROM = re.compile(r"\bfrom\s+" + _DATE, re.IGNORECASE)
_RESPOND_BY = re.compile(r"\b(?:by|before|within)\s+" + _DATE, re.IGNORECASE)
# The same deadline written out ("due by March 14, 2027", "no later than 2027-03-14"):
# found here, read by dateutil.
_MONTHS = (r"(?:jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?|"
           r"sep(?:t(?:ember)?)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)")
_RESPOND_BY_WORDS = re.compile(
    r"\b(?:by|before|no\s+later\s+than|on\s+or\s+before)\s+("
    + _MONTHS + r"\.?\s+\d{1,2}(?:st|nd|rd|th)?,?\s+\d{4}|\d{4}-\d{2}-\d{2})\b",
    re.IGNORECASE)
# "within 180 days of this letter" counts from the letter's date when the words give it.
_LETTER_DATE = re.compile(r"\b(?:letter\s+(?:of|dated)|dated)\s+" + _DATE, re.IGNORECASE)
_WITHIN_DAYS = re.compile(r"\bwithin\s+(\d{1,3})\s+(calendar\s+|business\s+)?days\b",
                          re.IGNORECASE)


class UnknownWording(ValueError):
    """The text matches no known status; the workflow turns this into a recipe_broken
    task rather than guessing."""


@dataclass(frozen=True)
class StatusReading:
    status: PAStatus
    wording: str
    units: int | None = None
    from_date: date | None = None
    through_date: date | None = None
    respond_by: date | None = None
    respond_within_days: int | None = None


def normalize(text: str) -> PAStatus:
    cleaned = " ".join(text.split())
    for status, pattern in _PATTERNS:
        if pattern.search(cleaned):
            return status
    raise UnknownWording(f"unrecognised payer status wording ({len(cleaned)} characters)")


def _date(match: re.Match[str], reference: date) -> date:
    month, day, year = int(match.group(1)), int(match.group(2)), match.group(3)
    if year:
        full = int(year) + (2000 if len(year) == 2 else 0)
        return date(full, month, day)
    # No year ("through 03/31"): the first such date on or after the reference day.
    candidate = date(reference.year, month, day)
    return candidate if candidate >= reference else date(reference.year + 1, month, day)


def read(text: str, reference: date) -> StatusReading:
    """Normalize and pull units, approval span and response deadline from one line.
    `reference` (the local date of the reading) anchors dates written without a year."""
    status = normalize(text)
    wording = " ".join(text.split())
    units = _UNITS.search(wording)
    through = _THROUGH.search(wording)
    start = _FROM.search(wording)
    respond_by, within = deadline(wording, reference, status)
    try:
        return StatusReading(
            status=status, wording=wording,
            units=int(units.group(1)) if units and status.is_decision else None,
            from_date=_date(start, reference) if start else None,
            through_date=_date(through, reference) if through and status.is_decision else None,
            respond_by=respond_by, respond_within_days=within)
    except ValueError as exc:  # e.g. 02/30
        raise UnknownWording(f"a date in the payer's status line is invalid: {exc}") from exc


def deadline(text: str, reference: date, status: PAStatus) -> tuple[date | None, int | None]:
    """The reply date or the day count the payer's words state for a denial or a request
    for information ("a reply is due by 03/14/2027", "you may appeal within 180 days of
    this letter"): (respond_by, within_days), each None when not stated. Dates without a
    year are the next such date from `reference` (the local date of the reading)."""
    if status not in (PAStatus.INFO_REQUESTED, PAStatus.DENIED):
        return None, None
    words = " ".join(text.split())
    within = _WITHIN_DAYS.search(words)
    days = int(within.group(1)) if within else None
    letter = _LETTER_DATE.search(words)
    if days is not None and letter and not (within and within.group(2) and
                                            within.group(2).lower().startswith("business")):
        try:  # a letter date is in the past: a year-less one is the last such date
            sent = _date(letter, reference)
            if sent > reference:
                sent = sent.replace(year=sent.year - 1)
        except ValueError as exc:
            raise UnknownWording(f"a date in the payer's words is invalid: {exc}") from exc
        return sent + timedelta(days=days), days
    numeric = _RESPOND_BY.search(words)
    if numeric:
        try:
            return _date(numeric, reference), days
        except ValueError as exc:  # e.g. 02/30
            raise UnknownWording(f"a date in the payer's words is invalid: {exc}") from exc
    written = _RESPOND_BY_WORDS.search(words)
    if written:
        from dateutil import parser as dateparser
        try:
            return dateparser.parse(written.group(1)).date(), days
        except (ValueError, OverflowError) as exc:
            raise UnknownWording(f"a date in the payer's words is invalid: {exc}") from exc
    return None, days


# Normalized vocabularies of status sources that differ from ours (the portal engine's
# recipes written before their vocabulary became ours say 'pended'; a FHIR ClaimResponse
# adapter would add its own here).
_ALIASES = {"pended": PAStatus.PENDING, "additional_info_requested": PAStatus.INFO_REQUESTED,
            "in_review": PAStatus.PENDING, "partial": PAStatus.PARTIAL}


def from_source(value: str) -> PAStatus:
    """A status source's normalized value -> ours; unknown values raise UnknownWording."""
    key = value.strip().lower()
    if key in _ALIASES:
        return _ALIASES[key]
    try:
        return PAStatus(key)
    except ValueError as exc:
        raise UnknownWording(f"unknown normalized status {value!r}") from exc
