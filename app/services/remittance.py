"""835 remittances: storage and read services. Store parsed remittances, match them to
patients, payers and claims, record each claim's classification (app.denials.classify)
and appeal deadline; read them back for the denial review pane, the CLI and reports.

Workflows (automations.workflows.denials) call `store_remittances` inside the same
`vault.write()` as the tasks they create, so an import is one transaction;
`plan_remittances` shows, before that transaction, what it would store (so letters are
rendered without holding the write lock).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field, replace
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from app import audit, clock
from app.denials.classify import (
    appeal_deadline,
    claim_status,
    classify,
    first_service_date,
    is_medicare,
)
from app.denials.codes import CODES_DIR, carc_text, clp02_text, plb_reason_text, rarc_text
from app.denials.rules import StoredClaim
from app.denials.view import (
    ACTION_LABEL,
    CATEGORY_LABEL,
    SCOPE_LABEL,
    Deadline,
    adjustment_groups,
    denial_scope,
    labelled,
    patient_responsibility,
)
from app.domain.revenue import ClaimPayment, Remittance
from app.errors import NotFound
from app.identity import Session, require
from app.vault.db import Connection, make_private

__all__ = ["CODES_DIR", "ImportResult", "StoredClaim"]  # re-exported for the other importers


# -- storing ------------------------------------------------------------------------------

@dataclass
class ImportResult:
    kind: str
    import_id: int | None
    sha256: str
    transactions: int = 0
    stored: int = 0  # new remittances/responses/statuses
    duplicates: int = 0
    claims: int = 0
    denials: int = 0
    matched_patients: int = 0
    unmatched: int = 0
    issues: list[str] = field(default_factory=list)
    findings: list[str] = field(default_factory=list)
    tasks: list[int] = field(default_factory=list)
    # (remittance id, balance messages) of the new remittances that do not balance
    unbalanced: list[tuple[int, list[str]]] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {k: v for k, v in vars(self).items() if k != "unbalanced"}


def _iso(d: date | None) -> str | None:
    return d.isoformat() if d else None


def _s(d: Decimal | None) -> str | None:
    return None if d is None else str(d)


def match_patient(conn: Connection, last: str, member_id: str) -> int | None:
    """A patient whose coverage has this member ID and whose last name matches."""
    member_id = member_id.strip()
    if not member_id or not last:
        return None
    for pid, plast in conn.execute(
            "SELECT p.id, p.last_name FROM coverages c JOIN patients p ON p.id = c.patient_id "
            "WHERE c.member_id = ? COLLATE NOCASE ORDER BY c.active DESC, c.id", (member_id,)):
        if str(plast).strip().casefold() == last.strip().casefold():
            return int(pid)
    return None


def match_payer(conn: Connection, name: str, ident: str) -> tuple[int, str, int | None,
                                                                   int | None] | None:
    """(id, plan_type, appeal_window_days, timely_filing_days) by name or payer code."""
    row = conn.execute(
        "SELECT id, plan_type, appeal_window_days, timely_filing_days FROM payers "
        "WHERE name = ? COLLATE NOCASE OR (payer_code != '' AND payer_code = ?) "
        "ORDER BY name = ? COLLATE NOCASE DESC LIMIT 1", (name, ident, name)).fetchone()
    return None if row is None else (int(row[0]), str(row[1]), row[2], row[3])


def _claim_as_stored(conn: Connection, remit: Remittance, claim: ClaimPayment, ordinal: int,
                     payer: tuple[int, str, int | None, int | None] | None, notice: date,
                     default_days: int, unbalanced: set[str]) -> StoredClaim:
    """What storing one claim records about it (ids 0 until it is stored): its
    classification, matches and deadline. Reads only."""
    payer_id, plan_type, window, filing_days = payer if payer else (None, None, None, None)
    medicare = is_medicare(claim, plan_type)
    cls = classify(claim, medicare=medicare)
    patient_id = match_patient(conn, claim.patient_last, claim.member_id)
    claim_row = conn.execute(
        "SELECT id FROM claims WHERE claim_number = ? AND (payer_id = ? OR ? IS NULL) "
        "ORDER BY id DESC LIMIT 1", (claim.claim_number, payer_id, payer_id)).fetchone()
    claim_id = int(claim_row[0]) if claim_row else None
    if claim_id is not None and patient_id is None:
        row = conn.execute("SELECT patient_id FROM claims WHERE id = ?", (claim_id,)).fetchone()
        patient_id = row[0] if row else None
    name = ""
    if patient_id is not None and cls.is_denial:  # only letters name the patient
        row = conn.execute("SELECT first_name, last_name FROM patients WHERE id = ?",
                           (patient_id,)).fetchone()
        name = f"{row[0]} {row[1]}" if row else ""
    deadline = (appeal_deadline(notice, window, medicare, default_days)
                if cls.is_denial and cls.appealable else None)
    return StoredClaim(0, 0, claim, remit, cls, patient_id, claim_id, payer_id,
                       remit.payer_name, medicare, deadline, filing_days,
                       claim.claim_number not in unbalanced, ordinal, name,
                       denial_scope(claim, cls.is_denial))


def _notice(remit: Remittance, today: date) -> date:
    # The appeal clock runs from receipt of the determination. CMS presumes receipt 5
    # days after the notice date; counting from the notice (payment) date itself
    # gives an earlier, safe deadline.
    return remit.payment_date or remit.production_date or today


def _unbalanced_claims(remit: Remittance) -> set[str]:
    return {i.claim_number for i in remit.issues if i.level != "payment"}


def _is_stored(conn: Connection, remit: Remittance) -> bool:
    return conn.execute("SELECT 1 FROM remittances WHERE trace_number = ? AND payer_ident = ?",
                        (remit.trace_number, remit.payer_id or remit.originator)
                        ).fetchone() is not None


def plan_remittances(session: Session, remits: list[Remittance]) -> list[StoredClaim]:
    """The claims `store_remittances` would store now, with ids 0 (remittances already
    stored are left out). Reads only, on one snapshot: the import renders its letters
    from this before it takes the write lock."""
    require(session, "remit.import")
    from app.services.practice import get_setting
    default_days = int(get_setting(session, "default_appeal_days"))
    today = clock.now().date()
    planned: list[StoredClaim] = []
    with session.vault.read() as conn:
        for remit in remits:
            if _is_stored(conn, remit):
                continue
            payer = match_payer(conn, remit.payer_name, remit.payer_id or remit.originator)
            unbalanced = _unbalanced_claims(remit)
            planned.extend(_claim_as_stored(conn, remit, claim, ordinal, payer,
                                            _notice(remit, today), default_days, unbalanced)
                           for ordinal, claim in enumerate(remit.claims))
    return planned


def store_remittances(session: Session, conn: Connection, remits: list[Remittance],
                      data: bytes, *, lenient: bool = False,
                      ) -> tuple[ImportResult, list[StoredClaim]]:
    """Store parsed remittances inside the caller's transaction. A remittance already
    stored (same TRN trace number and payer) is skipped whole, so re-importing a file
    changes nothing."""
    require(session, "remit.import")
    sha = hashlib.sha256(data).hexdigest()
    result = ImportResult("835", None, sha, transactions=len(remits))
    stored: list[StoredClaim] = []
    balance: list[tuple[int, bool, list[str]]] = []
    today = clock.now().date()
    from app.services.practice import get_setting
    default_days = int(get_setting(session, "default_appeal_days"))
    for remit in remits:
        result.findings.extend(remit.findings)
        payer_ident = remit.payer_id or remit.originator
        if _is_stored(conn, remit):
            result.duplicates += 1
            continue
        if result.import_id is None:
            result.import_id = _import_row(session, conn, "835", data, sha, lenient,
                                           [f for r in remits for f in r.findings])
        payer = match_payer(conn, remit.payer_name, payer_ident)
        issues = [{"level": i.level, "claim": i.claim_number, "expected": str(i.expected),
                   "actual": str(i.actual), "message": i.message} for i in remit.issues]
        result.issues.extend(i.message for i in remit.issues)
        cur = conn.execute(
            "INSERT INTO remittances (import_id, payer_id, payer_name, payer_ident, payee_name,"
            " payee_ident, trace_number, originator, handling, payment_amount, credit_debit, "
            "method, payment_date, production_date, received_at, balanced, issues, findings) "
            "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            (result.import_id, payer[0] if payer else None, remit.payer_name, payer_ident,
             remit.payee_name, remit.payee_id, remit.trace_number, remit.originator,
             remit.handling, str(remit.payment_amount), remit.credit_debit, remit.method,
             _iso(remit.payment_date), _iso(remit.production_date), clock.iso(clock.now()),
             int(remit.balanced), json.dumps(issues), json.dumps(remit.findings)))
        remittance_id = int(cur.lastrowid)
        result.stored += 1
        balance.append((remittance_id, remit.balanced, [i.message for i in remit.issues]))
        unbalanced = _unbalanced_claims(remit)
        notice = _notice(remit, today)
        for ordinal, claim in enumerate(remit.claims):
            sc = _claim_as_stored(conn, remit, claim, ordinal, payer, notice, default_days,
                                  unbalanced)
            cls = sc.classification
            cur = conn.execute(
                "INSERT INTO remit_claims (remittance_id, ordinal, claim_number, status_code, "
                "charge, paid, patient_responsibility, filing_indicator, payer_claim_number, "
                "frequency, patient_last, patient_first, member_id, received_date, "
                "service_from, service_to, patient_id, claim_id, balanced, category, "
                "next_action, rule_id, is_denial, appealable, appeal_deadline, denial_scope) "
                "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                (remittance_id, ordinal, claim.claim_number, claim.status_code,
                 str(claim.charge), str(claim.paid), _s(claim.patient_responsibility),
                 claim.filing_indicator, claim.payer_claim_number, claim.frequency,
                 claim.patient_last, claim.patient_first, claim.member_id,
                 _iso(claim.received_date),
                 _iso(claim.service_from or first_service_date(claim)),
                 _iso(claim.service_to), sc.patient_id, sc.claim_id, int(sc.balanced),
                 cls.category.value, cls.action.value, cls.rule_id, int(cls.is_denial),
                 int(cls.appealable), _iso(sc.appeal_deadline), sc.scope))
            rc_id = int(cur.lastrowid)
            _store_detail(conn, rc_id, claim)
            if sc.claim_id is not None:
                conn.execute("UPDATE claims SET status = ?, status_detail = ?, status_at = ?, "
                             "payer_claim_number = CASE WHEN payer_claim_number = '' THEN ? "
                             "ELSE payer_claim_number END WHERE id = ?",
                             ("line_denied" if sc.scope == "line"
                              else claim_status(claim, cls), f"835 CLP02 {claim.status_code}",
                              clock.iso(clock.now()), claim.payer_claim_number, sc.claim_id))
            result.claims += 1
            result.denials += int(cls.is_denial)
            if sc.patient_id is not None:
                result.matched_patients += 1
            else:
                result.unmatched += 1
            stored.append(replace(sc, remit_claim_id=rc_id, remittance_id=remittance_id))
        for plb in remit.provider_adjustments:
            conn.execute("INSERT INTO remit_plb (remittance_id, provider, fiscal_date, reason, "
                         "reference, amount) VALUES (?,?,?,?,?,?)",
                         (remittance_id, plb.provider, _iso(plb.fiscal_date), plb.reason,
                          plb.reference, str(plb.amount)))
    if result.issues:
        result.unbalanced = [(rid, msgs) for rid, ok, msgs in balance if not ok]
    audit.record(session.vault, conn, session, "x12.import", "x12_import",
                 result.import_id or "", details={
                     "kind": "835", "sha256": sha, "stored": result.stored,
                     "duplicates": result.duplicates, "claims": result.claims,
                     "denials": result.denials, "imbalances": len(result.issues),
                     "lenient": lenient})
    return result, stored


def link_task(session: Session, conn: Connection, remit_claim_id: int, task_id: int) -> None:
    """Point a stored claim at its denial_review task, inside the import's transaction."""
    conn.execute("UPDATE remit_claims SET task_id = ? WHERE id = ?", (task_id, remit_claim_id))


