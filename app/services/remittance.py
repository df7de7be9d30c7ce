"""835 remittances: store parsed remittances, match them to patients, payers and claims,
classify each claim (group + CARC + RARC -> category and next action, from the
declarative rules in resources/denials/*.yaml) and work out appeal deadlines.

Workflows (automations.workflows.denials) call `store_remittances` inside the same
`vault.write()` as the tasks they create, so an import is one transaction.
"""

from __future__ import annotations

import csv
import hashlib
import json
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

from app import audit, clock
from app.domain.revenue import (
    Adjustment,
    ClaimPayment,
    Classification,
    DenialCategory,
    NextAction,
    Remittance,
)
from app.errors import NotFound
from app.identity import Session, require
from app.vault.db import Connection

RESOURCES = Path(__file__).resolve().parents[2] / "resources"
RULES_DIR = RESOURCES / "denials"
CODES_DIR = RESOURCES / "codes"
MEDICARE_FILING = frozenset({"MA", "MB"})  # CLP06 claim filing indicator
MEDICARE_REDETERMINATION_DAYS = 120
DEFAULT_APPEAL_DAYS = 90


# -- code lists ---------------------------------------------------------------------------

@lru_cache(maxsize=None)
def _codes(name: str) -> dict[str, str]:
    with open(CODES_DIR / name, encoding="utf-8", newline="") as fh:
        return {row["code"]: row["description"] for row in csv.DictReader(fh)}


def carc_text(code: str) -> str:
    return _codes("carc.csv").get(code, "(reason code not in OffHold's CARC list)")


def rarc_text(code: str) -> str:
    return _codes("rarc.csv").get(code, "(remark code not in OffHold's RARC list)")


def clp02_text(code: str) -> str:
    return _codes("clp02.csv").get(code, f"status {code}")


def group_text(code: str) -> str:
    return _codes("group_codes.csv").get(code, code)


# -- classification rules -----------------------------------------------------------------

@dataclass(frozen=True)
class Rule:
    id: str
    priority: int
    category: DenialCategory
    action: NextAction
    appealable: bool
    denial: bool
    why: str
    status: frozenset[str] = frozenset()
    groups: frozenset[str] = frozenset()
    carcs: frozenset[str] = frozenset()
    rarc_any: frozenset[str] = frozenset()
    has_rarc: bool | None = None
    medicare: bool | None = None

    def matches(self, adj: Adjustment | None, status: str, remarks: list[str],
                medicare: bool) -> bool:
        if self.status and status not in self.status:
            return False
        if self.groups or self.carcs:
            if adj is None:
                return False
            if self.groups and adj.group not in self.groups:
                return False
            if self.carcs and adj.reason not in self.carcs:
                return False
        if self.rarc_any and not self.rarc_any.intersection(remarks):
            return False
        if self.has_rarc is not None and self.has_rarc != bool(remarks):
            return False
        if self.medicare is not None and self.medicare != medicare:
            return False
        return True


def _rule(raw: dict[str, Any], source: str) -> Rule:
    when = raw.get("when") or {}
    unknown = set(when) - {"status", "group", "carc", "rarc_any", "has_rarc", "medicare"}
    if unknown:
        raise ValueError(f"{source}: rule {raw.get('id')}: unknown condition(s) {unknown}")
    return Rule(
        id=str(raw["id"]), priority=int(raw["priority"]),
        category=DenialCategory(raw["category"]), action=NextAction(raw["action"]),
        appealable=bool(raw.get("appealable", True)), denial=bool(raw.get("denial", True)),
        why=str(raw.get("why", "")),
        status=frozenset(str(s) for s in when.get("status", [])),
        groups=frozenset(str(s) for s in when.get("group", [])),
        carcs=frozenset(str(s) for s in when.get("carc", [])),
        rarc_any=frozenset(str(s) for s in when.get("rarc_any", [])),
        has_rarc=when.get("has_rarc"), medicare=when.get("medicare"))


@lru_cache(maxsize=4)
def load_rules(directory: Path = RULES_DIR) -> tuple[Rule, ...]:
    """All rules from *.yaml in the directory, in priority order; ids must be unique."""
    rules: list[Rule] = []
    for path in sorted(Path(directory).glob("*.yaml")):
        doc = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        rules.extend(_rule(r, path.name) for r in doc.get("rules", []))
    ids = [r.id for r in rules]
    if len(set(ids)) != len(ids):
        raise ValueError(f"duplicate denial rule ids in {directory}")
    return tuple(sorted(rules, key=lambda r: r.priority))


