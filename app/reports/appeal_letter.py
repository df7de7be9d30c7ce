"""Denial drafts: the appeal letter (editable text plus a reportlab PDF) and the
corrected-claim worksheet. Built only from the claim's facts and the payer's reason
codes with their published descriptions; procedure codes appear as numbers only (CPT
descriptions are the AMA's). The PDF is returned as bytes for the vault, never written
to disk here."""

from __future__ import annotations

import io
import re
from dataclasses import dataclass, field
from datetime import date
from xml.sax.saxutils import escape

from reportlab.lib import colors
from reportlab.lib.pagesizes import LETTER
from reportlab.lib.styles import ParagraphStyle, getSampleStyleSheet
from reportlab.lib.units import inch
from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

TEMPLATE_VERSION = "appeal-letter-2"  # 2: letterhead; body rendered from the draft text


@dataclass(frozen=True)
class Letterhead:
    """The practice as a payer reads it at the top of a letter (practice settings)."""

    name: str
    address: str = ""  # lines separated by newlines
    phone: str = ""
    npi: str = ""
    tin: str = ""

    def lines(self) -> list[str]:
        ids = "    ".join(x for x in (f"NPI {self.npi}" if self.npi else "",
                                       f"TIN {self.tin}" if self.tin else "") if x)
        return [ln for ln in [*self.address.splitlines(),
                              f"Phone {self.phone}" if self.phone else "", ids] if ln.strip()]

# Why the claim should be paid, per denial category: the practice edits the draft.
ARGUMENTS = {
    "medical_necessity": (
        "The service was medically necessary for this patient. The enclosed clinical "
        "documentation (visit notes, history and the applicable coverage guideline) shows "
        "the indication for the service on the date it was provided."),
    "authorization": (
        "Authorization for this service was obtained or is being requested retroactively; "
        "the enclosed authorization record and clinical notes support payment."),
    "timely_filing": (
        "The claim was submitted within the filing limit. The enclosed clearinghouse "
        "acceptance report shows the original submission date."),
    "non_covered": (
        "We believe this service is a covered benefit under the member's plan. Please review "
        "the enclosed documentation against the plan's coverage terms."),
    "bundling": (
        "The services were distinct and separately identifiable; the enclosed notes document "
        "each service."),
    "coding": (
        "The codes billed reflect the documented service; the enclosed notes support them."),
    "missing_info": (
        "The information the payer asked for is enclosed; please reprocess the claim."),
    "eligibility": (
        "Our records show the member had coverage on the date of service; please review "
        "the enclosed eligibility information."),
    "duplicate": (
        "This claim is not a duplicate: it is for a separate service as the enclosed notes "
        "show."),
    "other": ("Please review the enclosed documentation and reprocess the claim."),
}


@dataclass
class ClaimFacts:
    practice_name: str
    payer_name: str
    patient_name: str
    member_id: str
    claim_number: str
    payer_claim_number: str
    service_from: date | None
    service_to: date | None
    charge: str
    paid: str
    procedure_codes: list[str]
    reasons: list[tuple[str, str, str, str]]  # (group, CARC, amount, description): grounds
    remarks: list[tuple[str, str]]  # (RARC, description)
    category: str
    action: str
    medicare: bool = False
    appeal_deadline: date | None = None
    letter_date: date | None = None
    letterhead: Letterhead | None = None
    # Adjustments owed under the contract or by the patient (CO-45, PR-...): named as not
    # disputed, never argued.
    not_disputed: list[tuple[str, str, str, str]] = field(default_factory=list)
    enclosures: list[str] = field(default_factory=lambda: [
        "Copy of the remittance advice (835) for this claim",
        "Clinical documentation for the date(s) of service"])


def _dates(f: ClaimFacts) -> str:
    if f.service_from and f.service_to and f.service_to != f.service_from:
        return f"{f.service_from:%m/%d/%Y} - {f.service_to:%m/%d/%Y}"
    return f"{f.service_from:%m/%d/%Y}" if f.service_from else "see enclosed remittance"


def _title(f: ClaimFacts) -> str:
    if f.action != "appeal":  # the corrected-claim worksheet, on the same letterhead
        return "Corrected claim worksheet"
    return ("Request for Redetermination (Medicare Part A/B)" if f.medicare
            else "Request for Reconsideration / Appeal of Claim Denial")


def long_date(day: date) -> str:
    """'December 1, 2026', as a letter is dated (strftime's %d pads: 'December 01')."""
    return f"{day:%B} {day.day}, {day.year}"


