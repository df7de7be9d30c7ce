"""Prior authorizations: add, list, view, and record what the payer says.

Roles: `pa.manage` adds and edits; `pa.check` views, lists and records status (the
follow-up workflow acts as a system session, which holds every role). Every change writes
its audit row in the same transaction. Times are stored in UTC (app.clock.iso) and shown
in the practice's zone (`practice_zone`); service and approval dates are local dates.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Union
from zoneinfo import ZoneInfo

from app import audit, clock
from app.domain import PlanType
from app.domain.pa import (
    OPEN_STATUSES,
    PAStatus,
    PAStatusChange,
    PriorAuth,
    ServiceLine,
    Urgency,
)
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
MAX_LINES = 20  # a PA request form has room for a handful; 20 is generous
_MODIFIER = re.compile(r"^[A-Z0-9]{2}$")
# A service line as the faces hand it in: a ServiceLine, or a mapping with code, units,
# modifier, service_from, service_to (strings or values; empty dates = the PA's date).
ServiceInput = Union[ServiceLine, Mapping[str, Any]]

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


def _line_date(value: Any, what: str, default: date) -> date:
    if value is None or value == "":
        return default
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value).strip())
    except ValueError as exc:
        raise ValidationError(f"{what} must be YYYY-MM-DD, got {value!r}") from exc


def _units(value: Any, what: str = "units") -> int:
    # isdigit() passes '²', which int() refuses, and int() refuses 4300+ digits: either
    # was a ValueError (a crash report) instead of this refusal
    if isinstance(value, str) and value.strip().isdecimal() and len(value.strip()) <= 4:
        value = int(value.strip())
    if isinstance(value, bool) or not isinstance(value, int) or not 0 < value <= MAX_UNITS:
        raise ValidationError(f"{what} must be a whole number from 1 to {MAX_UNITS}")
    return value


def validate_lines(lines: Sequence[ServiceInput], first_day: date,
                   last_day: date | None = None) -> list[ServiceLine]:
    """Checked service lines; each error names its line (1-based). Every line needs a code
    (CPT/HCPCS shape, no text) and units above zero; dates default to `first_day`, from <=
    to, and all lie within the PA's dates: on or after its date of service `first_day`
    and, when the PA has an approved span or expiry, on or before `last_day`."""
    if not lines:
        raise ValidationError("a PA needs at least one service line")
    if len(lines) > MAX_LINES:
        raise ValidationError(f"at most {MAX_LINES} service lines per PA")
    out: list[ServiceLine] = []
    for n, raw in enumerate(lines, 1):
        where = f"service line {n}"
        if isinstance(raw, ServiceLine):
            raw = {"code": raw.code, "units": raw.units, "modifier": raw.modifier,
                   "service_from": raw.service_from, "service_to": raw.service_to}
        try:
            code = validate_code(str(raw.get("code") or ""))
        except ValidationError as exc:
            raise ValidationError(f"{where}: {exc}") from None
        units = _units(raw.get("units"), f"{where}: units")
        modifier = str(raw.get("modifier") or "").strip().upper()
        if modifier and not _MODIFIER.match(modifier):
            raise ValidationError(f"{where}: a modifier is 2 letters or digits, e.g. GP")
        start = _line_date(raw.get("service_from"), f"{where}: from", first_day)
        end = _line_date(raw.get("service_to"), f"{where}: to", start)
        if end < start:
            raise ValidationError(f"{where}: the dates end ({end}) before they start ({start})")
        if start < first_day:
            raise ValidationError(f"{where}: starts {start}, before the PA's date of service "
                                  f"{first_day}")
        if last_day is not None and end > last_day:
            raise ValidationError(f"{where}: ends {end}, after the PA's last day {last_day}")
        out.append(ServiceLine(code=code, units=units, service_from=start, service_to=end,
                               modifier=modifier))
    return out


def _save_lines(conn: Connection, pa_id: int, lines: list[ServiceLine]) -> None:
    """Replace a PA's lines and keep its summary columns (first code, total units) in step."""
    conn.execute("DELETE FROM pa_service_lines WHERE pa_id = ?", (pa_id,))
    for n, line in enumerate(lines, 1):
        conn.execute("INSERT INTO pa_service_lines (pa_id, line_no, code, units, modifier, "
                     "service_from, service_to) VALUES (?,?,?,?,?,?,?)",
                     (pa_id, n, line.code, line.units, line.modifier,
                      line.service_from.isoformat(), line.service_to.isoformat()))
    conn.execute("UPDATE prior_auths SET cpt_code = ?, units = ? WHERE id = ?",
                  (lines[0].code, sum(ln.units for ln in lines), pa_id))


