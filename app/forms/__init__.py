"""Checks for the data-entry forms, pure and Qt-free, so a form can validate as the person
types and a test can check the rules without a window. Each returns {field: message}; an
empty dict means the values may be saved (the services check again on save)."""

from __future__ import annotations

import re
from datetime import date, datetime

from app import clock

_PHONE = re.compile(r"^[+()\d][\d ().-]{6,19}$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_CPT = re.compile(r"^[A-Z0-9]\d{3}[A-Z0-9]$")
RELATIONSHIPS = ("self", "spouse", "child", "other")


def _date(text: str) -> date | None:
    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        return None


def patient_errors(values: dict[str, str], today: date) -> dict[str, str]:
    """first_name, last_name, dob (YYYY-MM-DD), and optional phone and email."""
    out: dict[str, str] = {}
    for key, label in (("first_name", "first name"), ("last_name", "last name")):
        if not values.get(key, "").strip():
            out[key] = f"the {label} is required"
    dob_text = values.get("dob", "").strip()
    born = _date(dob_text)
    if not dob_text:
        out["dob"] = "the date of birth is required"
    elif born is None:
        out["dob"] = "date of birth as YYYY-MM-DD"
    elif born > today:
        out["dob"] = "the date of birth is in the future"
    elif born.year < today.year - 130:
        out["dob"] = "the date of birth is more than 130 years ago"
    phone = values.get("phone", "").strip()
    if phone and not _PHONE.match(phone):
        out["phone"] = "a phone number: digits, spaces, ( ) - + only"
    email = values.get("email", "").strip()
    if email and not _EMAIL.match(email):
        out["email"] = "an email address like name@example.org"
    return out


def coverage_errors(values: dict[str, str]) -> dict[str, str]:
    """One coverage block: payer, member_id, subscriber_relationship, subscriber_name,
    subscriber_dob, effective_date, termination_date. A block with no payer is simply not saved."""
    out: dict[str, str] = {}
    if not values.get("payer", "").strip():
        return out
    if not values.get("member_id", "").strip():
        out["member_id"] = "the member ID is required"
    relationship = values.get("subscriber_relationship", "self") or "self"
    if relationship not in RELATIONSHIPS:
        out["subscriber_relationship"] = "one of: " + ", ".join(RELATIONSHIPS)
    elif relationship != "self" and not values.get("subscriber_name", "").strip():
        out["subscriber_name"] = "name the subscriber (the patient is not)"
    sub_dob_text = values.get("subscriber_dob", "").strip()
    if sub_dob_text:
        sub_dob = _date(sub_dob_text)
        if sub_dob is None:
            out["subscriber_dob"] = "YYYY-MM-DD"
        elif sub_dob > clock.now().date():
            out["subscriber_dob"] = "the subscriber's birth date is in the future"
    start_text, end_text = (values.get(k, "").strip()
                            for k in ("effective_date", "termination_date"))
    start, end = _date(start_text), _date(end_text)
    if start_text and start is None:
        out["effective_date"] = "YYYY-MM-DD"
    if end_text and end is None:
        out["termination_date"] = "YYYY-MM-DD"
    if start and end and end < start:
        out["termination_date"] = "the coverage ends before it starts"
    return out


SERVICE_FIELDS = ("code", "units", "modifier", "service_from", "service_to")


def pa_request_errors(values: dict[str, str], lines: list[dict[str, str]]
                      ) -> dict[str, str]:
    """A PA request with service lines: service_date (the PA's first date of service) and
    each line's code, units, optional modifier and dates (blank = the PA's date), keyed
    'line_N_field' (N from 1). The rules are app.services.prior_auth.validate_lines'."""
    out: dict[str, str] = {}
    first = _date(values.get("service_date", ""))
    if first is None:
        out["service_date"] = "date of service as YYYY-MM-DD"
    if not lines:
        out["line_1_code"] = "add at least one service line"
    for n, line in enumerate(lines, 1):
        key = f"line_{n}_"
        if not _CPT.match(line.get("code", "").strip().upper()):
            out[key + "code"] = "a 5-character CPT/HCPCS code alone, e.g. 97110"
        units = line.get("units", "").strip()
        if not units.isdecimal() or len(units) > 4 or not 0 < int(units) <= 9999:
            out[key + "units"] = "a whole number from 1 to 9999"
        modifier = line.get("modifier", "").strip()
        if modifier and not re.fullmatch(r"[A-Za-z0-9]{2}", modifier):
            out[key + "modifier"] = "2 letters or digits, e.g. GP"
        texts = [line.get(k, "").strip() for k in ("service_from", "service_to")]
        start, end = (_date(t) if t else None for t in texts)
        for k, text, day in zip(("service_from", "service_to"), texts, (start, end)):
            if text and day is None:
                out[key + k] = "YYYY-MM-DD, or blank for the PA's date"
        start = start or first
        if start and end and end < start:
            out[key + "service_to"] = "ends before it starts"
        if start and first and start < first:
            out[key + "service_from"] = "before the PA's date of service"
    return out


def portal_url_problem(url: str) -> str:
    """What is wrong with a payer's portal address, or '' (empty is allowed: none set).
    https only, except http on this machine (the sandbox portal): the payer's log-in is
    typed on this origin, so it must not travel in the clear or carry credentials."""
    import ipaddress
    from urllib.parse import urlsplit

    url = url.strip()
    if not url:
        return ""
    try:
        parts = urlsplit(url)
        host = (parts.hostname or "").lower()
        port = parts.port  # raises ValueError on a port out of range
    except ValueError:
        return "is not a valid address"
    if port == 0:
        return "is not a valid address"
    if parts.scheme not in ("https", "http") or not host or any(c.isspace() for c in url):
        return "must be https://host/..."
    if parts.username or parts.password:
        return "must not hold a user name or password"
    if parts.scheme == "http":
        try:
            loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
        except ValueError:
            loopback = False
        if not loopback:
            return "must use https (http only for a portal on this machine, the sandbox)"
    return ""


def appointment_errors(values: dict[str, str]) -> dict[str, str]:
    """start ('YYYY-MM-DD HH:MM', practice time) and visit_type (a short code)."""
    out: dict[str, str] = {}
    try:
        datetime.strptime(values.get("start", "").strip(), "%Y-%m-%d %H:%M")
    except ValueError:
        out["start"] = "date and time as YYYY-MM-DD HH:MM"
    if not re.fullmatch(r"[a-z0-9_]{1,40}", values.get("visit_type", "").strip().lower()):
        out["visit_type"] = "a short code of letters, digits and _ (e.g. office_visit)"
    return out


def payer_errors(values: dict[str, str], existing_names: set[str] | None = None
                 ) -> dict[str, str]:
    """name (new payers), and day counts that must be whole numbers when given."""
    out: dict[str, str] = {}
    name = values.get("name", "").strip()
    if "name" in values and not name:
        out["name"] = "the payer's name is required"
    elif existing_names and name.lower() in {n.lower() for n in existing_names}:
        out["name"] = "a payer with this name exists"
    problem = portal_url_problem(values.get("portal_url", ""))
    if problem:
        out["portal_url"] = problem
    for key in ("decision_days_standard", "decision_hours_expedited", "appeal_window_days",
                "timely_filing_days"):
        text = values.get(key, "").strip()
        if text and (not text.isdecimal() or len(text) > 4 or not 0 < int(text) <= 3650):
            out[key] = "a whole number of days (hours for expedited), 1 to 3650"
    return out


def amount_errors(text: str) -> str:
    """A dollar amount as typed ('$92.50', '92'); empty string when it is fine."""
    cleaned = text.strip().lstrip("$").replace(",", "")
    return "" if re.fullmatch(r"\d{1,6}(\.\d{1,2})?", cleaned) else "dollars, like 92.50"


def npi_valid(npi: str) -> bool:
    """A 10-digit NPI whose last digit is the Luhn check over '80840' + the first nine
    (the CMS NPI check-digit rule)."""
    if not re.fullmatch(r"\d{10}", npi):
        return False
    digits = [int(c) for c in "80840" + npi[:9]]
    total = 0
    for i, d in enumerate(reversed(digits)):
        if i % 2 == 0:  # every other digit from the right, starting with the rightmost
            d *= 2
            d = d - 9 if d > 9 else d
        total += d
    return (10 - total % 10) % 10 == int(npi[9])


def practice_errors(values: dict[str, str]) -> dict[str, str]:
    """name, timezone (IANA), npi, tin (9 digits, dashes allowed), address, phone."""
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError
    out: dict[str, str] = {}
    if not values.get("name", "").strip():
        out["name"] = "the practice's name is required"
    zone = values.get("timezone", "").strip()
    try:
        ZoneInfo(zone)
    except (ZoneInfoNotFoundError, ValueError):
        out["timezone"] = "an IANA time zone such as America/Chicago"
    npi = values.get("npi", "").strip()
    if npi and not npi_valid(npi):
        out["npi"] = "10 digits with a valid check digit"
    tin = values.get("tin", "").strip().replace("-", "")
    if tin and not re.fullmatch(r"\d{9}", tin):
        out["tin"] = "9 digits (EIN as 12-3456789)"
    phone = values.get("phone", "").strip()
    if phone and not _PHONE.match(phone):
        out["phone"] = "a phone number: digits, spaces, ( ) - + only"
    return out


_COMMON = {"password", "password1", "letmein", "welcome", "qwerty", "123456789", "iloveyou",
           "admin", "offhold", "practice", "medical", "doctor"}


def password_feedback(password: str, username: str = "", minimum: int = 8
                      ) -> tuple[str, list[str]]:
    """(strength: weak | fair | strong, the problems that make it weak). Length counts
    most; a passphrase of 16+ characters is strong with any characters."""
    problems: list[str] = []
    lowered = password.lower()
    if len(password) < minimum:
        problems.append(f"at least {minimum} characters")
    if username and username.lower() in lowered:
        problems.append("must not contain the user name")
    if lowered.strip("0123456789!") in _COMMON or len(set(password)) < 4:
        problems.append("too common or repetitive")
    if problems:
        return "weak", problems
    classes = sum(bool(re.search(p, password)) for p in
                  (r"[a-z]", r"[A-Z]", r"\d", r"[^A-Za-z0-9]"))
    if len(password) >= 16 or (len(password) >= 12 and classes >= 3):
        return "strong", []
    if len(password) >= 12 or classes >= 3:
        return "fair", []
    return "weak", ["use 12+ characters mixing letters, digits and symbols, or a passphrase"]


def timezone_error(name: str) -> str:
    """'' when `name` is empty (the practice's zone) or an IANA zone zoneinfo knows, else
    what to type instead."""
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError
    name = name.strip()
    if not name:
        return ""
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return "a time zone name such as America/Chicago, or empty for the practice's"
    return ""


def timezone_names() -> list[str]:
    """The IANA zones a person would pick (Region/City), sorted; the Etc/, posix/ and
    right/ aliases and the old country names (US/Eastern) are left out of the list but
    still accepted when typed."""
    from zoneinfo import available_timezones
    return sorted(z for z in available_timezones()
                  if "/" in z and z.split("/")[0] not in ("Etc", "posix", "right", "US",
                                                          "SystemV", "Brazil", "Canada",
                                                          "Chile", "Mexico"))