def _store_detail(conn: Connection, rc_id: int, claim: ClaimPayment) -> None:
    for adj in claim.adjustments:
        conn.execute("INSERT INTO remit_adjustments (remit_claim_id, group_code, carc, amount,"
                     " quantity) VALUES (?,?,?,?,?)",
                     (rc_id, adj.group, adj.reason, str(adj.amount), _s(adj.quantity)))
    for code in claim.remarks:
        conn.execute("INSERT INTO remit_remarks (remit_claim_id, code) VALUES (?,?)",
                     (rc_id, code))
    for n, ln in enumerate(claim.lines):
        cur = conn.execute(
            "INSERT INTO remit_lines (remit_claim_id, ordinal, procedure, code, modifiers, "
            "charge, paid, units, revenue_code, service_date, control_number, allowed) "
            "VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
            (rc_id, n, ln.procedure, ln.code, json.dumps(ln.modifiers), str(ln.charge),
             str(ln.paid), _s(ln.units), ln.revenue_code, _iso(ln.service_date),
             ln.control_number, _s(ln.allowed)))
        line_id = int(cur.lastrowid)
        for adj in ln.adjustments:
            conn.execute("INSERT INTO remit_adjustments (remit_claim_id, remit_line_id, "
                         "group_code, carc, amount, quantity) VALUES (?,?,?,?,?,?)",
                         (rc_id, line_id, adj.group, adj.reason, str(adj.amount),
                          _s(adj.quantity)))
        for code in ln.remarks:
            conn.execute("INSERT INTO remit_remarks (remit_claim_id, remit_line_id, code) "
                         "VALUES (?,?,?)", (rc_id, line_id, code))


