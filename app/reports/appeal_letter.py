"""Denial drafts: the appeal letter (editable text plus a reportlab PDF) and the
corrected-claim worksheet. Built only from the claim's facts and the payer's reason
codes with their published descriptions; procedure codes appear as numbers only (CPT
descriptions are the AMA's). The PDF is returned as bytes for the vault, never written
to disk here."""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from datetime import date
from xml.sax.saxutils import escape

from reportlab.lib import colors
from reportlab.lib.pagesizes import LETTER
from reportlab.lib.styles import ParagraphStyle, getSampleStyleSheet
from reportlab.lib.units import inch
from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

TEMPLATE_VERSION = "appeal-letter-1"

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
    reasons: list[tuple[str, str, str, str]]  # (group, CARC, amount, description)
    remarks: list[tuple[str, str]]  # (RARC, description)
    category: str
    action: str
    medicare: bool = False
    appeal_deadline: date | None = None
    letter_date: date | None = None
    enclosures: list[str] = field(default_factory=lambda: [
        "Copy of the remittance advice (835) for this claim",
        "Clinical documentation for the date(s) of service"])


def _dates(f: ClaimFacts) -> str:
    if f.service_from and f.service_to and f.service_to != f.service_from:
        return f"{f.service_from:%m/%d/%Y} - {f.service_to:%m/%d/%Y}"
    return f"{f.service_from:%m/%d/%Y}" if f.service_from else "see enclosed remittance"


def _title(f: ClaimFacts) -> str:
    return ("Request for Redetermination (Medicare Part A/B)" if f.medicare
            else "Request for Reconsideration / Appeal of Claim Denial")


def appeal_text(f: ClaimFacts) -> str:
    """The editable draft; the PDF is rendered from the same facts."""
    lines = [
        f.practice_name, "", f"{(f.letter_date or date.today()):%B %d, %Y}", "",
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
    lines += ["", ARGUMENTS.get(f.category, ARGUMENTS["other"]), ""]
    if f.appeal_deadline:
        lines.append(f"This request is sent within the appeal window (deadline "
                     f"{f.appeal_deadline:%m/%d/%Y}).")
    lines += ["Enclosures:"] + [f"  - {e}" for e in f.enclosures]
    lines += ["", "Sincerely,", "", "______________________________",
              f"Billing office, {f.practice_name}"]
    return "\n".join(lines) + "\n"


def appeal_pdf(f: ClaimFacts, text: str | None = None) -> bytes:
    """A one- to two-page letter PDF (reportlab), from the facts or the edited text."""
    buf = io.BytesIO()
    doc = SimpleDocTemplate(buf, pagesize=LETTER, leftMargin=inch, rightMargin=inch,
                            topMargin=0.8 * inch, bottomMargin=0.8 * inch,
                            title=_title(f), author=f.practice_name, invariant=1)
    styles = getSampleStyleSheet()
    body = ParagraphStyle("body", parent=styles["BodyText"], fontSize=10.5, leading=14)
    small = ParagraphStyle("small", parent=body, fontSize=9, leading=12)
    bullet = ParagraphStyle("bullet", parent=small, leftIndent=14, bulletIndent=4,
                            spaceAfter=3)
    story: list[object] = []
    if text is not None:
        # The biller's edited draft: one paragraph per line, as written.
        for line in text.splitlines():
            story.append(Paragraph(escape(line) or "&nbsp;", body))
        doc.build(story)
        return buf.getvalue()
    story.append(Paragraph(f"<b>{escape(f.practice_name)}</b>", styles["Heading2"]))
    story.append(Paragraph(f"{(f.letter_date or date.today()):%B %d, %Y}", body))
    story.append(Spacer(1, 8))
    story.append(Paragraph(f"To: {escape(f.payer_name)} &mdash; Appeals / Reconsideration",
                           body))
    story.append(Spacer(1, 8))
    story.append(Paragraph(f"<b>Re: {escape(_title(f))}</b>", body))
    facts = [["Patient", f.patient_name, "Member ID", f.member_id],
             ["Claim number", f.claim_number, "Payer claim no.", f.payer_claim_number or "-"],
             ["Date(s) of service", _dates(f), "Procedure code(s)",
              ", ".join(f.procedure_codes) or "-"],
             ["Billed", f"${f.charge}", "Paid", f"${f.paid}"]]
    cell = ParagraphStyle("cell", parent=small)
    table = Table([[Paragraph(escape(str(c)), cell) for c in row] for row in facts],
                  colWidths=[1.2 * inch, 2.0 * inch, 1.2 * inch, 2.1 * inch])
    table.setStyle(TableStyle([
        ("GRID", (0, 0), (-1, -1), 0.4, colors.grey),
        ("BACKGROUND", (0, 0), (0, -1), colors.whitesmoke),
        ("BACKGROUND", (2, 0), (2, -1), colors.whitesmoke),
        ("VALIGN", (0, 0), (-1, -1), "TOP")]))
    story += [Spacer(1, 6), table, Spacer(1, 10)]
    story.append(Paragraph("To whom it may concern:", body))
    story.append(Spacer(1, 4))
    story.append(Paragraph("We ask you to reconsider the adjudication of the claim above. "
                           "Your remittance gave these reasons:", body))
    for group, carc, amount, text_ in f.reasons:
        story.append(Paragraph(f"<b>{escape(group)}-{escape(carc)}</b> "
                               f"(${escape(amount)}): {escape(text_)}", bullet,
                               bulletText="\u2022"))
    for code, text_ in f.remarks:
        story.append(Paragraph(f"<b>Remark {escape(code)}</b>: {escape(text_)}", bullet,
                               bulletText="\u2022"))
    story.append(Spacer(1, 8))
    story.append(Paragraph(escape(ARGUMENTS.get(f.category, ARGUMENTS["other"])), body))
    if f.appeal_deadline:
        story.append(Spacer(1, 6))
        story.append(Paragraph(f"This request is sent within the appeal window (deadline "
                               f"{f.appeal_deadline:%m/%d/%Y}).", body))
    story.append(Spacer(1, 8))
    story.append(Paragraph("<b>Enclosures</b>", body))
    for e in f.enclosures:
        story.append(Paragraph(escape(e), bullet, bulletText="\u2022"))
    story += [Spacer(1, 14), Paragraph("Sincerely,", body), Spacer(1, 26),
              Paragraph("______________________________", body),
              Paragraph(f"Billing office, {escape(f.practice_name)}", body)]
    doc.build(story)
    return buf.getvalue()


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
