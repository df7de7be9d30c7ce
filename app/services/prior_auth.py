"""Prior authorizations: add, list, view, and record what the payer says.

Roles: `pa.manage` adds and edits; `pa.check` views, lists and records status (the
follow-up workflow acts as a system session, which holds every role). Every change writes
its audit row in the same transaction. Times are stored in UTC (app.clock.iso) and shown
in the practice's zone (`practice_zone`); service and approval dates are local dates.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from app import audit, clock
from app.domain import PlanType
from app.domain.pa import OPEN_STATUSES, PAStatus, PAStatusChange, PriorAuth, Urgency
from app.errors import NotFound, ValidationError
from app.identity import Session, require
from app.pa import business
from app.pa.clocks import decision_clock
from app.services.patients import find_payer
from app.vault.db import Connection

# CPT (5 digits, or 4 digits + F/T/U for Category II/III/PLA) or HCPCS Level II (letter +
# 4 digits). Codes only: CPT descriptions are licensed by the AMA and never stored.
_CODE = re.compile(r"^(\d{4}[0-9FTU]|[A-V]\d{4})$")
MAX_UNITS = 9999

PA_COLUMNS = ("a.id, a.patient_id, a.payer_id, a.plan_type, a.cpt_code, a.units, "
              "a.service_date, a.urgency, a.submitted_at, a.payer_ref, a.status, "
              "a.status_changed_at, a.decision_due_at, a.clock_basis, a.coverage_id, "
              "a.approved_units, a.approved_from, a.approved_through, a.expires_on, "
              "a.last_checked_at, a.next_check_at, a.created_at, p.name")
_FROM = "FROM prior_auths a JOIN payers p ON p.id = a.payer_id"


def _d(text: str | None) -> date | None:
    return date.fromisoformat(text) if text else None


def _t(text: str | None) -> datetime | None:
    return clock.parse_iso(text) if text else None


def _from_row(row: Any) -> PriorAuth:
    return PriorAuth(
        id=row[0], patient_id=row[1], payer_id=row[2], plan_type=PlanType(row[3]),
        cpt_code=row[4], units=row[5], service_date=date.fromisoformat(row[6]),
        urgency=Urgency(row[7]), submitted_at=clock.parse_iso(row[8]), payer_ref=row[9],
        status=PAStatus(row[10]), status_changed_at=clock.parse_iso(row[11]),
        decision_due_at=clock.parse_iso(row[12]), clock_basis=row[13], coverage_id=row[14],
        approved_units=row[15], approved_from=_d(row[16]), approved_through=_d(row[17]),
        expires_on=_d(row[18]), last_checked_at=_t(row[19]), next_check_at=_t(row[20]),
        created_at=_t(row[21]), payer_name=row[22])


def practice_zone(session: Session) -> ZoneInfo:
    """The practice's time zone (practice.timezone), for showing times and local dates."""
    row = session.vault.query_one("SELECT timezone FROM practice WHERE id = 1")
    return business.zone(row[0] if row else "America/New_York")


def validate_code(code: str) -> str:
    cleaned = code.strip().upper()
    if not _CODE.match(cleaned):
        raise ValidationError(
            f"service code must be a CPT/HCPCS code alone, e.g. 97110 (got {len(code)} "
            "characters); no descriptions: CPT descriptions are AMA-licensed")
    return cleaned


def _load(conn: Connection, pa_id: int, history: bool) -> PriorAuth:
    row = conn.execute(f"SELECT {PA_COLUMNS} {_FROM} WHERE a.id = ?", (pa_id,)).fetchone()
    if row is None:
        raise NotFound(f"no prior authorization {pa_id}")
    pa = _from_row(row)
    if history:
        pa.history = [PAStatusChange(id=r[0], ts=clock.parse_iso(r[1]), status=PAStatus(r[2]),
                                     source=r[3], payer_wording=r[4], evidence_blob_id=r[5],
                                     actor=r[6], note=r[7])
                      for r in conn.execute(
                          "SELECT id, ts, status, source, payer_wording, evidence_blob_id, "
                          "actor, note FROM pa_status_history WHERE pa_id = ? ORDER BY id",
                          (pa_id,))]
    return pa


