"""Patients, coverage and payers. Reading a patient record is audited as a view."""

from __future__ import annotations

import json
import re
from datetime import date
from typing import Any

from app import audit, clock
from app.domain import Coverage, Patient, Payer, PlanType
from app.errors import NotFound, ValidationError
from app.identity import Session, require
from app.intake.compare import _payer_matches as payer_matches
from app.vault.db import Vault

PATIENT_COLUMNS = ("id, first_name, last_name, dob, sex, phone, email, address, allergies, "
                   "medications, problems, sms_opt_out, email_opt_out, timezone")


def _parse_date(text: str, what: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError as exc:
        raise ValidationError(f"{what} must be YYYY-MM-DD, got {text!r}") from exc


def _valid_zone(name: str) -> str:
    """An IANA time zone name, or empty (the practice's zone)."""
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    name = name.strip()
    if name:
        try:
            ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValidationError(f"unknown time zone {name!r}; use a name such as "
                                  "America/Chicago") from exc
    return name


def _patient_from_row(row: Any) -> Patient:
    return Patient(id=row[0], first_name=row[1], last_name=row[2], dob=date.fromisoformat(row[3]),
                   sex=row[4], phone=row[5], email=row[6], address=row[7],
                   allergies=json.loads(row[8]), medications=json.loads(row[9]),
                   problems=json.loads(row[10]), sms_opt_out=bool(row[11]),
                   email_opt_out=bool(row[12]), timezone=row[13] or "")


def _payer_from_row(row: Any) -> Payer:
    return Payer(id=row[0], name=row[1], plan_type=PlanType(row[2]), payer_code=row[3],
                 appeal_window_days=row[4], timely_filing_days=row[5],
                 decision_days_standard=row[6], decision_hours_expedited=row[7],
                 portal_recipe=row[8], portal_enabled=bool(row[9]), portal_url=row[10] or "")


PAYER_COLUMNS = ("id, name, plan_type, payer_code, appeal_window_days, timely_filing_days, "
                 "decision_days_standard, decision_hours_expedited, portal_recipe, portal_enabled, "
                 "portal_url")


def validate_portal_url(url: str) -> str:
    """A payer's portal address: https, or http only on this machine (the sandbox portal);
    a log-in is typed on this origin only, so nothing else is accepted. Empty clears it."""
    from app.forms import portal_url_problem
    problem = portal_url_problem(url)
    if problem:
        raise ValidationError(f"portal URL {problem} (got {url.strip()[:80]!r})")
    return url.strip()


def add_payer(session: Session, name: str, plan_type: str, *, payer_code: str = "",
              appeal_window_days: int | None = None, timely_filing_days: int | None = None,
              decision_days_standard: int | None = None,
              decision_hours_expedited: int | None = None, portal_recipe: str | None = None,
              portal_enabled: bool = False, portal_url: str = "") -> Payer:
    require(session, "payer.manage")
    if portal_recipe or portal_enabled or portal_url:  # where the portal log-in is typed
        require(session, "portal.configure")
    portal_url = validate_portal_url(portal_url)
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
            "portal_recipe, portal_enabled, portal_url, created_at) "
            "VALUES (?,?,?,?,?,?,?,?,?,?,?)",
            (name, plan.value, payer_code, appeal_window_days, timely_filing_days,
             decision_days_standard, decision_hours_expedited, portal_recipe,
             int(portal_enabled), portal_url, clock.iso(clock.now())))
        payer_id = int(cur.lastrowid)
        audit.record(vault, conn, session, "payer.create", "payer", payer_id,
                     details={"plan_type": plan.value, "portal_recipe": portal_recipe,
                              "portal_enabled": portal_enabled, "portal_url": portal_url})
    return get_payer(session, payer_id)


