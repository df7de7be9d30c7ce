"""Denials workflow: import an 835, classify every claim, and put each denial in the
biller's queue as a `denial_review` task with its drafts (appeal letter text + PDF,
corrected-claim worksheet) as evidence. The whole import is one transaction: a bad
file is rejected before anything is written, and a failure mid-way rolls back all.

Desktop import dialog: `import_x12_file(session, data, lenient=False)` (any 835, 271 or
277, detected from ST01) or `import_835_file` directly.
Denial review pane: `app.services.remittance.remit_claim_detail(session, id)` for the
facts, the task's draft/evidence for the letter; approving the task runs `_approve`.
"""

from __future__ import annotations

import json
from datetime import date, datetime, time, timedelta, timezone
from decimal import Decimal

from app import clock, queue
from app.domain import Task
from app.domain.revenue import NextAction, Remittance
from app.identity import Session, require
from app.reports.appeal_letter import (
    TEMPLATE_VERSION,
    ClaimFacts,
    appeal_pdf,
    appeal_text,
    corrected_claim_worksheet,
)
from app.services import remittance
from app.services.remittance import ImportResult, StoredClaim
from app.vault.db import Connection
from app.x12.x835 import parse_835

KIND = "denial_review"
DEFAULT_WORK_DAYS = 30
ACTION_LABEL = {
    NextAction.APPEAL: "appeal",
    NextAction.REBILL_CORRECTED: "send a corrected claim (freq 7, REF*F8)",
    NextAction.FIX_AND_RESUBMIT: "fix and resubmit",
    NextAction.BILL_PATIENT: "bill the patient",
    NextAction.WRITE_OFF: "write off",
    NextAction.NO_ACTION: "no action",
}


def parse(data: bytes, *, lenient: bool = False) -> list[Remittance]:
    """Parse only (raises X12Error naming the segment and byte offset)."""
    return parse_835(data, lenient=lenient)


def import_835_file(session: Session, data: bytes, *, lenient: bool = False) -> ImportResult:
    """Parse, store, classify and queue denials, all in one transaction."""
    require(session, "remit.import")
    remits = parse_835(data, lenient=lenient)  # nothing written if this raises
    with session.vault.write() as conn:
        result, stored = remittance.store_remittances(session, conn, remits, data,
                                                      lenient=lenient)
        practice = str(conn.execute("SELECT name FROM practice WHERE id = 1").fetchone()[0])
        for remittance_id, issues in _unbalanced(conn, stored, result):
            task, _created = queue.create_task(
                session, KIND, f"remit_balance:{remittance_id}",
                f"835 does not balance (remittance {remittance_id})", draft="\n".join(
                    ["The remittance's amounts do not add up; check them against the "
                     "payment received and ask the payer for a corrected 835 if needed:", ""]
                    + [f"- {i}" for i in issues]),
                priority=queue.PRIORITY_HIGH, subject_type="remittance",
                subject_id=remittance_id, payload={"remittance_id": remittance_id,
                                                   "issues": issues},
                evidence=[queue.NewEvidence("Balancing checks", excerpt="\n".join(issues))])
            result.tasks.append(task.id)
        for sc in stored:
            if sc.classification.is_denial:
                task_id = _denial_task(session, conn, sc, practice)
                conn.execute("UPDATE remit_claims SET task_id = ? WHERE id = ?",
                             (task_id, sc.remit_claim_id))
                result.tasks.append(task_id)
    return result


def _unbalanced(conn: Connection, stored: list[StoredClaim], result: ImportResult,
                ) -> list[tuple[int, list[str]]]:
    """New remittances that failed a balancing check, with the messages (PHI-free:
    claim numbers and amounts only)."""
    if not result.issues:
        return []
    ids = sorted({sc.remittance_id for sc in stored} | {
        int(r[0]) for r in conn.execute("SELECT id FROM remittances WHERE import_id = ?",
                                        (result.import_id,))})
    out = []
    for rid in ids:
        row = conn.execute("SELECT balanced, issues FROM remittances WHERE id = ?",
                           (rid,)).fetchone()
        if row is not None and not row[0]:
            out.append((rid, [i["message"] for i in json.loads(row[1])]))
    return out


