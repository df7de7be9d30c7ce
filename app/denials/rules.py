"""What a stored 835 asks of people, as task specs (pure: no vault, no queue).

The workflow turns each spec into `app.queue.create_task` inside the import's one write
transaction; natural keys make that idempotent, so importing the same file twice (or a
file that repeats a remittance) never makes a second task:
- `denial:rc:{remit_claim_id}`   a denied claim (denial_review): appeal letter, worksheet
- `remit_balance:{remittance_id}` a remittance whose amounts do not add up (denial_review)
A spec that needs the appeal letter PDF says so (`EvidenceSpec.letter`); the workflow
renders it from `ClaimFacts` outside the write transaction. Titles and payloads carry
claim numbers, codes and amounts; the patient's name is only in the letter itself.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from decimal import Decimal

from app.denials.codes import carc_text, clp02_text, rarc_text
from app.domain.revenue import ClaimPayment, Classification, NextAction, Remittance
from app.domain.specs import PRIORITY_HIGH, PRIORITY_NORMAL, EvidenceSpec, TaskSpec
from app.denials.view import CATEGORY_LABEL, Deadline, is_appeal_ground, labelled
from app.reports.appeal_letter import (
    TEMPLATE_VERSION,
    ClaimFacts,
    Letterhead,
    appeal_text,
    corrected_claim_worksheet,
)

KIND = "denial_review"
DEFAULT_WORK_DAYS = 30  # when neither an appeal nor a filing deadline applies
SOON = timedelta(days=14)  # a deadline this close makes the task high priority
ACTION_LABEL = {
    NextAction.APPEAL: "appeal",
    NextAction.REBILL_CORRECTED: "send a corrected claim (freq 7, REF*F8)",
    NextAction.FIX_AND_RESUBMIT: "fix and resubmit",
    NextAction.BILL_PATIENT: "bill the patient",
    NextAction.WRITE_OFF: "write off",
    NextAction.NO_ACTION: "no action",
}


@dataclass
class StoredClaim:
    """One claim of an 835 as stored (or, before the write, as it would be stored: ids
    0). `patient_name` is the vault's name of the matched patient for a denial (its
    letter names them), '' otherwise."""

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
    ordinal: int = 0
    patient_name: str = ""
    scope: str = ""  # app.denials.view.denial_scope: 'claim', 'line' or ''

    @property
    def position(self) -> tuple[str, str, int, str]:
        """Where the claim sits in the file: the same before and after it is stored."""
        return (self.remit.trace_number, self.remit.payer_id or self.remit.originator,
                self.ordinal, self.claim.claim_number)


def claim_facts(sc: StoredClaim, practice: str | Letterhead, today: date) -> ClaimFacts:
    """What the letter and worksheet say about the claim; `today` is the letter's date
    (the practice's local date). Only appealable adjustments are argued; contractual and
    patient-responsibility ones are listed as not disputed."""
    head = practice if isinstance(practice, Letterhead) else Letterhead(practice)
    c = sc.claim
    name = sc.patient_name or f"{c.patient_first} {c.patient_last}".strip()
    lines_from = [ln.service_date for ln in c.lines if ln.service_date]
    # One entry per group+CARC with its total and the lines it hit, not one per line.
    totals: dict[tuple[str, str], Decimal] = {}
    where: dict[tuple[str, str], list[str]] = {}
    ground: dict[tuple[str, str], bool] = {}
    for a in c.adjustments:
        if a.amount != 0:
            totals[(a.group, a.reason)] = totals.get((a.group, a.reason), Decimal(0)) + a.amount
            ground[(a.group, a.reason)] = is_appeal_ground(a)
    for ln in c.lines:
        for a in ln.adjustments:
            if a.amount != 0:
                key = (a.group, a.reason)
                totals[key] = totals.get(key, Decimal(0)) + a.amount
                where.setdefault(key, []).append(ln.code)
                ground[key] = is_appeal_ground(a)
    reasons: list[tuple[str, str, str, str]] = []
    not_disputed: list[tuple[str, str, str, str]] = []
    for (group, carc), total in totals.items():
        text = carc_text(carc).split(" Usage:")[0]
        lines_hit = list(dict.fromkeys(where.get((group, carc), [])))
        if lines_hit:
            text += f" [line(s) {', '.join(lines_hit)}]"
        (reasons if ground[(group, carc)] else not_disputed).append(
            (group, carc, str(total), text))
    codes = list(dict.fromkeys(ln.code for ln in c.lines))
    return ClaimFacts(
        practice_name=head.name, payer_name=sc.payer_name or "the payer", patient_name=name,
        member_id=c.member_id, claim_number=c.claim_number,
        payer_claim_number=c.payer_claim_number,
        service_from=c.service_from or (min(lines_from) if lines_from else None),
        service_to=c.service_to or (max(lines_from) if lines_from else None),
        charge=str(c.charge), paid=str(c.paid), procedure_codes=codes, reasons=reasons,
        remarks=[(r, rarc_text(r)) for r in c.all_remarks()],
        category=sc.classification.category.value, action=sc.classification.action.value,
        medicare=sc.medicare, appeal_deadline=sc.appeal_deadline, letter_date=today,
        letterhead=head, not_disputed=not_disputed)


def due(sc: StoredClaim, facts: ClaimFacts, today: date) -> tuple[datetime, date | None]:
    """(due time, timely filing deadline): the appeal deadline, else the payer's filing
    deadline, else DEFAULT_WORK_DAYS from today; 17:00 UTC on that date."""
    filing = None
    if sc.timely_filing_days and facts.service_from:
        filing = facts.service_from + timedelta(days=sc.timely_filing_days)
    when = sc.appeal_deadline or filing
    if when is None:
        when = today + timedelta(days=DEFAULT_WORK_DAYS)
    return datetime.combine(when, time(17, 0), tzinfo=timezone.utc), filing


def denial_task(sc: StoredClaim, facts: ClaimFacts, now: datetime) -> TaskSpec:
    """The denial_review task for a denied claim: the appeal letter as the draft when the
    next step is an appeal, else the corrected-claim worksheet; not appealable claims
    (e.g. Medicare timely filing) ask to confirm the write-off. `now` is aware UTC."""
    cls = sc.classification
    due_at, filing_deadline = due(sc, facts, now.date())
    frequency = "8" if cls.category.value == "eligibility" else "7"
    worksheet = corrected_claim_worksheet(facts, frequency=frequency,
                                          what_to_change=cls.explanation,
                                          timely_filing_deadline=filing_deadline)
    codes = (", ".join(f"{g}-{c}" for g, c, _a, _t in facts.reasons)
             or f"CLP02 {sc.claim.status_code}")
    today = facts.letter_date or now.date()
    # A passed deadline is never drafted as a timely appeal or a routine resubmission.
    deadline = sc.appeal_deadline if cls.action is NextAction.APPEAL else filing_deadline
    late = Deadline(deadline, today) if deadline and cls.appealable else None
    if late is not None and not late.passed:
        late = None
    if late is not None:
        step = "appeal" if cls.action is NextAction.APPEAL else "corrected claim"
        draft = (f"DEADLINE PASSED: the {step} deadline {late.text()}.\n\n"
                 "This is not a timely appeal. Decide: write the balance off, or send a "
                 "late appeal only with proof of timely filing or good cause (the payer's "
                 "late-appeal rules).\nApprove to confirm the write-off or late-appeal "
                 "review.\n\n" + worksheet)
    elif not cls.appealable:
        draft = (f"NOT APPEALABLE ({cls.rule_id}): {cls.explanation}\n\n"
                 "Approve to confirm the write-off.\n\n" + worksheet)
    elif cls.action is NextAction.APPEAL:
        draft = appeal_text(facts)
    else:
        draft = worksheet
    evidence = [
        EvidenceSpec("Remittance (835) reason codes",
                     excerpt=f"{codes}; CLP02 {sc.claim.status_code} "
                             f"({clp02_text(sc.claim.status_code)}); "
                             f"trace {sc.remit.trace_number}"),
        EvidenceSpec("Corrected-claim worksheet", excerpt=worksheet[:2000],
                     blob=worksheet.encode("utf-8"), mime="text/plain"),
    ]
    if cls.appealable and late is None:
        label = ("Appeal letter draft (PDF)" if cls.action is NextAction.APPEAL
                 else "Corrected-claim worksheet draft (PDF)")
        evidence.insert(1, EvidenceSpec(label,
                                        excerpt=f"template {TEMPLATE_VERSION}",
                                        mime="application/pdf", letter=True))
    if not sc.balanced:
        evidence.append(EvidenceSpec("Balancing problem",
                                     excerpt="this claim does not balance in the 835"))
    what = "deadline passed: write off or late appeal" if late else ACTION_LABEL[cls.action]
    scope = "line-level denial" if sc.scope == "line" else "denial"
    title = (f"{scope.capitalize()} {cls.trigger or codes.split(',')[0]} "
             f"{labelled(CATEGORY_LABEL, cls.category.value)}: claim "
             f"{sc.claim.claim_number} - {what}")
    return TaskSpec(
        kind=KIND, natural_key=f"denial:rc:{sc.remit_claim_id}", title=title[:200],
        draft=draft, due_at=due_at,
        priority=PRIORITY_HIGH if due_at - now < SOON else PRIORITY_NORMAL,
        subject_type="remit_claim", subject_id=sc.remit_claim_id, patient_id=sc.patient_id,
        payload={"remit_claim_id": sc.remit_claim_id, "category": cls.category.value,
                 "action": cls.action.value, "rule": cls.rule_id,
                 "appealable": cls.appealable, "medicare": sc.medicare,
                 "scope": sc.scope, "late": late is not None,
                 "deadline": late.due.isoformat() if late else None,
                 "letterhead": vars(facts.letterhead) if facts.letterhead else None,
                 "appeal_deadline": sc.appeal_deadline.isoformat() if sc.appeal_deadline
                 else None, "frequency_code": frequency,
                 "payer_claim_number": sc.claim.payer_claim_number,
                 "codes": [f"{g}-{c}" for g, c, _a, _t in facts.reasons]},
        evidence=tuple(evidence))


def balance_task(remittance_id: int, issues: list[str]) -> TaskSpec:
    """A remittance whose totals do not balance (messages name claim numbers and amounts
    only)."""
    return TaskSpec(
        kind=KIND, natural_key=f"remit_balance:{remittance_id}",
        title=f"835 does not balance (remittance {remittance_id})",
        draft="\n".join(["The remittance's amounts do not add up; check them against the "
                         "payment received and ask the payer for a corrected 835 if needed:",
                         ""] + [f"- {i}" for i in issues]),
        due_at=None, priority=PRIORITY_HIGH, subject_type="remittance",
        subject_id=remittance_id, payload={"remittance_id": remittance_id, "issues": issues},
        evidence=(EvidenceSpec("Balancing checks", excerpt="\n".join(issues)),))