def _attach_lines(conn: Any, pas: list[PriorAuth]) -> None:
    """Fill each PA's service lines (one query per 500 PAs: SQLite's parameter limit)."""
    by_id = {p.id: p for p in pas}
    ids = list(by_id)
    for at in range(0, len(ids), 500):
        chunk = ids[at:at + 500]
        for r in conn.execute(
                "SELECT pa_id, code, units, modifier, service_from, service_to FROM "
                f"pa_service_lines WHERE pa_id IN ({','.join('?' * len(chunk))}) "
                "ORDER BY pa_id, line_no", tuple(chunk)):
            by_id[r[0]].services.append(ServiceLine(
                code=r[1], units=r[2], modifier=r[3], service_from=date.fromisoformat(r[4]),
                service_to=date.fromisoformat(r[5])))


def _lines_json(lines: list[ServiceLine]) -> list[dict[str, Any]]:
    return [{"code": ln.code, "units": ln.units, "modifier": ln.modifier,
             "from": ln.service_from.isoformat(), "to": ln.service_to.isoformat()}
            for ln in lines]


def _load(conn: Connection, pa_id: int, history: bool) -> PriorAuth:
    row = conn.execute(f"SELECT {PA_COLUMNS} {_FROM} WHERE a.id = ?", (pa_id,)).fetchone()
    if row is None:
        raise NotFound(f"no prior authorization {pa_id}")
    pa = _from_row(row)
    _attach_lines(conn, [pa])
    if history:
        pa.history = [PAStatusChange(id=r[0], ts=clock.parse_iso(r[1]), status=PAStatus(r[2]),
                                     source=r[3], payer_wording=r[4], evidence_blob_id=r[5],
                                     actor=r[6], note=r[7])
                      for r in conn.execute(
                          "SELECT id, ts, status, source, payer_wording, evidence_blob_id, "
                          "actor, note FROM pa_status_history WHERE pa_id = ? ORDER BY id",
                          (pa_id,))]
    return pa