def update_payer(session: Session, payer_id: int, **changes: Any) -> Payer:
    require(session, "payer.manage")
    allowed = {"payer_code", "appeal_window_days", "timely_filing_days", "decision_days_standard",
               "decision_hours_expedited", "portal_recipe", "portal_enabled", "plan_type",
               "portal_url"}
    unknown = set(changes) - allowed
    if unknown:
        raise ValidationError(f"cannot change {', '.join(sorted(unknown))} on a payer")
    if {"portal_recipe", "portal_enabled", "portal_url"} & set(changes):
        require(session, "portal.configure")  # they decide where the log-in goes
    if "portal_url" in changes:
        changes["portal_url"] = validate_portal_url(str(changes["portal_url"] or ""))
    if "plan_type" in changes:
        changes["plan_type"] = PlanType(changes["plan_type"]).value
    vault = session.vault
    with vault.write() as conn:
        before = get_payer(session, payer_id)
        if "portal_url" in changes:
            _keep_login_on_its_site(conn, before, str(changes["portal_url"]))
        for column, value in changes.items():
            conn.execute(f"UPDATE payers SET {column} = ? WHERE id = ?",
                         (int(value) if isinstance(value, bool) else value, payer_id))
        audit.record(vault, conn, session, "payer.update", "payer", payer_id,
                     details={"changed": {k: [getattr(before, k), v] for k, v in changes.items()},
                              })
    return get_payer(session, payer_id)


def _keep_login_on_its_site(conn: Any, payer: Payer, url: str) -> None:
    """A stored portal log-in was given for the payer's site: moving the address to
    another site alone would type that password there. The new site comes with the log-in
    (portal_credentials.set_credentials: `offhold portal set --url`, Settings > Portals).
    Clearing the address, or setting one where none was, is a move as well."""
    from app.services.portal_credentials import _origin  # it imports this module
    old, new = _origin(payer.portal_url), _origin(url)
    if old == new:
        return
    # Cleared, the site would fall back to the recipe's own address, which may be another
    # site: that is a move too.
    if conn.execute("SELECT 1 FROM portal_credentials WHERE payer_id = ? AND password != ''",
                    (payer.id,)).fetchone() is not None:
        raise ValidationError(
            f"payer {payer.id} ({payer.name}) has a portal log-in stored for "
            f"{old or 'no site'}; a new (or no) "
            "site is set with its log-in ('offhold portal set PAYER --url URL --user NAME', "
            "or Settings > Portals), so the password is never typed on a site it was not "
            "given for")


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
                group_number: str = "", plan_name: str = "", timezone: str = "") -> Patient:
    """A new patient; `timezone` is an IANA name, empty for the practice's zone."""
    require(session, "patient.create")
    if not first.strip() or not last.strip():
        raise ValidationError("first and last name are required")
    birth = _parse_date(dob, "date of birth")
    zone = _valid_zone(timezone)
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
            "timezone, created_at, updated_at) VALUES (?,?,?,?,?,?,?,?,?,?)",
            (first.strip(), last.strip(), birth.isoformat(), sex, phone, email, address, zone,
             now, now))
        patient_id = int(cur.lastrowid)
        audit.record(vault, conn, session, "patient.create", "patient", patient_id,
                     patient_id=patient_id)
        if payer_obj is not None and member_id:
            _insert_coverage(session, conn, patient_id, payer_obj.id, member_id, group_number,
                             plan_name)
    return _load_patient(session, patient_id)


RELATIONSHIPS = ("self", "spouse", "child", "other")  # who the subscriber is to the patient
COVERAGE_FIELDS = ("member_id", "group_number", "plan_name", "priority", "active",
                   "effective_date", "termination_date", "subscriber_name",
                   "subscriber_relationship", "payer_id", "subscriber_dob")


