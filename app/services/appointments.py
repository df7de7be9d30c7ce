"""Appointments entered by the front desk (add, reschedule, cancel, no-show) and the fee
schedule: the allowed amount per payer and visit type that estimates use. Times are given
in the practice's time zone and stored as UTC."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from app import audit, clock
from app.domain import Appointment
from app.errors import NotFound, ValidationError
from app.identity import Session, require
from app.services.patients import find_payer
from app.services.prior_auth import practice_zone

_VISIT_TYPE_CHARS = set("abcdefghijklmnopqrstuvwxyz0123456789_")


def _parse_local(session: Session, when: datetime | str) -> datetime:
    """`when` as an aware datetime, or 'YYYY-MM-DD HH:MM' in the practice's time zone."""
    if isinstance(when, datetime):
        if when.tzinfo is None:
            raise ValidationError("the appointment time needs a time zone")
        return when
    try:
        local = datetime.strptime(when.strip().replace("T", " "), "%Y-%m-%d %H:%M")
    except ValueError as exc:
        raise ValidationError(f"appointment time must be YYYY-MM-DD HH:MM, got {when!r}") \
            from exc
    return local.replace(tzinfo=practice_zone(session))


def _visit_type(text: str) -> str:
    value = text.strip().lower()
    if not value or not set(value) <= _VISIT_TYPE_CHARS or len(value) > 40:
        raise ValidationError("visit type is a short code of letters, digits and _ "
                              f"(e.g. office_visit), not {text!r}")
    return value


def _from_row(row: Any) -> Appointment:
    return Appointment(id=row[0], patient_id=row[1], start_at=clock.parse_iso(row[2]),
                       provider=row[3], visit_type=row[4], status=row[5])


_COLUMNS = "id, patient_id, start_at, provider, visit_type, status"


def _load(session: Session, appointment_id: int) -> Appointment:
    row = session.vault.query_one(f"SELECT {_COLUMNS} FROM appointments WHERE id = ?",
                                  (appointment_id,))
    if row is None:
        raise NotFound(f"no appointment {appointment_id}")
    return _from_row(row)


def add_appointment(session: Session, patient_id: int, start_at: datetime | str, *,
                    provider: str = "", visit_type: str = "office_visit") -> Appointment:
    require(session, "appointment.manage", patient_id=patient_id)
    start = _parse_local(session, start_at)
    kind = _visit_type(visit_type)
    vault = session.vault
    with vault.write() as conn:
        row = conn.execute("SELECT merged_into FROM patients WHERE id = ?",
                           (patient_id,)).fetchone()
        if row is None:
            raise NotFound(f"no patient {patient_id}")
        if row[0] is not None:
            raise ValidationError(f"patient {patient_id} was merged into {row[0]}")
        cur = conn.execute("INSERT INTO appointments (patient_id, provider, start_at, "
                           "visit_type, status, created_at) VALUES (?,?,?,?,?,?)",
                           (patient_id, provider.strip(), clock.iso(start), kind, "scheduled",
                            clock.iso(clock.now())))
        appointment_id = int(cur.lastrowid)
        audit.record(vault, conn, session, "appointment.create", "appointment",
                     appointment_id, patient_id=patient_id,
                     details={"visit_type": kind, "start_at": clock.iso(start)})
    return _load(session, appointment_id)


def _change(session: Session, appointment_id: int, action: str, **values: Any) -> Appointment:
    before = _load(session, appointment_id)
    require(session, "appointment.manage", patient_id=before.patient_id)
    if before.status in ("cancelled", "completed"):
        raise ValidationError(f"appointment {appointment_id} is already {before.status}")
    vault = session.vault
    with vault.write() as conn:
        for column, value in values.items():
            conn.execute(f"UPDATE appointments SET {column} = ? WHERE id = ?",
                         (value, appointment_id))
        audit.record(vault, conn, session, action, "appointment", appointment_id,
                     patient_id=before.patient_id,
                     details={"before": {k: clock.iso(before.start_at) if k == "start_at"
                                         else getattr(before, k) for k in values},
                              "after": values})
    return _load(session, appointment_id)


def reschedule_appointment(session: Session, appointment_id: int, start_at: datetime | str,
                           *, provider: str | None = None) -> Appointment:
    """Move a visit (and optionally change its provider); a cancelled one stays cancelled."""
    require(session, "appointment.manage")
    start = _parse_local(session, start_at)
    values: dict[str, Any] = {"start_at": clock.iso(start), "status": "scheduled"}
    if provider is not None:
        values["provider"] = provider.strip()
    return _change(session, appointment_id, "appointment.reschedule", **values)