def add_prior_auth(session: Session, *, patient_id: int, payer: str | int, cpt_code: str,
                   units: int, service_date: date | str, urgency: str = "standard",
                   submitted_at: datetime | None = None, payer_ref: str = "",
                   status: str = "submitted") -> PriorAuth:
    """Record a submitted request and start its decision clock. `submitted_at` is aware
    (UTC or any zone; stored as UTC), default now; `service_date` a local date."""
    require(session, "pa.manage")
    code = validate_code(cpt_code)
    if not isinstance(units, int) or not 0 < units <= MAX_UNITS:
        raise ValidationError(f"units must be a whole number from 1 to {MAX_UNITS}")
    if isinstance(service_date, str):
        try:
            service_date = date.fromisoformat(service_date)
        except ValueError as exc:
            raise ValidationError(f"date of service must be YYYY-MM-DD, got "
                                  f"{service_date!r}") from exc
    try:
        urg = Urgency(urgency)
    except ValueError as exc:
        raise ValidationError("urgency must be 'expedited' or 'standard'") from exc
    try:
        initial = PAStatus(status)
    except ValueError as exc:
        raise ValidationError(f"unknown status {status!r}; one of: "
                              + ", ".join(s.value for s in PAStatus)) from exc
    submitted = submitted_at or clock.now()
    if submitted.tzinfo is None:
        raise ValidationError("the submission time needs a time zone")
    if submitted > clock.now():
        raise ValidationError("the submission time is in the future")
    payer_obj = find_payer(session, str(payer))
    if len(payer_ref) > 64:
        raise ValidationError("payer reference is longer than 64 characters")
    tz = practice_zone(session)
    dclock = decision_clock(payer_obj.plan_type, urg, submitted, tz,
                            payer_days_standard=payer_obj.decision_days_standard,
                            payer_hours_expedited=payer_obj.decision_hours_expedited)
    vault = session.vault
    now = clock.iso(clock.now())
    with vault.write() as conn:
        if conn.execute("SELECT 1 FROM patients WHERE id = ?", (patient_id,)).fetchone() is None:
            raise NotFound(f"no patient {patient_id}")
        cov = conn.execute("SELECT id FROM coverages WHERE patient_id = ? AND payer_id = ? "
                           "AND active = 1 ORDER BY priority, id LIMIT 1",
                           (patient_id, payer_obj.id)).fetchone()
        if cov is None:
            raise ValidationError(f"patient {patient_id} has no active coverage with payer "
                                  f"{payer_obj.id}; add the coverage first")
        cur = conn.execute(
            "INSERT INTO prior_auths (patient_id, payer_id, coverage_id, plan_type, cpt_code, "
            "units, service_date, urgency, submitted_at, payer_ref, status, status_changed_at,"
            " decision_due_at, clock_basis, created_at, updated_at) "
            "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            (patient_id, payer_obj.id, cov[0], payer_obj.plan_type.value, code, units,
             service_date.isoformat(), urg.value, clock.iso(submitted), payer_ref.strip(),
             initial.value, clock.iso(submitted), clock.iso(dclock.due_at), dclock.basis,
             now, now))
        pa_id = int(cur.lastrowid)
        conn.execute("INSERT INTO pa_status_history (pa_id, ts, status, source, actor, note) "
                     "VALUES (?,?,?,?,?,?)", (pa_id, clock.iso(submitted), initial.value,
                                              "manual", session.username, "recorded"))
        audit.record(vault, conn, session, "pa.create", "prior_auth", pa_id,
                     patient_id=patient_id,
                     details={"payer_id": payer_obj.id, "cpt": code, "units": units,
                              "urgency": urg.value, "decision_due_at": clock.iso(dclock.due_at),
                              "clock_basis": dclock.basis})
        return _load(conn, pa_id, history=True)


def get_prior_auth(session: Session, pa_id: int) -> PriorAuth:
    """One PA with its status history; audited as a view of the patient's record."""
    require(session, "pa.check", pa_id=pa_id)
    with session.vault.read() as conn:
        pa = _load(conn, pa_id, history=True)
    audit.record_now(session.vault, session, "pa.view", object_type="prior_auth",
                     object_id=pa_id, patient_id=pa.patient_id)
    return pa


def get_prior_auth_unchecked(session: Session, pa_id: int) -> PriorAuth:
    """For the workflow inside its own audited transaction (no view row per read)."""
    with session.vault.read() as conn:
        return _load(conn, pa_id, history=False)