def _import_row(session: Session, conn: Connection, kind: str, data: bytes, sha: str,
                lenient: bool, findings: list[str]) -> int:
    cur = conn.execute("INSERT INTO x12_imports (kind, sha256, size, lenient, findings, actor,"
                       " imported_at) VALUES (?,?,?,?,?,?,?)",
                       (kind, sha, len(data), int(lenient), json.dumps(findings),
                        session.username, clock.iso(clock.now())))
    return int(cur.lastrowid)


def import_row(session: Session, conn: Connection, kind: str, data: bytes, lenient: bool,
               findings: list[str]) -> tuple[int, str]:
    sha = hashlib.sha256(data).hexdigest()
    return _import_row(session, conn, kind, data, sha, lenient, findings), sha


# -- reading (for the denial review pane and the CLI) ---------------------------------------

def remittance_summary(session: Session, remittance_id: int) -> dict[str, Any]:
    """A remittance with its claims, classifications, balance issues and PLB."""
    require(session, "task.view")
    vault = session.vault
    row = vault.query_one(
        "SELECT id, payer_name, trace_number, payment_amount, payment_date, balanced, issues, "
        "findings FROM remittances WHERE id = ?", (remittance_id,))
    if row is None:
        raise NotFound(f"no remittance {remittance_id}")
    today = _local_today(session)
    claims = [{
        "id": r[0], "claim_number": r[1], "status": r[2], "status_text": clp02_text(r[2]),
        "charge": r[3], "paid": r[4], "category": r[5], "next_action": r[6], "rule": r[7],
        "denial": bool(r[8]), "appealable": bool(r[9]), "appeal_deadline": r[10],
        "balanced": bool(r[11]), "patient_id": r[12], "task_id": r[13],
        "patient_responsibility": r[14] or "0", "scope": r[15],
        **_labels(r[5], r[6], r[15], r[10], today)}
        for r in vault.query(
            "SELECT id, claim_number, status_code, charge, paid, category, next_action, rule_id,"
            " is_denial, appealable, appeal_deadline, balanced, patient_id, task_id, "
            "patient_responsibility, denial_scope "
            "FROM remit_claims WHERE remittance_id = ? ORDER BY ordinal", (remittance_id,))]
    plb = [{"reason": r[0], "reason_text": plb_reason_text(r[0]),
            "reference": r[1], "amount": r[2]} for r in vault.query(
        "SELECT reason, reference, amount FROM remit_plb WHERE remittance_id = ? ORDER BY id",
        (remittance_id,))]
    return {"id": row[0], "payer": row[1], "trace_number": row[2], "payment": row[3],
            "payment_date": row[4], "balanced": bool(row[5]), "issues": json.loads(row[6]),
            "findings": json.loads(row[7]), "claims": claims, "provider_adjustments": plb}