def cancel_appointment(session: Session, appointment_id: int) -> Appointment:
    require(session, "appointment.manage")
    return _change(session, appointment_id, "appointment.cancel", status="cancelled")


def mark_no_show(session: Session, appointment_id: int) -> Appointment:
    """The patient did not come: the no-show workflow drafts the follow-up."""
    require(session, "appointment.manage")
    appt = _load(session, appointment_id)
    if appt.start_at > clock.now():
        raise ValidationError("a visit that has not started yet cannot be a no-show")
    return _change(session, appointment_id, "appointment.no_show", status="no_show")


def list_appointments(session: Session, first_day: date, days: int = 1,
                      include_cancelled: bool = False) -> list[Appointment]:
    """Visits from `first_day` (a practice-local date) for `days` days, by start time."""
    require(session, "patient.view")
    tz = practice_zone(session)
    start = datetime.combine(first_day, time(0), tz)
    end = start + timedelta(days=days)
    status = "" if include_cancelled else "AND status != 'cancelled'"
    rows = session.vault.query(
        f"SELECT {_COLUMNS} FROM appointments WHERE start_at >= ? AND start_at < ? {status} "
        "ORDER BY start_at, id", (clock.iso(start), clock.iso(end)))
    audit.record_now(session.vault, session, "appointment.list", object_type="appointment",
                     details={"from": first_day.isoformat(), "days": days,
                              "results": len(rows)})
    return [_from_row(r) for r in rows]


# -- the fee schedule ------------------------------------------------------------------------

@dataclass(frozen=True)
class Fee:
    payer_id: int
    payer_name: str
    visit_type: str
    allowed_amount: Decimal


def set_fee(session: Session, payer: str | int, visit_type: str, amount: str) -> Fee:
    """The payer's allowed amount for a visit type, in dollars; 'none' removes it."""
    require(session, "payer.manage")
    payer_obj = find_payer(session, str(payer))
    kind = _visit_type(visit_type)
    vault = session.vault
    if amount.strip().lower() == "none":
        with vault.write() as conn:
            conn.execute("DELETE FROM fee_schedule WHERE payer_id = ? AND visit_type = ?",
                         (payer_obj.id, kind))
            audit.record(vault, conn, session, "fee.delete", "payer", payer_obj.id,
                         details={"visit_type": kind})
        return Fee(payer_obj.id, payer_obj.name, kind, Decimal("0"))
    try:
        value = Decimal(amount.strip().lstrip("$")).quantize(Decimal("0.01"))
    except (InvalidOperation, ArithmeticError) as exc:
        raise ValidationError(f"allowed amount must be a number of dollars, not {amount!r}") \
            from exc
    if not Decimal("0") <= value < Decimal("1000000"):
        raise ValidationError("allowed amount must be from $0 to $999,999.99")
    with vault.write() as conn:
        conn.execute("INSERT INTO fee_schedule (payer_id, visit_type, allowed_amount, "
                     "updated_at) VALUES (?,?,?,?) ON CONFLICT(payer_id, visit_type) DO UPDATE "
                     "SET allowed_amount = excluded.allowed_amount, "
                     "updated_at = excluded.updated_at",
                     (payer_obj.id, kind, str(value), clock.iso(clock.now())))
        audit.record(vault, conn, session, "fee.set", "payer", payer_obj.id,
                     details={"visit_type": kind, "allowed_amount": str(value)})
    return Fee(payer_obj.id, payer_obj.name, kind, value)


def list_fees(session: Session) -> list[Fee]:
    """The whole fee schedule: contract amounts, no PHI."""
    return [Fee(r[0], r[1], r[2], Decimal(r[3])) for r in session.vault.query(
        "SELECT f.payer_id, p.name, f.visit_type, f.allowed_amount FROM fee_schedule f "
        "JOIN payers p ON p.id = f.payer_id ORDER BY p.name, f.visit_type")]


def allowed_for_patient(session: Session, patient_id: int, visit_type: str) -> Decimal | None:
    """The fee-schedule amount for the patient's primary active coverage, if one is set."""
    row = session.vault.query_one(
        "SELECT f.allowed_amount FROM coverages c JOIN fee_schedule f ON f.payer_id = "
        "c.payer_id AND f.visit_type = ? WHERE c.patient_id = ? AND c.active = 1 "
        "ORDER BY c.priority, c.id LIMIT 1", (visit_type, patient_id))
    return Decimal(row[0]) if row else None