def _coverage_values(changes: dict[str, Any]) -> dict[str, Any]:
    """Checked, storable coverage values; raises ValidationError naming the field."""
    out: dict[str, Any] = {}
    for key, value in changes.items():
        if key not in COVERAGE_FIELDS:
            raise ValidationError(f"cannot change {key} on a coverage")
        if key == "member_id":
            value = str(value).strip()
            if not value:
                raise ValidationError("a member ID is required")
        elif key == "priority":
            if value not in (1, 2, 3):
                raise ValidationError("priority is 1 (primary), 2 (secondary) or 3 (tertiary)")
        elif key == "active":
            value = int(bool(value))
        elif key in ("effective_date", "termination_date", "subscriber_dob"):
            value = _parse_date(str(value), key.replace("_", " ")).isoformat() if value else None
            if key == "subscriber_dob" and value and value > clock.now().date().isoformat():
                raise ValidationError("the subscriber's date of birth is in the future")
        elif key == "subscriber_relationship":
            if value not in RELATIONSHIPS:
                raise ValidationError("relationship is one of: " + ", ".join(RELATIONSHIPS))
        elif isinstance(value, str):
            value = value.strip()
        out[key] = value
    start, end = out.get("effective_date"), out.get("termination_date")
    if start and end and end < start:
        raise ValidationError("the coverage ends before it starts")
    if out.get("subscriber_relationship", "self") != "self" and not out.get(
            "subscriber_name", "x"):
        raise ValidationError("name the subscriber when the patient is not the subscriber")
    return out


def _insert_coverage(session: Session, conn: Any, patient_id: int, payer_id: int,
                     member_id: str, group_number: str = "", plan_name: str = "",
                     **more: Any) -> int:
    values = _coverage_values({"member_id": member_id, "group_number": group_number,
                               "plan_name": plan_name, **more})
    values["patient_id"], values["payer_id"] = patient_id, payer_id
    cur = conn.execute(f"INSERT INTO coverages ({', '.join(values)}) VALUES "
                       f"({', '.join('?' * len(values))})", tuple(values.values()))
    coverage_id = int(cur.lastrowid)
    audit.record(session.vault, conn, session, "coverage.create", "coverage", coverage_id,
                 patient_id=patient_id, details={"payer_id": payer_id,
                                                 "priority": values.get("priority", 1)})
    return coverage_id


def add_coverage(session: Session, patient_id: int, payer: str, member_id: str,
                 group_number: str = "", plan_name: str = "", *, priority: int = 1,
                 subscriber_name: str = "", subscriber_relationship: str = "self",
                 subscriber_dob: str | None = None, effective_date: str | None = None,
                 termination_date: str | None = None) -> Coverage:
    """Add a coverage (priority 1 primary, 2 secondary); dates are YYYY-MM-DD, inclusive."""
    require(session, "patient.update", patient_id=patient_id)
    payer_obj = find_payer(session, payer)
    with session.vault.write() as conn:
        if conn.execute("SELECT 1 FROM patients WHERE id = ?", (patient_id,)).fetchone() is None:
            raise NotFound(f"no patient {patient_id}")
        coverage_id = _insert_coverage(
            session, conn, patient_id, payer_obj.id, member_id, group_number, plan_name,
            priority=priority, subscriber_name=subscriber_name,
            subscriber_relationship=subscriber_relationship, subscriber_dob=subscriber_dob,
            effective_date=effective_date, termination_date=termination_date)
    return next(c for c in _load_patient(session, patient_id).coverages if c.id == coverage_id)


def update_coverage(session: Session, coverage_id: int, **changes: Any) -> Coverage:
    """Change a coverage's fields (`payer` by name or id); the audit row keeps digests of
    the member and group numbers, never the values."""
    row = session.vault.query_one("SELECT patient_id FROM coverages WHERE id = ?",
                                  (coverage_id,))
    require(session, "patient.update", patient_id=int(row[0]) if row else None)
    if row is None:
        raise NotFound(f"no coverage {coverage_id}")
    patient_id = int(row[0])
    if "payer" in changes:
        changes["payer_id"] = find_payer(session, str(changes.pop("payer"))).id
    values = _coverage_values(changes)
    vault = session.vault
    with vault.write() as conn:
        merged = dict(zip(("effective_date", "termination_date"), conn.execute(
            "SELECT effective_date, termination_date FROM coverages WHERE id = ?",
            (coverage_id,)).fetchone()))
        merged.update({k: v for k, v in values.items() if k in merged})
        if merged["effective_date"] and merged["termination_date"] and \
                merged["termination_date"] < merged["effective_date"]:
            raise ValidationError("the coverage ends before it starts")
        for column, value in values.items():
            conn.execute(f"UPDATE coverages SET {column} = ? WHERE id = ?", (value, coverage_id))
        audit.record(vault, conn, session, "coverage.update", "coverage", coverage_id,
                     patient_id=patient_id,
                     details={"changes": {k: audit.digest(vault, v) for k, v in values.items()}})
    return next(c for c in _load_patient(session, patient_id).coverages if c.id == coverage_id)