def _local_today(session: Session) -> date:
    """Today in the practice's time zone (deadlines are the payer's calendar dates)."""
    from zoneinfo import ZoneInfo

    from app.services.practice import practice_info
    return clock.now().astimezone(ZoneInfo(str(practice_info(session)["timezone"]))).date()


def _labels(category: str | None, action: str | None, scope: str, deadline: str | None,
            today: date) -> dict[str, Any]:
    """What a biller reads: labels with the code beside them, and whether the appeal
    deadline has passed (then the next step is a write-off or a late-appeal review)."""
    passed = bool(deadline) and Deadline(date.fromisoformat(str(deadline)), today).passed
    return {"category_label": labelled(CATEGORY_LABEL, category),
            "next_action_label": labelled(ACTION_LABEL, "late_review" if passed else action),
            "scope_label": SCOPE_LABEL.get(scope, scope),
            "appeal_deadline_passed": passed,
            "appeal_deadline_text": Deadline(date.fromisoformat(str(deadline)), today).text()
            if deadline else ""}


def list_remittances(session: Session, limit: int = 100) -> list[dict[str, Any]]:
    require(session, "task.view")
    return [{"id": r[0], "payer": r[1], "trace_number": r[2], "payment": r[3],
             "balanced": bool(r[4]), "claims": r[5], "denials": r[6]}
            for r in session.vault.query(
                "SELECT m.id, m.payer_name, m.trace_number, m.payment_amount, m.balanced, "
                "(SELECT count(*) FROM remit_claims c WHERE c.remittance_id = m.id), "
                "(SELECT count(*) FROM remit_claims c WHERE c.remittance_id = m.id AND "
                "c.is_denial = 1) FROM remittances m ORDER BY m.id DESC LIMIT ?", (limit,))]