def list_prior_auths(session: Session, *, statuses: tuple[str, ...] = (),
                     patient_id: int | None = None, open_only: bool = False,
                     order: str = "due", limit: int = 500) -> list[PriorAuth]:
    """PAs without history, ordered by decision deadline ('due'), date of service
    ('service') or newest first ('newest'). Audited as one list action."""
    require(session, "pa.check")
    clauses: list[str] = []
    params: list[Any] = []
    wanted = list(statuses) or ([s.value for s in OPEN_STATUSES] if open_only else [])
    unknown = [s for s in wanted if s not in {st.value for st in PAStatus}]
    if unknown:  # refuse rather than silently match nothing
        raise ValidationError(f"unknown status {unknown[0]!r}; one of: "
                              + ", ".join(st.value for st in PAStatus))
    if wanted:
        clauses.append(f"a.status IN ({','.join('?' * len(wanted))})")
        params.extend(wanted)
    if patient_id is not None:
        clauses.append("a.patient_id = ?")
        params.append(patient_id)
    where = (" WHERE " + " AND ".join(clauses)) if clauses else ""
    orders = {"due": "a.decision_due_at, a.id", "service": "a.service_date, a.id",
              "newest": "a.id DESC"}
    if order not in orders:
        raise ValidationError(f"order must be one of {', '.join(orders)}")
    rows = session.vault.query(f"SELECT {PA_COLUMNS} {_FROM}{where} ORDER BY {orders[order]} "
                               "LIMIT ?", (*params, limit))
    result = [_from_row(r) for r in rows]
    audit.record_now(session.vault, session, "pa.list", object_type="prior_auth",
                     details={"results": len(result), "statuses": wanted})
    return result


@dataclass(frozen=True)
class BoardColumn:
    status: PAStatus
    items: list[PriorAuth]


def pa_board(session: Session, *, include_closed: bool = False) -> list[BoardColumn]:
    """The PA board: one column per status (open ones first), each sorted by decision
    deadline, then date of service."""
    pas = list_prior_auths(session, order="due")
    order = list(OPEN_STATUSES) + [s for s in PAStatus if s.is_terminal]
    columns = []
    for status in order:
        if status.is_terminal and not include_closed:
            continue
        items = sorted((p for p in pas if p.status is status),
                       key=lambda p: (p.decision_due_at, p.service_date, p.id))
        columns.append(BoardColumn(status, items))
    return columns


def record_status(session: Session, pa_id: int, status: PAStatus | str, *, source: str,
                  wording: str = "", at: datetime | None = None,
                  approved_units: int | None = None, approved_from: date | None = None,
                  approved_through: date | None = None, evidence_blob_id: int | None = None,
                  note: str = "") -> tuple[PriorAuth, PAStatusChange | None]:
    """Record what a source (a portal recipe, a person, later FHIR) reports. A status
    equal to the current one with the same approval facts changes nothing and returns
    (pa, None); otherwise a history row is added and returned. Call it inside the
    caller's `vault.write()` to make the change and its tasks one transaction."""
    require(session, "pa.check", pa_id=pa_id)
    new = PAStatus(status)
    seen = at or clock.now()
    vault = session.vault
    with vault.write() as conn:
        pa = _load(conn, pa_id, history=False)
        facts_changed = new.is_decision and (
            (approved_units is not None and approved_units != pa.approved_units)
            or (approved_through is not None and approved_through != pa.approved_through))
        if new is pa.status and not facts_changed:
            return pa, None
        cur = conn.execute(
            "INSERT INTO pa_status_history (pa_id, ts, status, source, payer_wording, "
            "evidence_blob_id, actor, note) VALUES (?,?,?,?,?,?,?,?)",
            (pa_id, clock.iso(seen), new.value, source, wording[:500], evidence_blob_id,
             session.username, note))
        change = PAStatusChange(id=int(cur.lastrowid), ts=seen, status=new, source=source,
                                payer_wording=wording[:500], evidence_blob_id=evidence_blob_id,
                                actor=session.username, note=note)
        sets = ["status = ?", "updated_at = ?"]
        params: list[Any] = [new.value, clock.iso(clock.now())]
        if new is not pa.status:
            sets.append("status_changed_at = ?")
            params.append(clock.iso(seen))
        if new.is_decision and new is not PAStatus.DENIED:
            sets += ["approved_units = ?", "approved_from = ?", "approved_through = ?",
                     "expires_on = ?"]
            params += [approved_units, approved_from.isoformat() if approved_from else None,
                       approved_through.isoformat() if approved_through else None,
                       approved_through.isoformat() if approved_through else None]
        conn.execute(f"UPDATE prior_auths SET {', '.join(sets)} WHERE id = ?", (*params, pa_id))
        audit.record(vault, conn, session, "pa.status_change", "prior_auth", pa_id,
                     patient_id=pa.patient_id,
                     details={"from": pa.status.value, "to": new.value, "source": source,
                              "approved_units": approved_units, "history_id": change.id})
        return _load(conn, pa_id, history=False), change


