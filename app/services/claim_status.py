"""277 claim status: attach statuses to claims and decide which need a person.
Rejections (A3, A6, A7, A8), denials (F2), pends (P0-P5) and requests for more
information (R*) become `claim_status` tasks through the workflow."""

from __future__ import annotations

import csv
import hashlib
from dataclasses import dataclass
from functools import lru_cache

from app import audit, clock
from app.domain.revenue import ClaimStatus
from app.identity import Session, require
from app.services.remittance import CODES_DIR, ImportResult, import_row, match_patient
from app.vault.db import Connection

REJECTED = frozenset({"A3", "A6", "A7", "A8"})
DENIED = frozenset({"F2"})
PENDED = frozenset({"P0", "P1", "P2", "P3", "P4", "P5"})
REQUESTS = frozenset({"R0", "R1", "R3", "R4", "R5"})


@lru_cache(maxsize=None)
def _csv(name: str) -> dict[str, str]:
    with open(CODES_DIR / name, encoding="utf-8", newline="") as fh:
        return {r["code"]: r["description"] for r in csv.DictReader(fh)}


def category_text(code: str) -> str:
    return _csv("claim_status_categories.csv").get(code, f"category {code}")


def status_text(code: str) -> str:
    return _csv("claim_status_codes.csv").get(code, f"status {code}")


def outcome(category: str) -> str:
    if category in REJECTED:
        return "rejected"
    if category in DENIED:
        return "denied"
    if category in PENDED:
        return "pended"
    if category in REQUESTS:
        return "info_requested"
    if category.startswith("F"):
        return "finalized"
    if category.startswith("A"):
        return "accepted"
    return "other"


@dataclass
class StoredStatus:
    status_row_id: int
    status: ClaimStatus
    outcome: str
    claim_id: int | None
    patient_id: int | None


def store_277(session: Session, conn: Connection, statuses: list[ClaimStatus], data: bytes,
              *, lenient: bool = False, findings: list[str] | None = None,
              ) -> tuple[ImportResult, list[StoredStatus]]:
    require(session, "claim.manage")
    result = ImportResult("277", None, hashlib.sha256(data).hexdigest(),
                          transactions=len(statuses), findings=list(findings or []))
    stored: list[StoredStatus] = []
    now = clock.iso(clock.now())
    for st in statuses:
        info = st.primary
        if info is None:
            continue
        key = hashlib.sha256("|".join([
            st.payer_name, st.claim_number, st.trace_number, st.payer_claim_number,
            info.category, info.code, str(info.effective_date or "")]).encode()).hexdigest()
        if conn.execute("SELECT 1 FROM claim_statuses WHERE natural_key = ?",
                        (key,)).fetchone():
            result.duplicates += 1
            continue
        if result.import_id is None:
            result.import_id, _sha = import_row(session, conn, "277", data, lenient,
                                                result.findings)
        claim = conn.execute("SELECT id, patient_id FROM claims WHERE claim_number = ? "
                             "ORDER BY id DESC LIMIT 1", (st.claim_number,)).fetchone()
        claim_id = int(claim[0]) if claim else None
        patient_id = match_patient(conn, st.patient_last, st.member_id)
        if patient_id is None and claim is not None and claim[1] is not None:
            patient_id = int(claim[1])
        result_outcome = outcome(info.category)
        cur = conn.execute(
            "INSERT INTO claim_statuses (import_id, natural_key, claim_number, claim_id, "
            "patient_id, payer_name, payer_claim_number, category, code, entity, status_date, "
            "charge, paid, outcome, received_at) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            (result.import_id, key, st.claim_number, claim_id, patient_id, st.payer_name,
             st.payer_claim_number, info.category, info.code, info.entity,
             info.effective_date.isoformat() if info.effective_date else None,
             None if info.charge is None else str(info.charge),
             None if info.paid is None else str(info.paid), result_outcome, now))
        if claim_id is not None:
            conn.execute("UPDATE claims SET status = ?, status_detail = ?, status_at = ?, "
                         "payer_claim_number = CASE WHEN payer_claim_number = '' THEN ? ELSE "
                         "payer_claim_number END WHERE id = ?",
                         (result_outcome, f"277 {info.category}:{info.code}", now,
                          st.payer_claim_number, claim_id))
        result.stored += 1
        result.claims += 1
        if patient_id is None:
            result.unmatched += 1
        else:
            result.matched_patients += 1
        stored.append(StoredStatus(int(cur.lastrowid), st, result_outcome, claim_id,
                                   patient_id))
    audit.record(session.vault, conn, session, "x12.import", "x12_import",
                 result.import_id or "", details={
                     "kind": "277", "sha256": result.sha256, "stored": result.stored,
                     "duplicates": result.duplicates, "lenient": lenient})
    return result, stored