def remit_claim_detail(session: Session, remit_claim_id: int) -> dict[str, Any]:
    """One claim of an 835 with its adjustments and remarks, with the payer's reason text
    (what a denial review pane shows next to the task)."""
    require(session, "task.view")
    vault = session.vault
    r = vault.query_one(
        "SELECT c.id, c.claim_number, c.status_code, c.charge, c.paid, c.category, "
        "c.next_action, c.rule_id, c.is_denial, c.appealable, c.appeal_deadline, c.balanced, "
        "c.payer_claim_number, c.patient_id, m.payer_name, m.trace_number, c.service_from, "
        "p.timely_filing_days, c.denial_scope, c.patient_responsibility "
        "FROM remit_claims c JOIN remittances m ON m.id = "
        "c.remittance_id LEFT JOIN payers p ON p.id = m.payer_id WHERE c.id = ?",
        (remit_claim_id,))
    if r is None:
        raise NotFound(f"no remittance claim {remit_claim_id}")
    adjs = [{"group": a[0], "carc": a[1], "amount": a[2], "line": a[3],
             "reason": carc_text(a[1])} for a in vault.query(
        "SELECT a.group_code, a.carc, a.amount, l.code FROM remit_adjustments a LEFT JOIN "
        "remit_lines l ON l.id = a.remit_line_id WHERE a.remit_claim_id = ? ORDER BY a.id",
        (remit_claim_id,))]
    remarks = [{"code": x[0], "text": rarc_text(x[0])} for x in vault.query(
        "SELECT DISTINCT code FROM remit_remarks WHERE remit_claim_id = ?", (remit_claim_id,))]
    lines = [{"code": x[0], "modifiers": json.loads(x[1]), "charge": x[2], "paid": x[3],
              "service_date": x[4]} for x in vault.query(
        "SELECT code, modifiers, charge, paid, service_date FROM remit_lines "
        "WHERE remit_claim_id = ? ORDER BY ordinal", (remit_claim_id,))]
    groups = adjustment_groups(adjs)
    return {"id": r[0], "claim_number": r[1], "status": r[2], "status_text": clp02_text(r[2]),
            "charge": r[3], "paid": r[4], "category": r[5], "next_action": r[6],
            "scope": r[18], "groups": groups,
            "patient_responsibility": patient_responsibility(r[19], groups),
            **_labels(r[5], r[6], r[18], r[10], _local_today(session)),
            "rule": r[7], "denial": bool(r[8]), "appealable": bool(r[9]),
            "appeal_deadline": r[10], "balanced": bool(r[11]), "payer_claim_number": r[12],
            "patient_id": r[13], "payer": r[14], "trace_number": r[15],
            "service_from": r[16], "payer_timely_filing_days": r[17],
            "timely_filing_deadline": (date.fromisoformat(r[16]) + timedelta(days=r[17])
                                       ).isoformat() if r[16] and r[17] else None,
            "adjustments": adjs, "remarks": remarks, "lines": lines}