def add_prior_auth(session: Session, *, patient_id: int, payer: str | int,
                   services: Sequence[ServiceInput] = (), cpt_code: str | None = None,
                   units: int | None = None, service_date: date | str | None = None,
                   urgency: str = "standard", submitted_at: datetime | None = None,
                   payer_ref: str = "", status: str = "submitted") -> PriorAuth:
    """Record a submitted request and start its decision clock. `services` are its lines
    (or one line from `cpt_code` and `units`); `service_date`, a local date, is the PA's
    first date of service (default: the earliest line's). `submitted_at` is aware (UTC or
    any zone; stored as UTC), default now."""
    require(session, "pa.manage")
    if not services:
        if cpt_code is None or units is None:
            raise ValidationError("give the service lines (or a code and units)")
        services = [{"code": cpt_code, "units": units}]
    first_day = _line_date(service_date, "date of service", date.min) \
        if service_date else None
    if first_day is None:
        starts = [_line_date(ln.service_from if isinstance(ln, ServiceLine)
                             else ln.get("service_from"), f"service line {n}: from",
                             date.max) for n, ln in enumerate(services, 1)]
        if min(starts) == date.max:
            raise ValidationError("give the date of service (YYYY-MM-DD)")
        first_day = min(starts)
    service_date = first_day
    lines = validate_lines(services, first_day)
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
            (patient_id, payer_obj.id, cov[0], payer_obj.plan_type.value, lines[0].code,
             sum(ln.units for ln in lines), service_date.isoformat(), urg.value, clock.iso(submitted), payer_ref.strip(),
             initial.value, clock.iso(submitted), clock.iso(dclock.due_at), dclock.basis,
             now, now))
        pa_id = int(cur.lastrowid)
        _save_lines(conn, pa_id, lines)
        conn.execute("INSERT INTO pa_status_history (pa_id, ts, status, source, actor, note) "
                     "VALUES (?,?,?,?,?,?)", (pa_id, clock.iso(submitted), initial.value,
                                              "manual", session.username, "recorded"))
        audit.record(vault, conn, session, "pa.create", "prior_auth", pa_id,
                     patient_id=patient_id,
                     details={"payer_id": payer_obj.id, "cpt": [ln.code for ln in lines],
                              "units": [ln.units for ln in lines],
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
    with session.vault.read() as conn:
        _attach_lines(conn, result)
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
    """PAs the time rules still care about: open ones, and approvals whose dates of service
    (the last day of any line) have not all passed."""
    require(session, "pa.check")
    statuses = [s.value for s in OPEN_STATUSES] + [PAStatus.APPROVED.value,
                                                     PAStatus.PARTIAL.value]
    rows = session.vault.query(
        f"SELECT id FROM prior_auths WHERE status IN ({','.join('?' * len(statuses))}) AND "
        "(status NOT IN ('approved','partially_approved') OR max(service_date, coalesce(("
        "SELECT max(l.service_to) FROM pa_service_lines l WHERE l.pa_id = prior_auths.id), "
        "'')) >= ?) ORDER BY id",
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
        "services": _lines_json(pa.services),
    }
    if history:
        data["history"] = [{"ts": clock.iso(h.ts), "status": h.status.value,
                            "source": h.source, "payer_wording": h.payer_wording,
                            "evidence_blob_id": h.evidence_blob_id, "actor": h.actor}
                           for h in pa.history]
    return data


def update_prior_auth(session: Session, pa_id: int, *,
                      services: Sequence[ServiceInput] | None = None,
                      cpt_code: str | None = None, units: int | None = None,
                      service_date: date | str | None = None,
                      payer_ref: str | None = None) -> PriorAuth:
    """Correct what was recorded for a request: its service lines (replaced as a whole),
    its date of service, the payer's reference. `cpt_code`/`units` edit a PA that has one
    line. The decision clock stays: it runs from the submission, not from an edit."""
    require(session, "pa.manage", pa_id=pa_id)
    values: dict[str, Any] = {}
    new_day: date | None = None
    if service_date is not None:
        if not str(service_date).strip():  # would be date.min: the year 1 on the PA
            raise ValidationError("date of service must be YYYY-MM-DD, got ''")
        new_day = _line_date(service_date, "date of service", date.min)
        values["service_date"] = new_day.isoformat()
    if units is not None:
        units = _units(units)
    if cpt_code is not None:
        cpt_code = validate_code(cpt_code)
    if payer_ref is not None:
        if len(payer_ref.strip()) > 64:
            raise ValidationError("payer reference is longer than 64 characters")
        values["payer_ref"] = payer_ref.strip()
    if not values and services is None and cpt_code is None and units is None:
        raise ValidationError("nothing to change")
    vault = session.vault
    with vault.write() as conn:
        before = _load(conn, pa_id, history=False)
        if before.status.is_terminal:
            raise ValidationError(f"PA {pa_id} is {before.status.value}; it can no longer be "
                                  "edited")
        first_day = new_day or before.service_date
        lines: list[ServiceLine] | None = None
        if services is not None:
            lines = validate_lines(services, first_day, _last_day(before))
        elif cpt_code is not None or units is not None or new_day is not None:
            if (cpt_code is not None or units is not None) and len(before.services) != 1:
                raise ValidationError(f"PA {pa_id} has {len(before.services)} service lines; "
                                      "give all its lines instead of one code and units")
            old = before.services
            if new_day is not None and len(old) == 1 and \
                    old[0].service_from == old[0].service_to == before.service_date:
                # a one-day line on the old date of service moves with it
                old = [ServiceLine(old[0].code, old[0].units, new_day, new_day,
                                   old[0].modifier)]
            lines = validate_lines(
                [ServiceLine(cpt_code or ln.code, units if units is not None else ln.units,
                             ln.service_from, ln.service_to, ln.modifier) for ln in old],
                first_day, _last_day(before))
        if values:
            sets = ", ".join(f"{k} = ?" for k in values)
            conn.execute(f"UPDATE prior_auths SET {sets} WHERE id = ?",
                         (*values.values(), pa_id))
        changed = sorted(values)
        if lines is not None and lines != before.services:
            _save_lines(conn, pa_id, lines)
            changed.append("services")
        conn.execute("UPDATE prior_auths SET updated_at = ? WHERE id = ?",
                     (clock.iso(clock.now()), pa_id))
        audit.record(vault, conn, session, "pa.update", "prior_auth", pa_id,
                     patient_id=before.patient_id,
                     details={"changed": changed,
                              "cpt": [ln.code for ln in lines] if lines else None,
                              "units": [ln.units for ln in lines] if lines else None})
        return _load(conn, pa_id, history=True)


def _last_day(pa: PriorAuth) -> date | None:
    """The last day a PA's services may fall on: its approval's end, when it has one."""
    return pa.expires_on or pa.approved_through


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