def form_relationship(text: str) -> str:
    """A form's 'relationship to subscriber' in the coverage's terms (self, spouse, child,
    other; X12 SBR02); '' when the form left it blank."""
    words = set(re.findall(r"[a-z]+", text.lower()))
    if not words:
        return ""
    for relationship, said in (
            ("self", {"self", "same", "patient", "myself", "insured"}),
            ("spouse", {"spouse", "wife", "husband", "partner", "married"}),
            ("child", {"child", "son", "daughter", "dependent", "dependant", "stepchild",
                       "stepson", "stepdaughter"})):
        if words & said:
            return relationship
    return "other"


def apply_form_insurance(session: Session, patient_id: int, insurance: str, member_id: str,
                         group_number: str = "", *, subscriber_name: str = "",
                         subscriber_dob: str = "", subscriber_relationship: str = ""
                         ) -> str:
    """An approved intake form's insurance: the same payer's coverage takes the form's
    member and group numbers and its subscriber (name, date of birth YYYY-MM-DD, and the
    patient's relationship to them); a different known payer becomes the primary coverage
    (the old primary is kept, inactive). What the form left blank is never written over
    what is on file. Returns what was done, for the task's note."""
    require(session, "patient.update", patient_id=patient_id)
    member, group = member_id.strip(), group_number.strip()
    if not member and not insurance.strip():
        return ""
    subscriber = {k: v for k, v in (
        ("subscriber_name", " ".join(subscriber_name.split())),
        ("subscriber_dob", subscriber_dob.strip()),
        ("subscriber_relationship", form_relationship(subscriber_relationship)))
        if v}
    if subscriber.get("subscriber_relationship") == "self":
        # the patient holds the policy: no one else's name or birth date belongs on it
        subscriber.update(subscriber_name="", subscriber_dob="")
    current = [c for c in _load_patient(session, patient_id).coverages if c.active]
    payer: Payer | None = None
    if insurance.strip():
        matches = [p for p in list_payers(session) if payer_matches(p.name, insurance)]
        if len(matches) != 1:
            return ("insurance not applied: " + ("no payer in the directory matches the form"
                                                 if not matches else "several payers match"))
        payer = matches[0]
    same = [c for c in current if payer is None or c.payer_id == payer.id]
    skipped = ""
    named = subscriber.get("subscriber_name") or (same[0].subscriber_name if same else "")
    if subscriber.get("subscriber_relationship", "self") != "self" and not named:
        del subscriber["subscriber_relationship"]  # a dependant of whom? left for a person
        skipped = "; relationship not applied: the form names no subscriber"
    if same:
        cov = same[0]
        on_file = {"subscriber_dob": cov.subscriber_dob.isoformat() if cov.subscriber_dob
                   else ""}
        changes = {k: v for k, v in (("member_id", member), ("group_number", group),
                                     *subscriber.items())
                   if (v or k in subscriber) and v != on_file.get(k, getattr(cov, k))}
        if changes:
            update_coverage(session, cov.id, **changes)
        return f"coverage {cov.id}: {', '.join(sorted(changes)) or 'no changes'}{skipped}"
    if payer is None or not member:
        return "insurance not applied: the form names no member ID for the new payer"
    with session.vault.write() as conn:  # one transaction: the old primary steps aside
        for c in current:
            if c.priority == 1:
                conn.execute("UPDATE coverages SET active = 0 WHERE id = ?", (c.id,))
                audit.record(session.vault, conn, session, "coverage.update", "coverage", c.id,
                             patient_id=patient_id, details={"changes": {"active": 0},
                                                             "reason": "intake form"})
        coverage_id = _insert_coverage(session, conn, patient_id, payer.id, member, group,
                                       **subscriber)
    return f"new primary coverage {coverage_id} with payer {payer.id}{skipped}"