NO_ADJUSTMENT = Classification("paid_as_billed", DenialCategory.OTHER, NextAction.NO_ACTION,
                               True, False, "Paid with no adjustments.", "")


def is_medicare(claim: ClaimPayment, plan_type: str | None) -> bool:
    return plan_type == "medicare_ffs" or claim.filing_indicator in MEDICARE_FILING


def classify(claim: ClaimPayment, *, medicare: bool = False,
             rules: tuple[Rule, ...] | None = None) -> Classification:
    """The claim's category and next action: the most important rule any of its
    adjustments (or its status) matches. A denied claim (CLP02 4) only takes denial
    rules, so a denial is never filed as a routine write-down."""
    rules = rules if rules is not None else load_rules()
    remarks = claim.all_remarks()
    denied = claim.status_code == "4"
    best: Rule | None = None
    trigger = ""
    candidates: list[Adjustment | None] = [*claim.all_adjustments(), None]
    for adj in candidates:
        if adj is not None and adj.amount == 0:
            continue  # zero-amount CAS carry no money and decide nothing
        for rule in rules:
            if best is not None and rule.priority >= best.priority:
                break
            if denied and not rule.denial:
                continue
            if rule.matches(adj, claim.status_code, remarks, medicare):
                best = rule
                trigger = f"{adj.group}-{adj.reason}" if adj is not None \
                    else f"CLP02 {claim.status_code}"
                break
    if best is None:
        return NO_ADJUSTMENT
    return Classification(best.id, best.category, best.action, best.appealable,
                          best.denial, best.why, trigger)


def appeal_deadline(base: date, window_days: int | None, medicare: bool,
                    default_days: int = DEFAULT_APPEAL_DAYS) -> date:
    """The payer's appeal window; Medicare redetermination is 120 days from receipt."""
    if window_days:
        return base + timedelta(days=window_days)
    return base + timedelta(days=MEDICARE_REDETERMINATION_DAYS if medicare else default_days)


# -- storing ------------------------------------------------------------------------------

