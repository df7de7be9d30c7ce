"""Denials workflow: import an 835, classify every claim, and put each denial in the
biller's queue as a `denial_review` task with its drafts (appeal letter text + PDF,
corrected-claim worksheet) as evidence. What each claim asks of people is decided by the
pure rules in app.denials.rules (natural keys documented there); this module only
renders, stores and queues, through services.

The whole import is one write transaction: a bad file is rejected before anything is
written, and a failure mid-way rolls back all. Appeal letter PDFs are rendered before it,
from `remittance.plan_remittances` (what the import would store), so a long render never
holds the vault's write lock (reportlab: ~4 ms a letter here, so seconds for an 835 with
hundreds of denials).

Desktop import dialog: `import_x12_file(session, data, lenient=False)` (any 835, 271 or
277, detected from ST01) or `import_835_file` directly.
Denial review pane: `app.services.remittance.remit_claim_detail(session, id)` for the
facts, the task's draft/evidence for the letter; approving the task runs `apply_approval`.
"""

from __future__ import annotations

import json
from datetime import date
from zoneinfo import ZoneInfo

from app import clock, queue
from app.denials import rules
from app.domain import Task
from app.domain.revenue import NextAction, Remittance
from app.domain.specs import TaskSpec
from app.identity import Session, require
from app.reports.appeal_letter import ClaimFacts, Letterhead, appeal_pdf
from app.services import practice, remittance
from app.services.remittance import ImportResult
from app.x12.x835 import parse_835

KIND = rules.KIND

# A letter rendered before the write transaction: the facts it came from, and the PDF.
Letters = dict[tuple[str, str, int, str], tuple[ClaimFacts, bytes]]


def parse(data: bytes, *, lenient: bool = False) -> list[Remittance]:
    """Parse only (raises X12Error naming the segment and byte offset)."""
    return parse_835(data, lenient=lenient)


def _local_today(session: Session) -> date:
    # The letter's date and the deadline check are the practice's calendar date.
    tz = ZoneInfo(str(practice.practice_info(session)["timezone"]))
    return clock.now().astimezone(tz).date()


def _render_letters(session: Session, remits: list[Remittance], head: Letterhead,
                    ) -> Letters:
    """Appeal letter PDFs for the denials the import would store, keyed by position (none
    for a denial whose deadline has passed: it is not drafted as a timely appeal)."""
    today = _local_today(session)
    now = clock.now()
    letters: Letters = {}
    for sc in remittance.plan_remittances(session, remits):
        cls = sc.classification
        if cls.is_denial and cls.appealable:
            facts = rules.claim_facts(sc, head, today)
            spec = rules.denial_task(sc, facts, now)
            if any(e.letter for e in spec.evidence):
                letters[sc.position] = (facts, _letter(facts, spec))
    return letters


def _letter(facts: ClaimFacts, spec: TaskSpec) -> bytes:
    """The draft's PDF: the appeal letter, or the corrected-claim worksheet."""
    return appeal_pdf(facts) if facts.action == NextAction.APPEAL.value \
        else appeal_pdf(facts, text=spec.draft)


def _create(session: Session, spec: TaskSpec, letter: bytes | None) -> Task:
    evidence = [queue.NewEvidence(e.label, excerpt=e.excerpt,
                                  blob=letter if e.letter else e.blob, mime=e.mime)
                for e in spec.evidence]
    task, _created = queue.create_task(
        session, spec.kind, spec.natural_key, spec.title, draft=spec.draft,
        due_at=spec.due_at, priority=spec.priority, subject_type=spec.subject_type,
        subject_id=spec.subject_id, patient_id=spec.patient_id, payload=spec.payload,
        evidence=evidence)
    return task


def import_835_file(session: Session, data: bytes, *, lenient: bool = False) -> ImportResult:
    """Parse, store, classify and queue denials, all in one transaction; letters are
    rendered before it."""
    require(session, "remit.import")
    remits = parse_835(data, lenient=lenient)  # nothing written if this raises
    head = practice.letterhead(session)
    letters = _render_letters(session, remits, head)
    today = _local_today(session)
    with session.vault.write() as conn:
        result, stored = remittance.store_remittances(session, conn, remits, data,
                                                      lenient=lenient)
        for remittance_id, issues in result.unbalanced:
            result.tasks.append(_create(session, rules.balance_task(remittance_id, issues),
                                        None).id)
        now = clock.now()
        for sc in stored:
            if not sc.classification.is_denial:
                continue
            facts = rules.claim_facts(sc, head, today)
            spec = rules.denial_task(sc, facts, now)
            letter = None
            if any(e.letter for e in spec.evidence):
                rendered = letters.get(sc.position)
                # Rendered from the same facts unless the vault changed in between (a
                # patient or payer edited meanwhile): then this one letter is rendered here.
                letter = (rendered[1] if rendered and rendered[0] == facts
                          else _letter(facts, spec))
            task = _create(session, spec, letter)
            remittance.link_task(session, conn, sc.remit_claim_id, task.id)
            result.tasks.append(task.id)
    return result


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


def apply_approval(session: Session, task: Task) -> str:
    """The denial_review effect (declared in app/queue/kinds.py): the (possibly edited)
    letter becomes the final PDF in the vault; sending it is the biller's explicit export."""
    payload = task.payload
    if "remit_claim_id" not in payload:  # a balancing task: approving acknowledges it
        return "balancing problem acknowledged"
    rc_id = int(payload["remit_claim_id"])
    pdf = None
    appeal = payload.get("action") == NextAction.APPEAL.value
    if payload.get("appealable") and not payload.get("late"):
        # The draft's letterhead, so the approved PDF is the draft's document with the
        # edits (older tasks without one take the practice's current letterhead).
        raw = payload.get("letterhead")
        head = Letterhead(**raw) if isinstance(raw, dict) else practice.letterhead(session)
        facts = ClaimFacts(head.name, "", "", "", "", "", None, None, "", "", [], [], [],
                           str(payload.get("category", "other")),
                           str(payload.get("action", "appeal")),
                           medicare=bool(payload.get("medicare")), letterhead=head)
        pdf = appeal_pdf(facts, text=task.draft)
    label = "Approved appeal letter (PDF)" if appeal else \
        "Approved corrected-claim worksheet (PDF)"
    with session.vault.write() as conn:
        remittance.mark_worked(session, conn, rc_id, pdf, task.id,
                               json.dumps({"rule": payload.get("rule")}), label=label)
    if pdf is None:
        return "denial marked as worked"
    return ("appeal letter" if appeal else "corrected-claim worksheet") + \
        " PDF stored in the vault"