def appeal_text(f: ClaimFacts) -> str:
    """The editable draft; the PDF is rendered from the same facts."""
    lines = [
        long_date(f.letter_date or date.today()), "",
        f"To: {f.payer_name} - Appeals / Reconsideration", "",
        f"Re: {_title(f)}",
        f"Patient: {f.patient_name}    Member ID: {f.member_id}",
        f"Claim number: {f.claim_number}    Payer claim number: {f.payer_claim_number or '-'}",
        f"Date(s) of service: {_dates(f)}",
        f"Billed: ${f.charge}    Paid: ${f.paid}",
        f"Procedure code(s): {', '.join(f.procedure_codes) or '-'}", "",
        "To whom it may concern:", "",
        "We ask you to reconsider the adjudication of the claim above. Your remittance "
        "gave these reasons:",
    ]
    for group, carc, amount, text in f.reasons:
        lines.append(f"  - {group}-{carc} (${amount}): {text}")
    for code, text in f.remarks:
        lines.append(f"  - Remark {code}: {text}")
    if f.not_disputed:
        lines += ["", "We do not dispute these adjustments (contractual or patient "
                  "responsibility):"]
        lines += [f"  - {g}-{c} (${a}): {t}" for g, c, a, t in f.not_disputed]
    lines += ["", ARGUMENTS.get(f.category, ARGUMENTS["other"]), ""]
    if f.appeal_deadline and (f.letter_date or date.today()) <= f.appeal_deadline:
        lines.append(f"This request is sent within the appeal window (deadline "
                     f"{f.appeal_deadline:%m/%d/%Y}).")
    lines += ["Enclosures:"] + [f"  - {e}" for e in f.enclosures]
    lines += ["", "Sincerely,", "", "______________________________",
              f"Billing office, {f.practice_name}"]
    return "\n".join(lines) + "\n"


def _spaced(line: str) -> str:
    # Runs of spaces in the draft separate fields ("Patient: ...    Member ID: ..."):
    # keep them, as HTML-like paragraphs would fold them into one.
    return re.sub(r" {2,}", lambda m: "&nbsp;" * len(m.group(0)), escape(line))


def letter_pdf(head: Letterhead, title: str, text: str) -> bytes:
    """The letter PDF: the letterhead, then the body as written (one paragraph a line,
    '  - ' lines as bullets, the 'Re:' line bold). Draft and approved letters both come
    from here, so the approved PDF is the draft's document with the biller's edits."""
    buf = io.BytesIO()
    doc = SimpleDocTemplate(buf, pagesize=LETTER, leftMargin=inch, rightMargin=inch,
                            topMargin=0.7 * inch, bottomMargin=0.8 * inch,
                            title=title, author=head.name, invariant=1)
    styles = getSampleStyleSheet()
    body = ParagraphStyle("body", parent=styles["BodyText"], fontSize=10.5, leading=14,
                          spaceBefore=0, spaceAfter=0)
    small = ParagraphStyle("small", parent=body, fontSize=9, leading=11.5,
                           textColor=colors.HexColor("#333333"))
    bullet = ParagraphStyle("bullet", parent=body, fontSize=10, leading=13, leftIndent=16,
                            bulletIndent=5, spaceAfter=2)
    story: list[object] = [Paragraph(f"<b>{escape(head.name)}</b>",
                                     ParagraphStyle("head", parent=styles["Heading2"],
                                                    spaceAfter=2))]
    story += [Paragraph(_spaced(ln), small) for ln in head.lines()]
    rule = Table([[""]], colWidths=[6.5 * inch], rowHeights=[4])
    rule.setStyle(TableStyle([("LINEBELOW", (0, 0), (-1, -1), 0.8, colors.grey)]))
    story += [rule, Spacer(1, 12)]
    for line in text.splitlines():
        if not line.strip():
            story.append(Spacer(1, 7))
        elif line.startswith("  - "):
            story.append(Paragraph(_spaced(line[4:]), bullet, bulletText="\u2022"))
        elif line.startswith("Re:"):
            story.append(Paragraph(f"<b>{_spaced(line)}</b>", body))
        else:
            story.append(Paragraph(_spaced(line), body))
    doc.build(story)
    return buf.getvalue()


def appeal_pdf(f: ClaimFacts, text: str | None = None) -> bytes:
    """The appeal letter PDF from the facts' draft, or the letter of `text` (the biller's
    edited letter, or the corrected-claim worksheet when the next step is not an
    appeal)."""
    head = f.letterhead or Letterhead(f.practice_name)
    return letter_pdf(head, _title(f), appeal_text(f) if text is None else text)


def corrected_claim_worksheet(f: ClaimFacts, *, frequency: str, what_to_change: str,
                              timely_filing_deadline: date | None) -> str:
    """What the biller changes before resubmitting, as a checklist."""
    kind = {"7": "replacement of a prior claim", "8": "void/cancel of a prior claim"}
    lines = [
        "CORRECTED CLAIM WORKSHEET",
        f"Claim number: {f.claim_number}",
        f"Payer: {f.payer_name}",
        f"Original payer claim control number (REF*F8): {f.payer_claim_number or 'MISSING - get it from the payer'}",
        f"Frequency code (CLM05-3): {frequency} ({kind.get(frequency, '')})",
        f"Date(s) of service: {_dates(f)}",
        f"Procedure code(s) on the claim: {', '.join(f.procedure_codes) or '-'}",
        "", "Payer reasons:",
    ]
    lines += [f"  - {g}-{c}: {t}" for g, c, _a, t in f.reasons]
    lines += [f"  - Remark {c}: {t}" for c, t in f.remarks]
    lines += ["", "What to change:", f"  {what_to_change}", "",
              "Before sending:",
              f"  [ ] Set CLM05-3 to {frequency} and REF*F8 to the payer claim number above",
              "  [ ] Correct the item(s) named by the reason/remark codes",
              "  [ ] Keep the original claim number (CLM01) for matching"]
    if timely_filing_deadline:
        lines.append(f"  [ ] Send by {timely_filing_deadline:%m/%d/%Y} (payer's timely "
                     "filing limit from the date of service)")
    return "\n".join(lines) + "\n"