def attach_evidence(session: Session, change_id: int, blob_id: int) -> None:
    """Point a status-history row at its screenshot (a blob already in the vault)."""
    require(session, "pa.check")
    with session.vault.write() as conn:
        conn.execute("UPDATE pa_status_history SET evidence_blob_id = ? WHERE id = ?",
                     (blob_id, change_id))


def mark_checked(session: Session, pa_id: int, *, checked_at: datetime | None,
                 next_check_at: datetime | None) -> None:
    """Bookkeeping after a look-up (or to (re)plan the next one). The visit itself is
    audited by the status source (portal.visit)."""
    require(session, "pa.check", pa_id=pa_id)
    with session.vault.write() as conn:
        if checked_at is not None:
            conn.execute("UPDATE prior_auths SET last_checked_at = ?, next_check_at = ? "
                         "WHERE id = ?", (clock.iso(checked_at),
                                          clock.iso(next_check_at) if next_check_at else None,
                                          pa_id))
        else:
            conn.execute("UPDATE prior_auths SET next_check_at = ? WHERE id = ?",
                         (clock.iso(next_check_at) if next_check_at else None, pa_id))


def open_pa_ids(session: Session, *, due_by: datetime | None = None) -> list[int]:
    """Open PAs (not decided/closed); with `due_by`, only those whose next check is due
    (or never planned)."""
    require(session, "pa.check")
    statuses = [s.value for s in OPEN_STATUSES]
    sql = f"SELECT id FROM prior_auths WHERE status IN ({','.join('?' * len(statuses))})"
    params: list[Any] = list(statuses)
    if due_by is not None:
        sql += " AND (next_check_at IS NULL OR next_check_at <= ?)"
        params.append(clock.iso(due_by))
    return [int(r[0]) for r in session.vault.query(sql + " ORDER BY id", tuple(params))]


def watch_pa_ids(session: Session, *, today: date) -> list[int]:
    """PAs the time rules still care about: open ones, and approvals whose date of service
    has not passed."""
    require(session, "pa.check")
    statuses = [s.value for s in OPEN_STATUSES] + [PAStatus.APPROVED.value,
                                                     PAStatus.PARTIAL.value]
    rows = session.vault.query(
        f"SELECT id FROM prior_auths WHERE status IN ({','.join('?' * len(statuses))}) AND "
        "(status NOT IN ('approved','partially_approved') OR service_date >= ?) ORDER BY id",
        (*statuses, today.isoformat()))
    return [int(r[0]) for r in rows]


@dataclass(frozen=True)
class CheckTarget:
    """What a status source needs to look one PA up. Holds PHI (member ID, DOB): keep it in
    memory only, never log or persist it."""

    pa_id: int
    patient_id: int
    payer_id: int
    member_id: str
    dob: date
    payer_ref: str
    service_date: date
    portal_recipe: str | None


def check_targets(session: Session, pa_ids: list[int]) -> list[CheckTarget]:
    require(session, "pa.check")
    if not pa_ids:
        return []
    rows = session.vault.query(
        "SELECT a.id, a.patient_id, a.payer_id, c.member_id, pt.dob, a.payer_ref, "
        "a.service_date, p.portal_recipe FROM prior_auths a JOIN payers p ON p.id = a.payer_id "
        "JOIN patients pt ON pt.id = a.patient_id LEFT JOIN coverages c ON c.id = a.coverage_id"
        f" WHERE a.id IN ({','.join('?' * len(pa_ids))}) ORDER BY a.id", tuple(pa_ids))
    return [CheckTarget(pa_id=r[0], patient_id=r[1], payer_id=r[2], member_id=r[3] or "",
                        dob=date.fromisoformat(r[4]), payer_ref=r[5],
                        service_date=date.fromisoformat(r[6]), portal_recipe=r[7])
            for r in rows]