@dataclass
class StoredClaim:
    remit_claim_id: int
    remittance_id: int
    claim: ClaimPayment
    remit: Remittance
    classification: Classification
    patient_id: int | None
    claim_id: int | None
    payer_id: int | None
    payer_name: str
    medicare: bool
    appeal_deadline: date | None
    timely_filing_days: int | None
    balanced: bool


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

    def to_json(self) -> dict[str, Any]:
        return dict(vars(self))


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
    today = clock.now().date()
    from app.services.practice import get_setting
    default_days = int(get_setting(session, "default_appeal_days"))
    for remit in remits:
        result.findings.extend(remit.findings)
        payer_ident = remit.payer_id or remit.originator
        if conn.execute("SELECT 1 FROM remittances WHERE trace_number = ? AND payer_ident = ?",
                        (remit.trace_number, payer_ident)).fetchone():
            result.duplicates += 1
            continue
        if result.import_id is None:
            result.import_id = _import_row(session, conn, "835", data, sha, lenient,
                                           [f for r in remits for f in r.findings])
        payer = match_payer(conn, remit.payer_name, payer_ident)
        payer_id, plan_type, window, filing_days = payer if payer else (None, None, None, None)
        issues = [{"level": i.level, "claim": i.claim_number, "expected": str(i.expected),
                   "actual": str(i.actual), "message": i.message} for i in remit.issues]
        result.issues.extend(i.message for i in remit.issues)
        cur = conn.execute(
            "INSERT INTO remittances (import_id, payer_id, payer_name, payer_ident, payee_name,"
            " payee_ident, trace_number, originator, handling, payment_amount, credit_debit, "
            "method, payment_date, production_date, received_at, balanced, issues, findings) "
            "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            (result.import_id, payer_id, remit.payer_name, payer_ident, remit.payee_name,
             remit.payee_id, remit.trace_number, remit.originator, remit.handling,
             str(remit.payment_amount), remit.credit_debit, remit.method,
             _iso(remit.payment_date), _iso(remit.production_date), clock.iso(clock.now()),
             int(remit.balanced), json.dumps(issues), json.dumps(remit.findings)))
        remittance_id = int(cur.lastrowid)
        result.stored += 1
        unbalanced = {i.claim_number for i in remit.issues if i.level != "payment"}
        # The appeal clock runs from receipt of the determination. CMS presumes receipt 5
        # days after the notice date; counting from the notice (payment) date itself
        # gives an earlier, safe deadline.
        notice = remit.payment_date or remit.production_date or today
        for ordinal, claim in enumerate(remit.claims):
            medicare = is_medicare(claim, plan_type)
            cls = classify(claim, medicare=medicare)
            patient_id = match_patient(conn, claim.patient_last, claim.member_id)
            claim_row = conn.execute(
                "SELECT id FROM claims WHERE claim_number = ? AND (payer_id = ? OR ? IS NULL) "
                "ORDER BY id DESC LIMIT 1", (claim.claim_number, payer_id, payer_id)).fetchone()
            claim_id = int(claim_row[0]) if claim_row else None
            if claim_id is not None and patient_id is None:
                row = conn.execute("SELECT patient_id FROM claims WHERE id = ?",
                                   (claim_id,)).fetchone()
                patient_id = row[0] if row else None
            deadline = (appeal_deadline(notice, window, medicare, default_days)
                        if cls.is_denial and cls.appealable else None)
            balanced = claim.claim_number not in unbalanced
            cur = conn.execute(
                "INSERT INTO remit_claims (remittance_id, ordinal, claim_number, status_code, "
                "charge, paid, patient_responsibility, filing_indicator, payer_claim_number, "
                "frequency, patient_last, patient_first, member_id, received_date, "
                "service_from, service_to, patient_id, claim_id, balanced, category, "
                "next_action, rule_id, is_denial, appealable, appeal_deadline) "
                "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                (remittance_id, ordinal, claim.claim_number, claim.status_code,
                 str(claim.charge), str(claim.paid), _s(claim.patient_responsibility),
                 claim.filing_indicator, claim.payer_claim_number, claim.frequency,
                 claim.patient_last, claim.patient_first, claim.member_id,
                 _iso(claim.received_date), _iso(claim.service_from or _first_date(claim)),
                 _iso(claim.service_to), patient_id, claim_id, int(balanced),
                 cls.category.value, cls.action.value, cls.rule_id, int(cls.is_denial),
                 int(cls.appealable), _iso(deadline)))
            rc_id = int(cur.lastrowid)
            _store_detail(conn, rc_id, claim)
            if claim_id is not None:
                conn.execute("UPDATE claims SET status = ?, status_detail = ?, status_at = ?, "
                             "payer_claim_number = CASE WHEN payer_claim_number = '' THEN ? "
                             "ELSE payer_claim_number END WHERE id = ?",
                             (_claim_status(claim, cls), f"835 CLP02 {claim.status_code}",
                              clock.iso(clock.now()), claim.payer_claim_number, claim_id))
            result.claims += 1
            result.denials += int(cls.is_denial)
            if patient_id is not None:
                result.matched_patients += 1
            else:
                result.unmatched += 1
            stored.append(StoredClaim(rc_id, remittance_id, claim, remit, cls, patient_id,
                                      claim_id, payer_id, remit.payer_name, medicare, deadline,
                                      filing_days, balanced))
        for plb in remit.provider_adjustments:
            conn.execute("INSERT INTO remit_plb (remittance_id, provider, fiscal_date, reason, "
                         "reference, amount) VALUES (?,?,?,?,?,?)",
                         (remittance_id, plb.provider, _iso(plb.fiscal_date), plb.reason,
                          plb.reference, str(plb.amount)))
    audit.record(session.vault, conn, session, "x12.import", "x12_import",
                 result.import_id or "", details={
                     "kind": "835", "sha256": sha, "stored": result.stored,
                     "duplicates": result.duplicates, "claims": result.claims,
                     "denials": result.denials, "imbalances": len(result.issues),
                     "lenient": lenient})
    return result, stored


def _first_date(claim: ClaimPayment) -> date | None:
    dates = [ln.service_date for ln in claim.lines if ln.service_date]
    return min(dates) if dates else None