def mark_worked(session: Session, conn: Connection, remit_claim_id: int, pdf: bytes | None,
                task_id: int, note: str, label: str = "Approved appeal letter (PDF)") -> None:
    """Record that a person approved the denial's next step; the approved letter PDF (if
    any) is kept as the task's evidence, in the vault."""
    from app import queue  # local: queue imports nothing from here, but keep the edge thin
    conn.execute("UPDATE remit_claims SET worked_at = ? WHERE id = ?",
                 (clock.iso(clock.now()), remit_claim_id))
    if pdf is not None:
        queue.add_evidence(session, conn, task_id, [queue.NewEvidence(
            label, excerpt=note, blob=pdf, mime="application/pdf")])
    audit.record(session.vault, conn, session, "denial.worked", "remit_claim", remit_claim_id,
                 details={"task_id": task_id, "letter": pdf is not None})


def _latest_letter(session: Session, task_id: int) -> tuple[bytes, int | None]:
    row = session.vault.query_one(
        "SELECT e.blob_id, t.patient_id FROM task_evidence e JOIN tasks t ON t.id = e.task_id "
        "JOIN blobs b ON b.id = e.blob_id WHERE e.task_id = ? AND t.kind = 'denial_review' "
        "AND b.mime = 'application/pdf' ORDER BY e.id DESC LIMIT 1", (task_id,))
    if row is None:
        raise NotFound(f"denial task {task_id} has no letter PDF")
    data = session.vault.query_one("SELECT data FROM blobs WHERE id = ?", (row[0],))[0]
    return bytes(data), row[1]


def letter_pdf(session: Session, task_id: int) -> bytes:
    """A denial task's latest letter PDF (the approved one once approved), in memory for
    the app's preview; the view of the patient's letter is audited."""
    require(session, "claim.manage")
    data, patient_id = _latest_letter(session, task_id)
    audit.record_now(session.vault, session, "denial.letter_view", object_type="task",
                     object_id=task_id, patient_id=patient_id, details={"bytes": len(data)})
    return data


def record_letter_print(session: Session, task_id: int, pages: int) -> None:
    """A person printed a denial letter from the app: audited as a disclosure on paper."""
    require(session, "claim.manage")
    _data, patient_id = _latest_letter(session, task_id)
    audit.record_now(session.vault, session, "denial.letter_print", object_type="task",
                     object_id=task_id, patient_id=patient_id, details={"pages": pages})


def export_letter(session: Session, task_id: int, target: Path) -> Path:
    """Write a denial task's latest letter PDF to a file the user chose: the only way
    the PDF leaves the vault. Audited as an export."""
    import os

    require(session, "claim.manage")
    data, patient_id = _latest_letter(session, task_id)
    target = Path(target)
    if target.is_dir():
        target = target / f"appeal_task{task_id}.pdf"
    # An existing file keeps its old mode through O_CREAT: narrowed before the PHI goes in.
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        make_private(target)
        fh.write(data)
    audit.record_now(session.vault, session, "denial.letter_export", object_type="task",
                     object_id=task_id, patient_id=patient_id, details={"bytes": len(data)})
    return target
