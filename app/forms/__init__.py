"""Checks for the data-entry forms, pure and Qt-free, so a form can validate as the person
types and a test can check the rules without a window. Each returns {field: message}; an
empty dict means the values may be saved (the services check again on save)."""

from __future__ import annotations

import re
from datetime import date, datetime

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
    effective_date, termination_date. A block with no payer is simply not saved."""
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


def pa_errors(values: dict[str, str]) -> dict[str, str]:
    """cpt_code, units, service_date for a PA request."""
    out: dict[str, str] = {}
    if not _CPT.match(values.get("cpt_code", "").strip().upper()):
        out["cpt_code"] = "a 5-character CPT/HCPCS code, e.g. 97110"
    units = values.get("units", "").strip()
    if not units.isdigit() or not 0 < int(units) <= 9999:
        out["units"] = "a whole number from 1 to 9999"
    if _date(values.get("service_date", "")) is None:
        out["service_date"] = "date of service as YYYY-MM-DD"
    return out


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
    for key in ("decision_days_standard", "decision_hours_expedited", "appeal_window_days",
                "timely_filing_days"):
        text = values.get(key, "").strip()
        if text and (not text.isdigit() or not 0 < int(text) <= 3650):
            out[key] = "a whole number of days (hours for expedited), 1 to 3650"
    return out


def amount_errors(text: str) -> str:
    """A dollar amount as typed ('$92.50', '92'); empty string when it is fine."""
    cleaned = text.strip().lstrip("$").replace(",", "")
    return "" if re.fullmatch(r"\d{1,6}(\.\d{1,2})?", cleaned) else "dollars, like 92.50"