def _claim_status(claim: ClaimPayment, cls: Classification) -> str:
    if claim.status_code == "22":
        return "reversed"
    if cls.is_denial:
        return "denied"
    return "paid" if claim.paid != 0 else "adjudicated"


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
    claims = [{
        "id": r[0], "claim_number": r[1], "status": r[2], "status_text": clp02_text(r[2]),
        "charge": r[3], "paid": r[4], "category": r[5], "next_action": r[6], "rule": r[7],
        "denial": bool(r[8]), "appealable": bool(r[9]), "appeal_deadline": r[10],
        "balanced": bool(r[11]), "patient_id": r[12], "task_id": r[13]}
        for r in vault.query(
            "SELECT id, claim_number, status_code, charge, paid, category, next_action, rule_id,"
            " is_denial, appealable, appeal_deadline, balanced, patient_id, task_id "
            "FROM remit_claims WHERE remittance_id = ? ORDER BY ordinal", (remittance_id,))]
    plb = [{"reason": r[0], "reason_text": _codes("plb_reasons.csv").get(r[0], ""),
            "reference": r[1], "amount": r[2]} for r in vault.query(
        "SELECT reason, reference, amount FROM remit_plb WHERE remittance_id = ? ORDER BY id",
        (remittance_id,))]
    return {"id": row[0], "payer": row[1], "trace_number": row[2], "payment": row[3],
            "payment_date": row[4], "balanced": bool(row[5]), "issues": json.loads(row[6]),
            "findings": json.loads(row[7]), "claims": claims, "provider_adjustments": plb}


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
        "p.timely_filing_days FROM remit_claims c JOIN remittances m ON m.id = "
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
    return {"id": r[0], "claim_number": r[1], "status": r[2], "status_text": clp02_text(r[2]),
            "charge": r[3], "paid": r[4], "category": r[5], "next_action": r[6],
            "rule": r[7], "denial": bool(r[8]), "appealable": bool(r[9]),
            "appeal_deadline": r[10], "balanced": bool(r[11]), "payer_claim_number": r[12],
            "patient_id": r[13], "payer": r[14], "trace_number": r[15],
            "service_from": r[16], "payer_timely_filing_days": r[17],
            "timely_filing_deadline": (date.fromisoformat(r[16]) + timedelta(days=r[17])
                                       ).isoformat() if r[16] and r[17] else None,
            "adjustments": adjs, "remarks": remarks, "lines": lines}


def mark_worked(session: Session, conn: Connection, remit_claim_id: int, pdf: bytes | None,
                task_id: int, note: str) -> None:
    """Record that a person approved the denial's next step; the approved letter PDF (if
    any) is kept as the task's evidence, in the vault."""
    from app import queue  # local: queue imports nothing from here, but keep the edge thin
    conn.execute("UPDATE remit_claims SET worked_at = ? WHERE id = ?",
                 (clock.iso(clock.now()), remit_claim_id))
    if pdf is not None:
        queue.add_evidence(session, conn, task_id, [queue.NewEvidence(
            "Approved appeal letter (PDF)", excerpt=note, blob=pdf, mime="application/pdf")])
    audit.record(session.vault, conn, session, "denial.worked", "remit_claim", remit_claim_id,
                 details={"task_id": task_id, "letter": pdf is not None})


def export_letter(session: Session, task_id: int, target: Path) -> Path:
    """Write a denial task's latest letter PDF to a file the user chose: the only way
    the PDF leaves the vault. Audited as an export."""
    import os

    require(session, "claim.manage")
    row = session.vault.query_one(
        "SELECT e.blob_id, t.patient_id FROM task_evidence e JOIN tasks t ON t.id = e.task_id "
        "JOIN blobs b ON b.id = e.blob_id WHERE e.task_id = ? AND t.kind = 'denial_review' "
        "AND b.mime = 'application/pdf' ORDER BY e.id DESC LIMIT 1", (task_id,))
    if row is None:
        raise NotFound(f"denial task {task_id} has no letter PDF")
    data = session.vault.query_one("SELECT data FROM blobs WHERE id = ?", (row[0],))[0]
    target = Path(target)
    if target.is_dir():
        target = target / f"appeal_task{task_id}.pdf"
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(bytes(data))
    audit.record_now(session.vault, session, "denial.letter_export", object_type="task",
                     object_id=task_id, patient_id=row[1], details={"bytes": len(data)})
    return target