def _close_dates(a: date, b: date) -> bool:
    """A typo-sized difference: within a month, day and month swapped, or one year off."""
    if abs((a - b).days) <= 31:
        return True
    if (a.day, a.month) == (b.month, b.day) and a.year == b.year:
        return True
    return (a.month, a.day) == (b.month, b.day) and abs(a.year - b.year) == 1


def similar_patients(session: Session, first: str, last: str, dob: str = "",
                     member_id: str = "", exclude_id: int | None = None
                     ) -> list[tuple[Patient, str]]:
    """Existing patients a new record may duplicate, each with the reason: the same name,
    the same last name with a close date of birth, or the same member ID."""
    require(session, "patient.view")
    birth: date | None = None
    try:
        birth = date.fromisoformat(dob) if dob else None
    except ValueError:
        birth = None
    key = "".join(c for c in member_id.lower() if c.isalnum())
    rows = session.vault.query(
        f"SELECT {PATIENT_COLUMNS} FROM patients WHERE merged_into IS NULL AND ("
        "lower(last_name) = lower(?) OR (lower(first_name) = lower(?) AND dob = ?) OR id IN "
        "(SELECT patient_id FROM coverages WHERE ? != '' AND lower(replace(replace("
        "member_id, '-', ''), ' ', '')) = ?)) ORDER BY id LIMIT 50",
        (last.strip(), first.strip(), dob, key, key))
    out: list[tuple[Patient, str]] = []
    for row in rows:
        p = _patient_from_row(row)
        if p.id == exclude_id:
            continue
        same_name = (p.first_name.lower(), p.last_name.lower()) == (
            first.strip().lower(), last.strip().lower())
        if same_name:
            out.append((p, "same name"))
        elif p.last_name.lower() == last.strip().lower() and birth and _close_dates(p.dob, birth):
            out.append((p, "same last name, close date of birth"))
        elif p.first_name.lower() == first.strip().lower() and birth == p.dob:
            out.append((p, "same first name and date of birth"))
        elif key:
            member_rows = session.vault.query(
                "SELECT member_id FROM coverages WHERE patient_id = ?", (p.id,))
            if any("".join(c for c in r[0].lower() if c.isalnum()) == key
                   for r in member_rows):
                out.append((p, "same member ID"))
    audit.record_now(session.vault, session, "patient.search", object_type="patient",
                     details={"results": len(out), "similar": True})
    return out


def save_patient_form(session: Session, patient_id: int | None, demographics: dict[str, Any],
                      coverages: list[dict[str, Any]]) -> Patient:
    """The patient form's save: a new patient (patient_id None) or an edit, with its
    coverages (an entry with an `id` is updated, one without is added; `payer` by name),
    all in one transaction so a refused coverage leaves no half-saved patient."""
    require(session, "patient.create" if patient_id is None else "patient.update",
            patient_id=patient_id)
    with session.vault.write():
        if patient_id is None:
            d = dict(demographics)
            patient = add_patient(session, d.pop("first_name", ""), d.pop("last_name", ""),
                                  d.pop("dob", ""), **{k: v for k, v in d.items() if k in (
                                      "sex", "phone", "email", "address", "timezone")})
            patient_id = patient.id
        elif demographics:
            update_patient(session, patient_id, **demographics)
        for entry in coverages:
            values = dict(entry)
            coverage_id = values.pop("id", None)
            if coverage_id is not None:
                update_coverage(session, int(coverage_id), **values)
            else:
                payer = str(values.pop("payer"))
                add_coverage(session, patient_id, payer, str(values.pop("member_id", "")),
                             str(values.pop("group_number", "")),
                             str(values.pop("plan_name", "")), **values)
    return _load_patient(session, patient_id)