def pa_to_json(pa: PriorAuth, tz: ZoneInfo, *, history: bool = False) -> dict[str, Any]:
    """PHI-light JSON (ids, codes, dates; no names or member IDs). Times in UTC plus the
    practice-local rendering under *_local."""

    def both(dt: datetime | None) -> dict[str, str | None]:
        if dt is None:
            return {"utc": None, "local": None}
        return {"utc": clock.iso(dt), "local": dt.astimezone(tz).isoformat(timespec="minutes")}

    data: dict[str, Any] = {
        "id": pa.id, "patient_id": pa.patient_id, "payer_id": pa.payer_id,
        "payer": pa.payer_name, "plan_type": pa.plan_type.value, "cpt": pa.cpt_code,
        "units": pa.units, "service_date": pa.service_date.isoformat(),
        "urgency": pa.urgency.value, "payer_ref": pa.payer_ref, "status": pa.status.value,
        "submitted_at": both(pa.submitted_at), "status_changed_at": both(pa.status_changed_at),
        "decision_due_at": both(pa.decision_due_at), "clock_basis": pa.clock_basis,
        "approved_units": pa.approved_units,
        "approved_from": pa.approved_from.isoformat() if pa.approved_from else None,
        "approved_through": pa.approved_through.isoformat() if pa.approved_through else None,
        "expires_on": pa.expires_on.isoformat() if pa.expires_on else None,
        "last_checked_at": both(pa.last_checked_at), "next_check_at": both(pa.next_check_at),
    }
    if history:
        data["history"] = [{"ts": clock.iso(h.ts), "status": h.status.value,
                            "source": h.source, "payer_wording": h.payer_wording,
                            "evidence_blob_id": h.evidence_blob_id, "actor": h.actor}
                           for h in pa.history]
    return data


def update_prior_auth(session: Session, pa_id: int, *, cpt_code: str | None = None,
                      units: int | None = None, service_date: date | str | None = None,
                      payer_ref: str | None = None) -> PriorAuth:
    """Correct what was recorded for a request (code, units, date of service, the payer's
    reference). The decision clock stays: it runs from the submission, not from an edit."""
    require(session, "pa.manage", pa_id=pa_id)
    values: dict[str, Any] = {}
    if cpt_code is not None:
        values["cpt_code"] = validate_code(cpt_code)
    if units is not None:
        if not isinstance(units, int) or not 0 < units <= MAX_UNITS:
            raise ValidationError(f"units must be a whole number from 1 to {MAX_UNITS}")
        values["units"] = units
    if service_date is not None:
        try:
            values["service_date"] = (service_date if isinstance(service_date, date)
                                      else date.fromisoformat(service_date)).isoformat()
        except ValueError as exc:
            raise ValidationError(f"date of service must be YYYY-MM-DD, got "
                                  f"{service_date!r}") from exc
    if payer_ref is not None:
        if len(payer_ref.strip()) > 64:
            raise ValidationError("payer reference is longer than 64 characters")
        values["payer_ref"] = payer_ref.strip()
    if not values:
        raise ValidationError("nothing to change")
    vault = session.vault
    with vault.write() as conn:
        before = _load(conn, pa_id, history=False)
        if before.status.is_terminal:
            raise ValidationError(f"PA {pa_id} is {before.status.value}; it can no longer be "
                                  "edited")
        sets = ", ".join(f"{k} = ?" for k in values)
        conn.execute(f"UPDATE prior_auths SET {sets}, updated_at = ? WHERE id = ?",
                     (*values.values(), clock.iso(clock.now()), pa_id))
        audit.record(vault, conn, session, "pa.update", "prior_auth", pa_id,
                     patient_id=before.patient_id,
                     details={"changed": sorted(values), "cpt": values.get("cpt_code"),
                              "units": values.get("units")})
        return _load(conn, pa_id, history=True)


def cancel_prior_auth(session: Session, pa_id: int, reason: str = "") -> PriorAuth:
    """The practice withdrew the request: no more portal checks or follow-ups."""
    require(session, "pa.manage", pa_id=pa_id)
    with session.vault.write() as conn:
        pa = _load(conn, pa_id, history=False)
        if pa.status.is_terminal:
            raise ValidationError(f"PA {pa_id} is already {pa.status.value}")
        updated, _change = record_status(session, pa_id, PAStatus.CANCELLED, source="manual",
                                         note=("cancelled: " + reason.strip())[:200])
    return updated