def import_x12_file(session: Session, data: bytes, *, lenient: bool = False) -> ImportResult:
    """Import an 835, 271 or 277, whichever the file is; anything else is refused with
    the position of its ST segment."""
    from app.x12 import detect_kind
    from app.x12.envelope import parse_envelope
    from automations.workflows import claim_status, eligibility

    kind = detect_kind(data)
    if kind == "835":
        return import_835_file(session, data, lenient=lenient)
    if kind == "271":
        return eligibility.import_271_file(session, data, lenient=lenient)
    if kind == "277":
        return claim_status.import_277_file(session, data, lenient=lenient)
    inter = parse_envelope(data, lenient=True)
    raise inter.tokens.error(f"OffHold imports 835, 271 and 277 files, not {kind}",
                             inter.transactions()[0].start)


def _facts(conn: Connection, sc: StoredClaim, practice: str) -> ClaimFacts:
    c = sc.claim
    name = f"{c.patient_first} {c.patient_last}".strip()
    if sc.patient_id is not None:
        row = conn.execute("SELECT first_name, last_name FROM patients WHERE id = ?",
                           (sc.patient_id,)).fetchone()
        if row:
            name = f"{row[0]} {row[1]}"
    lines_from = [ln.service_date for ln in c.lines if ln.service_date]
    # One entry per group+CARC with its total and the lines it hit, not one per line.
    totals: dict[tuple[str, str], Decimal] = {}
    where: dict[tuple[str, str], list[str]] = {}
    for a in c.adjustments:
        if a.amount != 0:
            totals[(a.group, a.reason)] = totals.get((a.group, a.reason), Decimal(0)) + a.amount
    for ln in c.lines:
        for a in ln.adjustments:
            if a.amount != 0:
                key = (a.group, a.reason)
                totals[key] = totals.get(key, Decimal(0)) + a.amount
                where.setdefault(key, []).append(ln.code)
    reasons = []
    for (group, carc), total in totals.items():
        text = remittance.carc_text(carc).split(" Usage:")[0]
        lines_hit = list(dict.fromkeys(where.get((group, carc), [])))
        if lines_hit:
            text += f" [line(s) {', '.join(lines_hit)}]"
        reasons.append((group, carc, str(total), text))
    codes = list(dict.fromkeys(ln.code for ln in c.lines))
    return ClaimFacts(
        practice_name=practice, payer_name=sc.payer_name or "the payer", patient_name=name,
        member_id=c.member_id, claim_number=c.claim_number,
        payer_claim_number=c.payer_claim_number,
        service_from=c.service_from or (min(lines_from) if lines_from else None),
        service_to=c.service_to or (max(lines_from) if lines_from else None),
        charge=str(c.charge), paid=str(c.paid), procedure_codes=codes, reasons=reasons,
        remarks=[(r, remittance.rarc_text(r)) for r in c.all_remarks()],
        category=sc.classification.category.value, action=sc.classification.action.value,
        medicare=sc.medicare, appeal_deadline=sc.appeal_deadline,
        letter_date=clock.now().date())


def _due(sc: StoredClaim, facts: ClaimFacts) -> tuple[datetime, date | None]:
    filing = None
    if sc.timely_filing_days and facts.service_from:
        filing = facts.service_from + timedelta(days=sc.timely_filing_days)
    when = sc.appeal_deadline or filing
    if when is None:
        when = clock.now().date() + timedelta(days=DEFAULT_WORK_DAYS)
    return datetime.combine(when, time(17, 0), tzinfo=timezone.utc), filing