def merge_patients(session: Session, keep_id: int, duplicate_id: int) -> dict[str, int]:
    """Move everything recorded under `duplicate_id` to `keep_id`, in one transaction. The
    duplicate's row stays, marked merged (the audit log names it); coverages the kept
    patient already has (same payer and member ID) are dropped. Returns rows moved per
    table."""
    require(session, "patient.merge", patient_id=keep_id)
    if keep_id == duplicate_id:
        raise ValidationError("a patient cannot be merged into itself")
    vault = session.vault
    moved: dict[str, int] = {}
    with vault.write() as conn:
        for pid in (keep_id, duplicate_id):
            row = conn.execute("SELECT merged_into FROM patients WHERE id = ?",
                               (pid,)).fetchone()
            if row is None:
                raise NotFound(f"no patient {pid}")
            if row[0] is not None:
                raise ValidationError(f"patient {pid} was already merged into {row[0]}")
        conn.execute(
            "DELETE FROM coverages WHERE patient_id = ? AND EXISTS (SELECT 1 FROM coverages k "
            "WHERE k.patient_id = ? AND k.payer_id = coverages.payer_id AND lower(k.member_id) "
            "= lower(coverages.member_id)) AND id NOT IN (SELECT coverage_id FROM prior_auths "
            "WHERE coverage_id IS NOT NULL)", (duplicate_id, keep_id))
        # Every table with a patient_id, found at run time so tables added later move too;
        # the audit log is append-only and keeps naming the duplicate.
        tables = [r[0] for r in conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT IN "
            "('audit_log', 'patients') AND name NOT LIKE 'sqlite_%'")]
        for table in tables:
            columns = [c[1] for c in conn.execute(f"PRAGMA table_info({table})")]
            if "patient_id" not in columns:
                continue
            cur = conn.execute(f"UPDATE OR IGNORE {table} SET patient_id = ? "
                               f"WHERE patient_id = ?", (keep_id, duplicate_id))
            if cur.rowcount:
                moved[table] = int(cur.rowcount)
        conn.execute("UPDATE patients SET merged_into = ?, updated_at = ? WHERE id = ?",
                     (keep_id, clock.iso(clock.now()), duplicate_id))
        audit.record(vault, conn, session, "patient.merge", "patient", keep_id,
                     patient_id=keep_id, details={"duplicate": duplicate_id, "moved": moved})
    return moved


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
                "p.name, c.subscriber_name, c.subscriber_relationship, c.subscriber_dob "
                "FROM coverages c JOIN payers p ON p.id = c.payer_id "
                f"WHERE c.patient_id IN ({','.join('?' * len(chunk))}) "
                "ORDER BY c.patient_id, c.priority, c.id", tuple(chunk)):
            by_id[c[1]].coverages.append(Coverage(
                id=c[0], patient_id=c[1], payer_id=c[2], member_id=c[3], group_number=c[4],
                plan_name=c[5], priority=c[6], active=bool(c[7]),
                effective_date=date.fromisoformat(c[8]) if c[8] else None,
                termination_date=date.fromisoformat(c[9]) if c[9] else None,
                payer_name=c[10], subscriber_name=c[11], subscriber_relationship=c[12],
                subscriber_dob=date.fromisoformat(c[13]) if c[13] else None))


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
    where = f"WHERE merged_into IS NULL AND ({where[6:]})" if where else \
        "WHERE merged_into IS NULL"
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
               "allergies", "medications", "problems", "sms_opt_out", "email_opt_out",
               "timezone"}
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
            if column == "timezone":
                value = _valid_zone(str(value))
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
        "email": patient.email, "timezone": patient.timezone,
        "coverages": [{"id": c.id, "payer": c.payer_name, "member_id": c.member_id,
                       "group": c.group_number, "active": c.active, "priority": c.priority,
                       "subscriber": c.subscriber_name,
                       "relationship": c.subscriber_relationship,
                       "subscriber_dob": c.subscriber_dob.isoformat() if c.subscriber_dob
                       else None,
                       "effective": c.effective_date.isoformat() if c.effective_date else None,
                       "terminated": c.termination_date.isoformat()
                       if c.termination_date else None} for c in patient.coverages],
    }
