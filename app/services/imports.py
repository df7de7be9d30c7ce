"""Imports from the practice's own systems: 837 claims, FHIR R4 and CSV exports.

Every import is one write transaction: the file is parsed and validated first (nothing is
written if it is refused), then stored. Records carry the source's own IDs (CLM01 with the
payer, FHIR resource ids, the CSV's ID column), so a re-import finds them and changes
nothing; a changed record is updated in place. With `skip_bad` the bad records are left
out and listed, and the audit row says that the choice was made and which positions were
skipped. Role checks come first, before the file is even read.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import asdict, replace
from datetime import date
from pathlib import Path
from typing import Any, Callable

from app import audit, clock
from app.domain.claims import Party, SubmittedClaim
from app.errors import ImportRejected, NotFound, ValidationError
from app.identity import Session, require
from app.imports.common import LIMITS, BadRecord, ImportOutcome, check_size, content_hash
from app.imports.tabular import Mapping, iter_records, preview, read_table, suggest, validate_csv
from app.imports.worker import parse_837_bounded, read_fhir_bounded
from app.services.remittance import match_payer
from app.vault.db import Connection

# SBR09 claim filing indicator -> the payer's plan type, for a payer first seen on a claim
# (the practice can correct it later; decision clocks and appeal windows follow it).
FILING_PLAN_TYPES = {"MA": "medicare_ffs", "MB": "medicare_ffs", "MC": "medicaid",
                     "16": "medicare_advantage", "HM": "commercial", "CI": "commercial",
                     "BL": "commercial"}


# -- shared storage helpers -----------------------------------------------------------------

Progress = Callable[[int, int], None]


def _ticker(progress: Progress | None, total: int) -> Callable[[int], None]:
    """progress(done, total) every 50 records and at the end (the desktop's bar)."""
    def tick(done: int) -> None:
        if progress is not None and (done % 50 == 0 or done == total):
            progress(done, total)
    return tick


def _run_row(session: Session, conn: Connection, outcome: ImportOutcome, data_sha: str,
             size: int, skip_bad: bool) -> int:
    cur = conn.execute(
        "INSERT INTO import_runs (kind, sha256, size, actor, skip_bad, summary, skipped, "
        "findings, imported_at) VALUES (?,?,?,?,?,?,?,?,?)",
        (outcome.kind, data_sha, size, session.username, int(skip_bad),
         json.dumps({"records": outcome.records, "created": outcome.created,
                     "updated": outcome.updated, "unchanged": outcome.unchanged,
                     "by_type": outcome.by_type}),
         json.dumps([b.to_json() for b in outcome.skipped]),
         json.dumps(outcome.findings), clock.iso(clock.now())))
    return int(cur.lastrowid)


def _finish(session: Session, conn: Connection, outcome: ImportOutcome, sha: str,
            size: int, skip_bad: bool, files: int = 1) -> None:
    """The import log row and the audit entry, inside the import's transaction. The
    audit keeps counts and the skipped positions, never the records' values."""
    outcome.sha256 = sha
    outcome.import_id = _run_row(session, conn, outcome, sha, size, skip_bad)
    audit.record(session.vault, conn, session, "import.run", "import", outcome.import_id,
                 details={"kind": outcome.kind, "sha256": sha, "files": files,
                          "records": outcome.records, "created": outcome.created,
                          "updated": outcome.updated, "unchanged": outcome.unchanged,
                          "skip_bad": skip_bad, "skipped": len(outcome.skipped),
                          "skipped_positions": [b.position for b in outcome.skipped][:200]})


def source_digest(kind: str, files: list[bytes]) -> str:
    """The SHA-256 an import records for what it read (import_runs.sha256): of the file
    itself for an 837 or a CSV export; for FHIR, of the files' own digests in order (a
    bulk export is several files, imported together)."""
    if kind == "fhir":
        digest = hashlib.sha256()
        for data in files:
            digest.update(hashlib.sha256(data).digest())
        return digest.hexdigest()
    return hashlib.sha256(b"".join(files)).hexdigest()


def delete_imported_files(session: Session, kind: str, import_id: int,
                          paths: list[Path]) -> int:
    """Delete the files an import read (they hold PHI the vault now keeps), only once the
    import is verified: its row is in the vault (it commits with the records, so they
    are there too) and the files, read again now, hash to what it imported. Returns how
    many files were deleted. Refused, with every file kept, when the import is not of
    this kind or a file changed since (ValidationError). Audited with the import, the
    count and a hash of each file's name (a name can carry a patient's)."""
    require(session, "claim.import" if kind == "837" else "records.import")
    from app.imports.files import read_import_file

    row = session.vault.query_one("SELECT kind, sha256, skipped FROM import_runs WHERE id = ?",
                                  (import_id,))
    if row is None or str(row[0]).partition(":")[0] != kind:
        raise NotFound(f"no {kind} import {import_id}; the file was kept")
    skipped = len(json.loads(row[2] or "[]"))
    if skipped:
        # The skipped records are nowhere else: deleting the file would lose them.
        raise ValidationError(f"{skipped} record(s) were skipped and exist only in the file; "
                              "it was kept (correct them and import it again)")
    # A link reads as the file it points to, but unlink removes only the link: the
    # export, and the PHI in it, would stay while the person is told it was deleted.
    linked = next((p for p in paths if p.is_symlink()), None)
    if linked is not None:
        raise ValidationError(f"{linked.name} is a link to another file (deleting the "
                              "link would leave that file); it was kept")
    # Which file each name is, before it is read: a new export renamed over the name
    # while the old one was being hashed would otherwise be the file unlinked.
    seen = [_identity(p) for p in paths]
    if not paths or source_digest(kind, [read_import_file(p, kind) for p in paths]) \
            != row[1]:
        raise ValidationError("the file is not what was imported (it changed since, or "
                              "another file was named); it was kept")
    deleted: list[Path] = []
    try:
        for path, identity in zip(paths, seen):
            if _identity(path) != identity:
                raise ValidationError(f"{path.name} changed while it was checked; it was "
                                      "kept")
            path.unlink()
            deleted.append(path)
    except OSError as exc:
        raise ValidationError(f"could not delete {path.name}: {exc.strerror or exc}") \
            from exc
    finally:
        if deleted:
            audit.record_now(session.vault, session, "import.source_deleted",
                             object_type="import", object_id=import_id,
                             details={"kind": kind, "sha256": row[1], "files": len(deleted),
                                      "name_sha256": [hashlib.sha256(
                                          p.name.encode()).hexdigest()[:16]
                                          for p in deleted]})
    return len(deleted)


def _identity(path: Path) -> tuple[int, int, int, int]:
    """The file a name stands for now (device, inode, size, modification time)."""
    try:
        st = path.lstat()
    except OSError as exc:
        raise ValidationError(f"cannot read {path.name or 'the file'}: "
                              f"{exc.strerror or exc}") from exc
    return st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns


def _find_patient(conn: Connection, last: str, first: str, dob: str,
                  member_id: str) -> int | None:
    """The same person: member ID with the same name, else the same name and birth date.
    Names compare without case; a different first name under one member ID (a family on
    one policy) is a different person."""
    fold = str.casefold
    if member_id:
        for pid, plast, pfirst, pdob in conn.execute(
                "SELECT p.id, p.last_name, p.first_name, p.dob FROM coverages c JOIN patients p"
                " ON p.id = c.patient_id WHERE c.member_id = ? COLLATE NOCASE ORDER BY p.id",
                (member_id,)):
            if fold(plast) == fold(last) and (not first or fold(pfirst) == fold(first)) \
                    and (not dob or not pdob or pdob == dob):
                return int(pid)
    if dob:
        row = conn.execute(
            "SELECT id FROM patients WHERE last_name = ? COLLATE NOCASE AND first_name = ? "
            "COLLATE NOCASE AND dob = ? ORDER BY id LIMIT 1", (last, first, dob)).fetchone()
        if row:
            return int(row[0])
    return None


def _new_patient(conn: Connection, last: str, first: str, dob: str, sex: str,
                 **extra: str) -> int:
    now = clock.iso(clock.now())
    cols = {"first_name": first, "last_name": last, "dob": dob, "sex": sex, **extra,
            "created_at": now, "updated_at": now}
    cur = conn.execute(f"INSERT INTO patients ({', '.join(cols)}) VALUES "
                       f"({', '.join('?' for _ in cols)})", tuple(cols.values()))
    return int(cur.lastrowid)


def _ensure_coverage(conn: Connection, patient_id: int, payer_id: int, member_id: str,
                     group: str, priority: int) -> bool:
    if not member_id:
        return False
    if conn.execute("SELECT 1 FROM coverages WHERE patient_id = ? AND payer_id = ? AND "
                    "member_id = ? COLLATE NOCASE", (patient_id, payer_id, member_id)
                    ).fetchone():
        return False
    conn.execute("INSERT INTO coverages (patient_id, payer_id, member_id, group_number, "
                 "priority) VALUES (?,?,?,?,?)", (patient_id, payer_id, member_id, group,
                                                  priority))
    return True


def _ensure_payer(conn: Connection, name: str, ident: str, plan_type: str) -> int:
    found = match_payer(conn, name, ident)
    if found:
        return found[0]
    cur = conn.execute("INSERT INTO payers (name, plan_type, payer_code, created_at) VALUES "
                       "(?,?,?,?)", (name, plan_type, ident, clock.iso(clock.now())))
    return int(cur.lastrowid)


# -- 837 claims -----------------------------------------------------------------------------

def import_837(session: Session, data: bytes, *, skip_bad: bool = False,
               lenient: bool = False, progress: Progress | None = None) -> ImportOutcome:
    """Store the claims of an 837P/837I file (one transaction): claim, lines, diagnosis
    and procedure codes, charges, payer (created when new) and patient (matched by member
    ID and name, or created with the coverage on the claim). Claims are keyed by CLM01
    and payer, as an 835's CLP01 is matched; an identical re-import changes nothing, a
    changed claim (a replacement, frequency 7) is updated. Raises X12Error / ImportRejected
    with the position for a malformed file or, without skip_bad, a bad claim."""
    require(session, "claim.import")
    parsed = parse_837_bounded(data, lenient=lenient, skip_bad=skip_bad, limits=LIMITS)
    outcome = ImportOutcome("837", records=len(parsed.claims) + len(parsed.bad),
                            skipped=list(parsed.bad), findings=list(parsed.findings))
    sha = source_digest("837", [data])
    with session.vault.write() as conn:
        tick = _ticker(progress, len(parsed.claims))
        for n, claim in enumerate(parsed.claims, 1):
            _store_claim(conn, claim, outcome)
            tick(n)
        _finish(session, conn, outcome, sha, len(data), skip_bad)
    return outcome


def _claim_content(claim: SubmittedClaim) -> dict[str, Any]:
    data = asdict(claim)
    data.pop("segment_index")  # where it sits in the file is not what it says
    return data


def _claim_patient(conn: Connection, claim: SubmittedClaim, payer_id: int,
                   outcome: ImportOutcome) -> int | None:
    who: Party | None = claim.who
    subscriber = claim.subscriber
    if who is None or subscriber is None:
        return None
    dob = who.dob.isoformat() if who.dob else ""
    member_id = subscriber.member_id
    patient_id = _find_patient(conn, who.last, who.first, dob, member_id)
    if patient_id is None:
        if not dob:  # a patient record needs a birth date (Patient.dob, care-gap ages)
            note = ("claim(s) name a patient not in the vault with no birth date (DMG); "
                    "stored without a patient")
            if note not in outcome.findings:
                outcome.findings.append(note)
            return None
        patient_id = _new_patient(conn, who.last, who.first, dob, who.sex)
        outcome.count("patient")
    priority = {"P": 1, "S": 2, "T": 3}.get(claim.payer_responsibility, 1)
    if _ensure_coverage(conn, patient_id, payer_id, member_id, claim.group_number, priority):
        outcome.count("coverage")
    return patient_id


def _iso(d: date | None) -> str | None:
    return d.isoformat() if d else None


def _store_claim(conn: Connection, claim: SubmittedClaim, outcome: ImportOutcome) -> None:
    digest = content_hash(_claim_content(claim))
    payer_id = _ensure_payer(conn, claim.payer_name, claim.payer_ident,
                             FILING_PLAN_TYPES.get(claim.filing_indicator, "commercial"))
    row = conn.execute("SELECT id, source_hash FROM claims WHERE claim_number = ? AND "
                       "payer_id = ?", (claim.claim_number, payer_id)).fetchone()
    if row is not None and row[1] == digest:
        outcome.unchanged += 1
        return
    patient_id = _claim_patient(conn, claim, payer_id, outcome)
    rendering = claim.rendering
    values = (patient_id, _iso(claim.first_service_date()), str(claim.total_charge),
              claim.frequency_code, json.dumps(sorted({ln.code for ln in claim.lines
                                                       if ln.code})),
              claim.kind, json.dumps(claim.diagnoses), claim.facility_code,
              _iso(claim.last_service_date()), claim.original_reference,
              rendering.name if rendering else "", rendering.npi if rendering else "",
              rendering.loop if rendering else "", digest)
    if row is None:
        cur = conn.execute(
            "INSERT INTO claims (patient_id, service_date, total_charge, frequency_code, "
            "procedures, source, diagnoses, facility_code, service_to, original_reference, "
            "rendering_name, rendering_npi, rendering_from, source_hash, claim_number, "
            "payer_id, status, submitted_at, created_at) VALUES "
            "(?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,'submitted',?,?)",
            values + (claim.claim_number, payer_id, clock.iso(clock.now()),
                      clock.iso(clock.now())))
        claim_id = int(cur.lastrowid)
        outcome.created += 1
    else:
        claim_id = int(row[0])
        conn.execute(
            "UPDATE claims SET patient_id = ?, service_date = ?, total_charge = ?, "
            "frequency_code = ?, procedures = ?, source = ?, diagnoses = ?, facility_code = ?,"
            " service_to = ?, original_reference = ?, rendering_name = ?, rendering_npi = ?, "
            "rendering_from = ?, source_hash = ? WHERE id = ?",
            values + (claim_id,))
        conn.execute("DELETE FROM claim_lines WHERE claim_id = ?", (claim_id,))
        outcome.updated += 1
    outcome.count("claim")
    for n, ln in enumerate(claim.lines):
        conn.execute(
            "INSERT INTO claim_lines (claim_id, ordinal, procedure, code, modifiers, "
            "revenue_code, charge, units, unit_basis, service_date, diagnosis_pointers, "
            "rendering_name, rendering_npi) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
            (claim_id, n, ln.procedure, ln.code, json.dumps(ln.modifiers), ln.revenue_code,
             str(ln.charge), None if ln.units is None else str(ln.units), ln.unit_basis,
             _iso(ln.service_date), json.dumps(ln.diagnosis_pointers),
             ln.rendering.name if ln.rendering else "",
             ln.rendering.npi if ln.rendering else ""))


def claim_detail(session: Session, claim_id: int) -> dict[str, Any]:
    """A claim as billed, with its lines (what the 835 and 277 are matched against).
    Shows the patient's diagnoses, so the look is audited like any view of a record."""
    require(session, "claim.manage")
    vault = session.vault
    r = vault.query_one(
        "SELECT c.id, c.claim_number, c.patient_id, c.payer_id, p.name, c.service_date, "
        "c.service_to, c.total_charge, c.frequency_code, c.diagnoses, c.status, c.source, "
        "c.facility_code, c.original_reference, c.rendering_name, c.rendering_npi, "
        "c.rendering_from FROM claims c LEFT JOIN payers p ON "
        "p.id = c.payer_id WHERE c.id = ?", (claim_id,))
    if r is None:
        raise NotFound(f"no claim {claim_id}")
    audit.record_now(vault, session, "claim.view", object_type="claim", object_id=claim_id,
                     patient_id=r[2])
    lines = [{"code": x[0], "modifiers": json.loads(x[1]), "revenue_code": x[2],
              "charge": x[3], "units": x[4], "service_date": x[5],
              "rendering": {"name": x[6], "npi": x[7]} if x[6] or x[7] else None}
             for x in vault.query(
        "SELECT code, modifiers, revenue_code, charge, units, service_date, rendering_name, "
        "rendering_npi FROM claim_lines WHERE claim_id = ? ORDER BY ordinal", (claim_id,))]
    return {"id": r[0], "claim_number": r[1], "patient_id": r[2], "payer_id": r[3],
            "payer": r[4], "service_from": r[5], "service_to": r[6], "total_charge": r[7],
            "frequency_code": r[8], "diagnoses": json.loads(r[9]), "status": r[10],
            "source": r[11], "facility_code": r[12], "original_reference": r[13],
            "rendering": {"name": r[14], "npi": r[15], "loop": r[16]} if r[14] or r[15]
            else None, "lines": lines}


# -- FHIR R4 ----------------------------------------------------------------------------------

def import_fhir(session: Session, files: list[tuple[str, bytes]], *, skip_bad: bool = False,
                progress: Progress | None = None) -> ImportOutcome:
    """Import FHIR bundles and bulk NDJSON files (name, content) in one transaction:
    patients (matched by their FHIR id from an earlier import, else by name and birth
    date), coverage, appointments, and the clinical records care gaps read. Every
    resource is validated first; a bad one refuses the whole import with its position
    (file, entry or line) unless skip_bad, which leaves it out, lists it and audits the
    choice. Keyed on the resources' own ids: a re-import changes nothing."""
    require(session, "records.import")
    batch = read_fhir_bounded(files, limits=LIMITS)
    outcome = ImportOutcome("fhir", records=batch.records, skipped=list(batch.bad))
    if batch.ignored:
        outcome.findings.append("not imported (types OffHold does not use): " + ", ".join(
            f"{t} {n}" for t, n in sorted(batch.ignored.items())))
    with session.vault.write() as conn:
        _store_fhir(conn, batch, outcome, _ticker(progress, len(batch.resources)))
        if outcome.skipped and not skip_bad:
            first = outcome.skipped[0]
            more = len(outcome.skipped) - 1
            raise ImportRejected(first.reason + (f"; {more} more bad record(s)" if more
                                                 else ""), first.position)
        _finish(session, conn, outcome, source_digest("fhir", [d for _n, d in files]),
                sum(len(d) for _n, d in files), skip_bad, files=len(files))
    return outcome


def _source_row(conn: Connection, source: str, resource: str, source_id: str
                ) -> tuple[int, str] | None:
    row = conn.execute("SELECT local_id, content_hash FROM source_ids WHERE source = ? AND "
                       "resource = ? AND source_id = ?", (source, resource, source_id)
                       ).fetchone()
    return None if row is None else (int(row[0]), str(row[1]))


def _link(conn: Connection, source: str, resource: str, source_id: str, local_id: int,
          digest: str) -> None:
    conn.execute("INSERT INTO source_ids (source, resource, source_id, local_id, content_hash)"
                 " VALUES (?,?,?,?,?) ON CONFLICT (source, resource, source_id) DO UPDATE "
                 "SET local_id = excluded.local_id, content_hash = excluded.content_hash",
                 (source, resource, source_id, local_id, digest))


PATIENT_COLUMNS = ("first_name", "last_name", "dob", "sex", "phone", "email", "address")


def _upsert_patient(conn: Connection, source: str, source_id: str, fields: dict[str, Any],
                    outcome: ImportOutcome) -> int:
    """A patient from an export: the one imported before under the same source ID, else
    the same person already in the vault (name and birth date), else a new one."""
    digest = content_hash(fields)
    known = _source_row(conn, source, "Patient", source_id)
    if known is not None and known[1] == digest:
        outcome.unchanged += 1
        return known[0]
    patient_id = known[0] if known else _find_patient(
        conn, fields["last_name"], fields["first_name"], fields["dob"] or "", "")
    if patient_id is None:
        patient_id = _new_patient(conn, fields["last_name"], fields["first_name"],
                                  fields["dob"] or "", fields.get("sex", ""),
                                  **{k: str(fields.get(k) or "") for k in
                                     ("phone", "email", "address")})
        outcome.created += 1
    else:
        present = {k: fields[k] for k in PATIENT_COLUMNS if fields.get(k)}
        conn.execute(f"UPDATE patients SET {', '.join(f'{k} = ?' for k in present)}, "
                     "updated_at = ? WHERE id = ?",
                     (*present.values(), clock.iso(clock.now()), patient_id))
        outcome.updated += 1
    outcome.count("patient")
    _link(conn, source, "Patient", source_id, patient_id, digest)
    return patient_id


def _store_fhir(conn: Connection, batch: Any, outcome: ImportOutcome,
                tick: Callable[[int], None]) -> None:
    from app.imports.common import BadRecord
    from app.imports.fhir import iter_by_type

    patients: dict[str, int] = {}
    for n, res in enumerate(iter_by_type(batch), 1):
        tick(n)
        if res.type == "Patient":
            patients[res.id] = _upsert_patient(conn, "fhir", res.id, res.fields, outcome)
            continue
        patient_id = patients.get(res.patient_ref)
        if patient_id is None:
            known = _source_row(conn, "fhir", "Patient", res.patient_ref)
            patient_id = known[0] if known else None
        if patient_id is None:
            outcome.skipped.append(BadRecord(res.position, f"{res.type}: its patient is "
                                             "not in this import nor an earlier one", res.id))
            continue
        digest = content_hash({"patient": res.patient_ref, **res.fields, **res.refs})
        known = _source_row(conn, "fhir", res.type, res.id)
        if known is not None and known[1] == digest:
            outcome.unchanged += 1
            continue
        local = known[0] if known else None
        if res.type == "Coverage":
            try:
                local = _store_coverage(conn, res, patient_id, local, batch.organizations)
            except ValueError as exc:
                outcome.skipped.append(BadRecord(res.position, str(exc), res.id))
                continue
        elif res.type == "Appointment":
            local = _store_appointment(conn, res.fields, patient_id, local)
        else:
            local = _store_clinical(conn, _with_provider(conn, res, batch.practitioners),
                                    patient_id, local)
        if known is None:
            outcome.created += 1
        else:
            outcome.updated += 1
        outcome.count(res.type.lower())
        _link(conn, "fhir", res.type, res.id, local, digest)


def _plan_type(payer_name: str) -> str:
    name = payer_name.casefold()
    if "medicare" in name:
        return "medicare_advantage" if "advantage" in name else "medicare_ffs"
    return "medicaid" if "medicaid" in name else "commercial"


def _store_coverage(conn: Connection, res: Any, patient_id: int, local: int | None,
                    organizations: dict[str, str]) -> int:
    f = res.fields
    payer_name = f["payer_name"] or organizations.get(res.refs.get("payor", ""), "")
    if not payer_name or not f["member_id"]:
        raise ValueError("Coverage: no payer name (payor) or member ID (subscriberId)")
    payer_id = _ensure_payer(conn, payer_name, "", _plan_type(payer_name))
    values = (patient_id, payer_id, f["member_id"], f["group_number"], f["plan_name"],
              f["priority"], f["active"], f["effective_date"], f["termination_date"])
    if local is None:
        existing = conn.execute("SELECT id FROM coverages WHERE patient_id = ? AND payer_id = ?"
                                " AND member_id = ? COLLATE NOCASE", values[:3]).fetchone()
        if existing is None:
            cur = conn.execute("INSERT INTO coverages (patient_id, payer_id, member_id, "
                               "group_number, plan_name, priority, active, effective_date, "
                               "termination_date) VALUES (?,?,?,?,?,?,?,?,?)", values)
            return int(cur.lastrowid)
        local = int(existing[0])
    conn.execute("UPDATE coverages SET patient_id = ?, payer_id = ?, member_id = ?, "
                 "group_number = ?, plan_name = ?, priority = ?, active = ?, "
                 "effective_date = ?, termination_date = ? WHERE id = ?", values + (local,))
    return local


def _store_appointment(conn: Connection, f: dict[str, Any], patient_id: int,
                       local: int | None) -> int:
    visit_type = str(f.get("visit_type") or "office_visit")
    if local is None:
        cur = conn.execute("INSERT INTO appointments (patient_id, provider, start_at, "
                           "visit_type, status, created_at) VALUES (?,?,?,?,?,?)",
                           (patient_id, f["provider"], f["start_at"], visit_type,
                            f["status"], clock.iso(clock.now())))
        return int(cur.lastrowid)
    conn.execute("UPDATE appointments SET patient_id = ?, provider = ?, start_at = ?, "
                 "visit_type = ?, status = ? WHERE id = ?",
                 (patient_id, f["provider"], f["start_at"], visit_type, f["status"], local))
    return local


CLINICAL_COLUMNS = ("kind", "code_system", "code", "display", "status", "recorded_on",
                    "ended_on", "value", "unit", "provider_name", "provider_npi",
                    "provider_from", "quantity")


def _with_provider(conn: Connection, res: Any, practitioners: dict[str, tuple[str, str]]
                   ) -> dict[str, Any]:
    """A clinical record's fields with its documenting provider: the Practitioner it
    names (from this import's Practitioner resources: name and NPI), else the one of the
    Encounter it belongs to (stored first, in this import or an earlier one), so the
    chart can be matched per provider with the claims' rendering provider."""
    fields = dict(res.fields)
    fields.setdefault("provider_npi", "")
    name, npi = practitioners.get(res.refs.get("practitioner", ""), ("", ""))
    if name or npi:
        fields["provider_name"], fields["provider_npi"] = name or fields["provider_name"], npi
    elif not fields["provider_name"] and res.refs.get("encounter"):
        row = conn.execute(
            "SELECT r.provider_name, r.provider_npi, r.provider_from FROM source_ids s JOIN "
            "clinical_records r ON r.id = s.local_id WHERE s.source = 'fhir' AND s.resource"
            " = 'Encounter' AND s.source_id = ?", (res.refs["encounter"],)).fetchone()
        if row is not None and (row[0] or row[1]):
            fields["provider_name"], fields["provider_npi"] = str(row[0]), str(row[1])
            fields["provider_from"] = f"encounter {row[2]}".strip()
    return fields


def _store_clinical(conn: Connection, f: dict[str, Any], patient_id: int,
                    local: int | None) -> int:
    values = tuple(f[k] for k in CLINICAL_COLUMNS)
    if local is None:
        cur = conn.execute(f"INSERT INTO clinical_records (patient_id, "
                           f"{', '.join(CLINICAL_COLUMNS)}, created_at) VALUES "
                           f"(?, {', '.join('?' for _ in CLINICAL_COLUMNS)}, ?)",
                           (patient_id, *values, clock.iso(clock.now())))
        return int(cur.lastrowid)
    conn.execute(f"UPDATE clinical_records SET patient_id = ?, "
                 f"{', '.join(f'{k} = ?' for k in CLINICAL_COLUMNS)} WHERE id = ?",
                 (patient_id, *values, local))
    return local


# -- CSV exports (roster, schedule) with saved column mappings ---------------------------------

def save_mapping(session: Session, name: str, target: str, columns: dict[str, str], *,
                 source: str = "", date_format: str = "") -> Mapping:
    """Save (or replace) a named column mapping, reused by later imports. Audited."""
    require(session, "records.import")
    name = name.strip()
    if not name or len(name) > 60:
        raise ValidationError("a mapping needs a name of 1 to 60 characters")
    mapping = Mapping(name, target, dict(columns), source.strip(), date_format)
    now = clock.iso(clock.now())
    with session.vault.write() as conn:
        conn.execute("INSERT INTO import_mappings (name, target, columns, created_by, "
                     "created_at, updated_at) VALUES (?,?,?,?,?,?) ON CONFLICT (name) DO "
                     "UPDATE SET target = excluded.target, columns = excluded.columns, "
                     "updated_at = excluded.updated_at",
                     (name, target, json.dumps(mapping.to_json()), session.username, now,
                      now))
        audit.record(session.vault, conn, session, "import.mapping_saved", "import_mapping",
                     name, details={"target": target, "fields": sorted(columns)})
    return mapping


def get_mapping(session: Session, name: str) -> Mapping | None:
    require(session, "records.import")
    row = session.vault.query_one("SELECT columns FROM import_mappings WHERE name = ?",
                                  (name,))
    if row is None:
        return None
    saved = json.loads(row[0])
    return Mapping(saved["name"], saved["target"], saved["columns"], saved["source"],
                   saved.get("date_format", ""))


def list_mappings(session: Session) -> list[dict[str, Any]]:
    require(session, "records.import")
    return [json.loads(r[0]) for r in session.vault.query(
        "SELECT columns FROM import_mappings ORDER BY name")]


def preview_csv(session: Session, data: bytes, mapping: Mapping | None = None, *,
                target: str = "patients", rows: int = 5) -> dict[str, Any]:
    """The first rows of an export, the suggested mapping for its headers and, with a
    mapping, the rows as they would be imported. Writes nothing; the rows hold PHI, so
    the role is checked and the look is audited like any view of patient data."""
    require(session, "records.import")
    table = read_table(data, LIMITS, max_rows=rows)
    out = preview(table, mapping, rows)
    out["suggested"] = suggest(mapping.target if mapping else target, table.headers)
    audit.record_now(session.vault, session, "import.preview", object_type="import_mapping",
                     object_id=mapping.name if mapping else "",
                     details={"rows": len(out["rows"])})
    return out


def import_csv(session: Session, data: bytes, mapping_name: str, *, skip_bad: bool = False,
               file_name: str = "", progress: Progress | None = None) -> ImportOutcome:
    """Import a roster or schedule export with a saved mapping, in one transaction. Rows
    are keyed by the export's own ID column (per source), so a re-import changes nothing;
    a schedule row names its patient by the roster's ID. A bad row refuses the file with
    its line number, or with skip_bad is left out, listed and audited."""
    require(session, "records.import")
    mapping = get_mapping(session, mapping_name)
    if mapping is None:
        raise NotFound(f"no saved column mapping {mapping_name!r}; save one first "
                       "(offhold import csv FILE --mapping NAME --target ... --map ...)")
    # Two streamed passes (app.imports.tabular): validate first, holding only IDs and
    # the bad rows, then read each row again as it is written.
    checked = validate_csv(data, mapping, LIMITS)
    outcome = ImportOutcome(f"csv:{mapping.target}", records=checked.rows,
                            skipped=list(checked.bad))
    prefix = f"{file_name} " if file_name else ""
    with session.vault.write() as conn:
        source = f"csv:{mapping.source}"
        tick = _ticker(progress, checked.rows - len(checked.bad))
        n = 0
        bad_again: list[str] = []
        # The validation pass was bounded in time; the write is bounded by the row cap
        # (as before streaming), so a large roster is not refused halfway for its size.
        for position, record in iter_records(data, mapping, replace(LIMITS,
                                                                    seconds=math.inf)):
            if isinstance(record, BadRecord):
                bad_again.append(position)
                continue  # listed by the validation pass
            n += 1
            tick(n)
            if mapping.target == "patients":
                _csv_patient(conn, source, record, outcome)
            else:
                _csv_appointment(conn, source, position, record, outcome)
        if bad_again != [b.position for b in checked.bad]:
            # The two passes read the same bytes but judged a row differently (a birth
            # date of tomorrow at midnight): what was written is not what was listed.
            raise ImportRejected("the file's rows were judged differently between the check "
                                 "and the write (the date changed while it was imported); "
                                 "nothing was imported: import it again", prefix.strip())
        if outcome.skipped and not skip_bad:
            first = outcome.skipped[0]
            more = len(outcome.skipped) - 1
            raise ImportRejected(first.reason + (f"; {more} more bad row(s)" if more else ""),
                                 prefix + first.position)
        _finish(session, conn, outcome, source_digest("csv", [data]), len(data), skip_bad)
    return outcome


def _csv_patient(conn: Connection, source: str, record: dict[str, Any],
                 outcome: ImportOutcome) -> None:
    fields = {k: v for k, v in record.items() if k != "id"}
    unchanged = outcome.unchanged
    patient_id = _upsert_patient(conn, source, record["id"], fields, outcome)
    if outcome.unchanged > unchanged or not record["member_id"]:
        return
    payer_id = _ensure_payer(conn, record["payer"], "", _plan_type(record["payer"]))
    if _ensure_coverage(conn, patient_id, payer_id, record["member_id"],
                        record["group_number"], 1):
        outcome.count("coverage")


def _csv_appointment(conn: Connection, source: str, position: str, record: dict[str, Any],
                     outcome: ImportOutcome) -> None:
    from app.imports.common import BadRecord

    known_patient = _source_row(conn, source, "Patient", record["patient_id"])
    if known_patient is None:
        outcome.skipped.append(BadRecord(position, "patient_id: not in this source's "
                                         "roster (import the roster first)", record["id"]))
        return
    fields = {k: v for k, v in record.items() if k not in ("id", "patient_id")}
    digest = content_hash(record)
    known = _source_row(conn, source, "Appointment", record["id"])
    if known is not None and known[1] == digest:
        outcome.unchanged += 1
        return
    local = _store_appointment(conn, fields, known_patient[0], known[0] if known else None)
    if known is None:
        outcome.created += 1
    else:
        outcome.updated += 1
    outcome.count("appointment")
    _link(conn, source, "Appointment", record["id"], local, digest)


# -- previews (the desktop's import dialog) ------------------------------------------------

def preview_import(session: Session, kind: str, files: list[tuple[str, bytes]], *,
                   mapping: Mapping | None = None, target: str = "patients",
                   rows: int = 8, lenient: bool = False) -> dict[str, Any]:
    """What an import would read, before anything is written: a table (columns and the
    first rows), the record count and the bad records with their positions. Shows PHI,
    so the role is checked and the look audited."""
    require(session, "claim.import" if kind == "837" else "records.import")
    out: dict[str, Any]
    if kind == "837":
        data = files[0][1] if files else b""
        parsed = parse_837_bounded(data, lenient=lenient, skip_bad=True, limits=LIMITS)
        out = {"columns": ["Claim", "Patient", "Payer", "Service date", "Charge", "Lines"],
               "rows": [[c.claim_number, f"{c.who.last}, {c.who.first}" if c.who else "",
                         c.payer_name, _iso(c.first_service_date()) or "",
                         str(c.total_charge), str(len(c.lines))]
                        for c in parsed.claims[:rows]],
               "records": len(parsed.claims) + len(parsed.bad),
               "bad": [str(b) for b in parsed.bad], "findings": parsed.findings}
    elif kind == "fhir":
        batch = read_fhir_bounded(files, limits=LIMITS)
        counts: dict[str, int] = {}
        for res in batch.resources:
            counts[res.type] = counts.get(res.type, 0) + 1
        out = {"columns": ["Resource", "Records"],
               "rows": [[t, str(n)] for t, n in sorted(counts.items())]
               + [[f"{t} (not imported)", str(n)]
                  for t, n in sorted(batch.ignored.items())],
               "records": batch.records,
               "bad": [str(b) for b in batch.bad], "findings": []}
    elif kind == "csv":
        table = read_table(files[0][1] if files else b"", LIMITS, max_rows=rows)
        shown = preview(table, mapping, rows)
        out = {"columns": table.headers, "rows": shown["rows"],
               "suggested": suggest(mapping.target if mapping else target, table.headers),
               "mapped": shown.get("mapped", []), "records": len(shown["rows"]),
               "bad": shown.get("problems", []), "findings": []}
    else:
        raise ValidationError(f"unknown import kind {kind[:12]!r}: 837, fhir or csv")
    audit.record_now(session.vault, session, "import.preview", object_type="import",
                     object_id=kind, details={"files": len(files), "rows": len(out["rows"])})
    return out


__all__ = ["LIMITS", "ImportOutcome", "Mapping", "check_size", "claim_detail",
           "delete_imported_files", "get_mapping", "import_837", "import_csv", "import_fhir", "list_mappings", "preview_csv",
           "preview_import",
           "save_mapping"]