def _denial_task(session: Session, conn: Connection, sc: StoredClaim, practice: str) -> int:
    cls = sc.classification
    facts = _facts(conn, sc, practice)
    due, filing_deadline = _due(sc, facts)
    letter = appeal_text(facts)
    frequency = "8" if cls.category.value == "eligibility" else "7"
    worksheet = corrected_claim_worksheet(facts, frequency=frequency, what_to_change=cls.explanation,
                                          timely_filing_deadline=filing_deadline)
    codes = ", ".join(f"{g}-{c}" for g, c, _a, _t in facts.reasons) or f"CLP02 {sc.claim.status_code}"
    if not cls.appealable:
        draft = (f"NOT APPEALABLE ({cls.rule_id}): {cls.explanation}\n\n"
                 "Approve to confirm the write-off.\n\n" + worksheet)
    elif cls.action is NextAction.APPEAL:
        draft = letter
    else:
        draft = worksheet
    evidence = [
        queue.NewEvidence("Remittance (835) reason codes",
                          excerpt=f"{codes}; CLP02 {sc.claim.status_code} "
                                  f"({remittance.clp02_text(sc.claim.status_code)}); "
                                  f"trace {sc.remit.trace_number}"),
        queue.NewEvidence("Corrected-claim worksheet", excerpt=worksheet[:2000],
                          blob=worksheet.encode("utf-8"), mime="text/plain"),
    ]
    if cls.appealable:
        evidence.insert(1, queue.NewEvidence(
            "Appeal letter draft (PDF)", excerpt=f"template {TEMPLATE_VERSION}",
            blob=appeal_pdf(facts), mime="application/pdf"))
    if not sc.balanced:
        evidence.append(queue.NewEvidence("Balancing problem",
                                          excerpt="this claim does not balance in the 835"))
    soon = due - clock.now() < timedelta(days=14)
    title = (f"Denial {cls.trigger or codes.split(',')[0]} ({cls.category.value}): claim "
             f"{sc.claim.claim_number} - {ACTION_LABEL[cls.action]}")
    task, _created = queue.create_task(
        session, KIND, f"denial:rc:{sc.remit_claim_id}", title[:200], draft=draft, due_at=due,
        priority=queue.PRIORITY_HIGH if soon else queue.PRIORITY_NORMAL,
        subject_type="remit_claim", subject_id=sc.remit_claim_id, patient_id=sc.patient_id,
        payload={"remit_claim_id": sc.remit_claim_id, "category": cls.category.value,
                 "action": cls.action.value, "rule": cls.rule_id,
                 "appealable": cls.appealable, "medicare": sc.medicare,
                 "appeal_deadline": sc.appeal_deadline.isoformat() if sc.appeal_deadline
                 else None, "frequency_code": frequency,
                 "payer_claim_number": sc.claim.payer_claim_number,
                 "codes": [f"{g}-{c}" for g, c, _a, _t in facts.reasons]},
        evidence=evidence)
    return task.id


def apply_approval(session: Session, task: Task) -> str:
    """The denial_review effect (declared in app/queue/kinds.py): the (possibly edited)
    letter becomes the final PDF in the vault; sending it is the biller's explicit export."""
    payload = task.payload
    if "remit_claim_id" not in payload:  # a balancing task: approving acknowledges it
        return "balancing problem acknowledged"
    rc_id = int(payload["remit_claim_id"])
    pdf = None
    if payload.get("action") == NextAction.APPEAL.value and payload.get("appealable"):
        facts = ClaimFacts("", "", "", "", "", "", None, None, "", "", [], [], [],
                           str(payload.get("category", "other")), "appeal")
        pdf = appeal_pdf(facts, text=task.draft)
    with session.vault.write() as conn:
        remittance.mark_worked(session, conn, rc_id, pdf, task.id,
                               json.dumps({"rule": payload.get("rule")}))
    return "appeal letter PDF stored in the vault" if pdf else "denial marked as worked"
