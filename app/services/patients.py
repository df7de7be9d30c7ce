"""Patients, coverage and payers. Reading a patient record is audited as a view."""

from __future__ import annotations

import json
from datetime import date
from typing import Any

from app import audit, clock
from app.domain import Coverage, Patient, Payer, PlanType
from app.errors import NotFound, ValidationError
from app.identity import Session, require
from app.vault.db import Vault

PATIENT_COLUMNS = ("id, first_name, last_name, dob, sex, phone, email, address, allergies, "
                   "medications, problems, sms_opt_out, email_opt_out")


def _parse_date(text: str, what: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError as exc:
        raise ValidationError(f"{what} must be YYYY-MM-DD, got {text!r}") from exc


def _patient_from_row(row: Any) -> Patient:
    return Patient(id=row[0], first_name=row[1], last_name=row[2], dob=date.fromisoformat(row[3]),
                   sex=row[4], phone=row[5], email=row[6], address=row[7],
                   allergies=json.loads(row[8]), medications=json.loads(row[9]),
                   problems=json.loads(row[10]), sms_opt_out=bool(row[11]),
                   email_opt_out=bool(row[12]))


def _payer_from_row(row: Any) -> Payer:
    return Payer(id=row[0], name=row[1], plan_type=PlanType(row[2]), payer_code=row[3],
                 appeal_window_days=row[4], timely_filing_days=row[5],
                 decision_days_standard=row[6], decision_hours_expedited=row[7],
                 portal_recipe=row[8], portal_enabled=bool(row[9]))


PAYER_COLUMNS = ("id, name, plan_type, payer_code, appeal_window_days, timely_filing_days, "
                 "decision_days_standard, decision_hours_expedited, portal_recipe, portal_enabled")


def add_payer(session: Session, name: str, plan_type: str, *, payer_code: str = "",
              appeal_window_days: int | None = None, timely_filing_days: int | None = None,
              decision_days_standard: int | None = None,
              decision_hours_expedited: int | None = None, portal_recipe: str | None = None,
              portal_enabled: bool = False) -> Payer:
    require(session, "payer.manage")
    if portal_recipe or portal_enabled:  # decides where the portal log-in is typed
        require(session, "portal.configure")
    try:
        plan = PlanType(plan_type)
    except ValueError as exc:
        raise ValidationError(f"unknown plan type {plan_type!r}; one of: "
                              + ", ".join(p.value for p in PlanType)) from exc
    vault = session.vault
    with vault.write() as conn:
        if conn.execute("SELECT 1 FROM payers WHERE name = ?", (name,)).fetchone():
            raise ValidationError(f"payer {name!r} already exists")
        cur = conn.execute(
            "INSERT INTO payers (name, plan_type, payer_code, appeal_window_days, "
            "timely_filing_days, decision_days_standard, decision_hours_expedited, "
            "portal_recipe, portal_enabled, created_at) VALUES (?,?,?,?,?,?,?,?,?,?)",
            (name, plan.value, payer_code, appeal_window_days, timely_filing_days,
             decision_days_standard, decision_hours_expedited, portal_recipe,
             int(portal_enabled), clock.iso(clock.now())))
        payer_id = int(cur.lastrowid)
        audit.record(vault, conn, session, "payer.create", "payer", payer_id,
                     details={"plan_type": plan.value, "portal_recipe": portal_recipe,
                              "portal_enabled": portal_enabled})
    return get_payer(session, payer_id)


def update_payer(session: Session, payer_id: int, **changes: Any) -> Payer:
    require(session, "payer.manage")
    allowed = {"payer_code", "appeal_window_days", "timely_filing_days", "decision_days_standard",
               "decision_hours_expedited", "portal_recipe", "portal_enabled", "plan_type"}
    unknown = set(changes) - allowed
    if unknown:
        raise ValidationError(f"cannot change {', '.join(sorted(unknown))} on a payer")
    if {"portal_recipe", "portal_enabled"} & set(changes):
        require(session, "portal.configure")  # the recipe decides where the log-in goes
    if "plan_type" in changes:
        changes["plan_type"] = PlanType(changes["plan_type"]).value
    vault = session.vault
    with vault.write() as conn:
        before = get_payer(session, payer_id)
        for column, value in changes.items():
            conn.execute(f"UPDATE payers SET {column} = ? WHERE id = ?",
                         (int(value) if isinstance(value, bool) else value, payer_id))
        audit.record(vault, conn, session, "payer.update", "payer", payer_id,
                     details={"changed": {k: [getattr(before, k), v] for k, v in changes.items()},
                              })
    return get_payer(session, payer_id)


def get_payer(session: Session, payer_id: int) -> Payer:
    row = session.vault.query_one(f"SELECT {PAYER_COLUMNS} FROM payers WHERE id = ?", (payer_id,))
    if row is None:
        raise NotFound(f"no payer {payer_id}")
    return _payer_from_row(row)


def find_payer(session: Session, name_or_id: str) -> Payer:
    if name_or_id.isdigit():
        return get_payer(session, int(name_or_id))
    row = session.vault.query_one(f"SELECT {PAYER_COLUMNS} FROM payers WHERE name = ? "
                                  "COLLATE NOCASE", (name_or_id,))
    if row is None:
        raise NotFound(f"no payer named {name_or_id!r}")
    return _payer_from_row(row)


def list_payers(session: Session) -> list[Payer]:
    return [_payer_from_row(r) for r in
            session.vault.query(f"SELECT {PAYER_COLUMNS} FROM payers ORDER BY name")]


def add_patient(session: Session, first: str, last: str, dob: str, *, sex: str = "",
                phone: str = "", email: str = "", address: str = "",
                member_id: str | None = None, payer: str | None = None,
                group_number: str = "", plan_name: str = "") -> Patient:
    require(session, "patient.create")
    if not first.strip() or not last.strip():
        raise ValidationError("first and last name are required")
    birth = _parse_date(dob, "date of birth")
    if birth > clock.now().date():
        raise ValidationError("date of birth is in the future")
    if bool(member_id) != bool(payer):
        raise ValidationError("give --member-id and --payer together")
    payer_obj = find_payer(session, payer) if payer else None
    vault = session.vault
    now = clock.iso(clock.now())
    with vault.write() as conn:
        cur = conn.execute(
            "INSERT INTO patients (first_name, last_name, dob, sex, phone, email, address, "
            "created_at, updated_at) VALUES (?,?,?,?,?,?,?,?,?)",
            (first.strip(), last.strip(), birth.isoformat(), sex, phone, email, address, now, now))
        patient_id = int(cur.lastrowid)
        audit.record(vault, conn, session, "patient.create", "patient", patient_id,
                     patient_id=patient_id)
        if payer_obj is not None and member_id:
            _insert_coverage(session, conn, patient_id, payer_obj.id, member_id, group_number,
                             plan_name)
    return _load_patient(session, patient_id)


def _insert_coverage(session: Session, conn: Any, patient_id: int, payer_id: int,
                     member_id: str, group_number: str = "", plan_name: str = "") -> int:
    cur = conn.execute(
        "INSERT INTO coverages (patient_id, payer_id, member_id, group_number, plan_name) "
        "VALUES (?,?,?,?,?)", (patient_id, payer_id, member_id, group_number, plan_name))
    coverage_id = int(cur.lastrowid)
    audit.record(session.vault, conn, session, "coverage.create", "coverage", coverage_id,
                 patient_id=patient_id, details={"payer_id": payer_id})
    return coverage_id


def add_coverage(session: Session, patient_id: int, payer: str, member_id: str,
                 group_number: str = "", plan_name: str = "") -> Coverage:
    require(session, "patient.update")
    payer_obj = find_payer(session, payer)
    with session.vault.write() as conn:
        _insert_coverage(session, conn, patient_id, payer_obj.id, member_id, group_number,
                         plan_name)
    return _load_patient(session, patient_id).coverages[-1]


def _load_patient(session: Session, patient_id: int) -> Patient:
    vault = session.vault
    row = vault.query_one(f"SELECT {PATIENT_COLUMNS} FROM patients WHERE id = ?", (patient_id,))
    if row is None:
        raise NotFound(f"no patient {patient_id}")
    patient = _patient_from_row(row)
    _attach_coverages(vault, [patient])
    return patient


def _attach_coverages(vault: Vault, people: list[Patient]) -> None:
    """Fill each patient's coverages with one query per 500 patients (the list and the
    record show the same coverage)."""
    by_id = {p.id: p for p in people}
    ids = list(by_id)
    for at in range(0, len(ids), 500):  # under SQLite's bound-parameter limit
        chunk = ids[at:at + 500]
        for c in vault.query(
                "SELECT c.id, c.patient_id, c.payer_id, c.member_id, c.group_number, "
                "c.plan_name, c.priority, c.active, c.effective_date, c.termination_date, "
                "p.name FROM coverages c JOIN payers p ON p.id = c.payer_id "
                f"WHERE c.patient_id IN ({','.join('?' * len(chunk))}) "
                "ORDER BY c.patient_id, c.priority, c.id", tuple(chunk)):
            by_id[c[1]].coverages.append(Coverage(
                id=c[0], patient_id=c[1], payer_id=c[2], member_id=c[3], group_number=c[4],
                plan_name=c[5], priority=c[6], active=bool(c[7]),
                effective_date=date.fromisoformat(c[8]) if c[8] else None,
                termination_date=date.fromisoformat(c[9]) if c[9] else None,
                payer_name=c[10]))


def get_patient(session: Session, patient_id: int, purpose: str = "view") -> Patient:
    """Open one patient's record; audited as a view."""
    require(session, "patient.view", patient_id=patient_id)
    patient = _load_patient(session, patient_id)
    audit.record_now(session.vault, session, "patient.view", object_type="patient",
                     object_id=patient_id, patient_id=patient_id, details={"purpose": purpose})
    return patient


def list_patients(session: Session, search: str = "", limit: int = 500) -> list[Patient]:
    """Search by name, DOB or member ID. The list itself is audited as one search."""
    require(session, "patient.view")
    vault = session.vault
    params: list[Any] = []
    where = ""
    if search:
        like = f"%{search.strip()}%"
        where = ("WHERE first_name LIKE ? OR last_name LIKE ? OR dob = ? OR "
                 "(first_name || ' ' || last_name) LIKE ? OR id IN "
                 "(SELECT patient_id FROM coverages WHERE member_id = ?)")
        params = [like, like, search.strip(), like, search.strip()]
    rows = vault.query(f"SELECT {PATIENT_COLUMNS} FROM patients {where} "
                       "ORDER BY last_name, first_name, id LIMIT ?", (*params, limit))
    patients = [_patient_from_row(r) for r in rows]
    _attach_coverages(vault, patients)
    audit.record_now(vault, session, "patient.search", object_type="patient",
                     details={"results": len(patients), "filtered": bool(search)})
    return patients


def update_patient(session: Session, patient_id: int, **changes: Any) -> Patient:
    """Update demographic or clinical-list fields; the audit row keeps before and after."""
    require(session, "patient.update", patient_id=patient_id)
    allowed = {"first_name", "last_name", "dob", "sex", "phone", "email", "address",
               "allergies", "medications", "problems", "sms_opt_out", "email_opt_out"}
    unknown = set(changes) - allowed
    if unknown:
        raise ValidationError(f"cannot change {', '.join(sorted(unknown))} on a patient")
    vault = session.vault
    with vault.write() as conn:
        before = _load_patient(session, patient_id)
        diff: dict[str, Any] = {}
        for column, value in changes.items():
            if column == "dob":
                value = _parse_date(str(value), "date of birth").isoformat()
            stored = json.dumps(value) if isinstance(value, list) else (
                int(value) if isinstance(value, bool) else value)
            old = getattr(before, column)
            old = old.isoformat() if isinstance(old, date) else old
            # Digests, not values: the audit log and its exports stay free of PHI.
            diff[column] = {"before": audit.digest(vault, old), "after": audit.digest(vault, value)}
            conn.execute(f"UPDATE patients SET {column} = ?, updated_at = ? WHERE id = ?",
                         (stored, clock.iso(clock.now()), patient_id))
        audit.record(vault, conn, session, "patient.update", "patient", patient_id,
                     patient_id=patient_id, details={"changes": diff})
    return _load_patient(session, patient_id)


def patient_to_json(patient: Patient) -> dict[str, Any]:
    return {
        "id": patient.id, "first": patient.first_name, "last": patient.last_name,
        "dob": patient.dob.isoformat(), "sex": patient.sex, "phone": patient.phone,
        "email": patient.email,
        "coverages": [{"payer": c.payer_name, "member_id": c.member_id,
                       "group": c.group_number, "active": c.active} for c in patient.coverages],
    }
