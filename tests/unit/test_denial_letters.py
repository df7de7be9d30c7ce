"""Letters and remittance details a biller can use (issue 14): the practice letterhead on
appeal and corrected-claim letters, the approved PDF the draft's document with the edits,
only appealable adjustments argued, a passed deadline never called timely, line-level
denials apart from denied claims, and every adjustment group of a claim shown together."""

from __future__ import annotations

import io
import json
from datetime import date, datetime, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from pypdf import PdfReader

from app import clock, queue
from app.denials.classify import classify
from app.denials.view import Deadline, adjustment_groups, denial_scope, is_appeal_ground
from app.domain.revenue import Adjustment
from app.reports.appeal_letter import ClaimFacts, Letterhead, appeal_text
from app.services import practice as practice_service
from app.services import remittance
from app.x12.synth import SynthClaim, SynthLine, build_835
from app.x12.x835 import parse_835
from automations.workflows import denials

D = Decimal
X12 = Path(__file__).resolve().parents[3] / "shared" / "corpus" / "x12" / "835"
TODAY = datetime(2026, 10, 3, 12, 0, tzinfo=timezone.utc)


def _claim(number: str, lines: list[SynthLine], status: str = "4",
           claim_adjustments: list[tuple[str, str, Decimal]] | None = None) -> SynthClaim:
    return SynthClaim(number, status, "ZZYZXQUELL", "QUINTESSA", "ZQM4455667",
                      date(2026, 9, 1), lines, claim_adjustments=claim_adjustments or [],
                      payer_claim_number=f"PCN{number}")


def _import(session: Any, claims: list[SynthClaim], paid_on: date = date(2026, 10, 1),
            trace: str = "T1") -> Any:
    clock.set_clock(lambda: TODAY)
    return denials.import_835_file(session, build_835(
        claims, payer_name="Acme Health", payer_id="PAYERX", trace=trace, paid_on=paid_on))


def _text(pdf: bytes) -> str:
    return "\n".join(p.extract_text() for p in PdfReader(io.BytesIO(pdf)).pages)


def _letterhead(session: Any) -> None:
    for key, value in (("practice_address", "12 Elm Street | Springfield, IL 62701"),
                       ("practice_phone", "(217) 555-0142"), ("practice_npi", "1234567893"),
                       ("practice_tin", "12-3456789")):
        practice_service.set_setting(session, key, value)


HEAD = ("12 Elm Street", "Springfield, IL 62701", "(217) 555-0142", "NPI 1234567893",
        "TIN 12-3456789")


# -- letterhead and layout ------------------------------------------------------------------

def test_letterhead_on_the_draft_and_the_approved_letter(practice: Any) -> None:
    _letterhead(practice)
    queue.set_mode(practice, "denial_review", "approve_each")
    result = _import(practice, [_claim("C50", [SynthLine("99214", D("200.00"), D("0.00"),
                                                          [("CO", "50", D("200.00"))])])])
    task = queue.get_task(practice, result.tasks[0])
    blob = next(e.blob_id for e in task.evidence if e.label == "Appeal letter draft (PDF)")
    assert blob is not None
    draft_pdf, _ = queue.blob_data(practice, blob, task.id)
    name = str(practice_service.practice_info(practice)["name"])
    draft_text = _text(draft_pdf)
    for needle in (name, *HEAD):
        assert needle in draft_text, needle
    edited = task.draft.replace("To whom it may concern:", "Dear appeals reviewer:")
    queue.approve(practice, task.id, edited)
    final = next(e for e in queue.get_task(practice, task.id).evidence
                 if e.label == "Approved appeal letter (PDF)")
    assert final.blob_id is not None
    final_pdf, _ = queue.blob_data(practice, final.blob_id, task.id)
    final_text = _text(final_pdf)
    for needle in (name, *HEAD, "Dear appeals reviewer:"):
        assert needle in final_text, needle
    # The same document with the edit: identical line for line but the edited one.
    assert final_text.replace("Dear appeals reviewer:", "To whom it may concern:") \
        == draft_text
    a, b = PdfReader(io.BytesIO(draft_pdf)), PdfReader(io.BytesIO(final_pdf))
    assert len(a.pages) == len(b.pages) and a.pages[0].mediabox == b.pages[0].mediabox


def test_corrected_claim_worksheet_carries_the_letterhead(practice: Any) -> None:
    _letterhead(practice)
    result = _import(practice, [_claim("C16", [SynthLine("99214", D("200.00"), D("0.00"),
                                                          [("CO", "16", D("200.00"))],
                                                          ["N290"])])])
    task = queue.get_task(practice, result.tasks[0])
    pdf = next(e for e in task.evidence if e.label == "Corrected-claim worksheet draft (PDF)")
    assert pdf.blob_id is not None
    text = _text(queue.blob_data(practice, pdf.blob_id, task.id)[0])
    for needle in HEAD:
        assert text.count(needle) == 1, needle  # once: the letterhead, not the body too


# -- what a letter argues ---------------------------------------------------------------------

@pytest.mark.parametrize(("group", "carc", "ground"), [
    ("CO", "45", False), ("CO", "253", False), ("CO", "42", False), ("PR", "1", False),
    ("PR", "2", False), ("PR", "204", False), ("CO", "50", True), ("CO", "16", True),
    ("OA", "18", True)])
def test_only_appealable_adjustments_are_grounds(group: str, carc: str, ground: bool) -> None:
    assert is_appeal_ground(Adjustment(group, carc, D("10.00"))) is ground


def test_no_appeal_grounds_from_co45_or_pr(practice: Any) -> None:
    claim = _claim("C77", [SynthLine("99214", D("300.00"), D("0.00"), [
        ("CO", "50", D("180.00")), ("CO", "45", D("100.00")), ("PR", "1", D("20.00"))])])
    result = _import(practice, [claim])
    task = queue.get_task(practice, result.tasks[0])
    argued = task.draft.split("We do not dispute")[0]
    assert "CO-50" in argued
    assert "CO-45" not in argued and "PR-1" not in argued
    undisputed = task.draft.split("We do not dispute")[1].split("\n\n")[0]
    assert "CO-45" in undisputed and "PR-1" in undisputed
    assert task.payload["codes"] == ["CO-50"]


def test_a_claim_with_only_contractual_and_patient_adjustments_is_no_appeal(
        practice: Any) -> None:
    paid = _claim("OK1", [SynthLine("99213", D("150.00"), D("90.00"),
                                    [("CO", "45", D("40.00")), ("PR", "3", D("20.00"))])],
                  status="1")
    result = _import(practice, [paid])
    assert result.denials == 0 and result.tasks == []


# -- deadlines ---------------------------------------------------------------------------------

def test_an_expired_deadline_is_never_called_timely(practice: Any) -> None:
    # Paid 2026-01-02, Acme's 180 days end 2026-07-01; today is 2026-10-03.
    result = _import(practice, [_claim("C50", [SynthLine("99214", D("200.00"), D("0.00"),
                                                          [("CO", "50", D("200.00"))])])],
                     paid_on=date(2026, 1, 2))
    task = queue.get_task(practice, result.tasks[0])
    assert task.draft.startswith("DEADLINE PASSED")
    assert "07/01/2026" in task.draft and "within the appeal window" not in task.draft
    assert "deadline passed" in task.title
    assert "Medical necessity (medical_necessity)" in task.title  # the label, code beside
    assert task.payload["late"] is True and task.payload["deadline"] == "2026-07-01"
    assert not any(e.mime == "application/pdf" for e in task.evidence)  # no appeal drafted
    detail = remittance.remit_claim_detail(practice, task.payload["remit_claim_id"])
    assert detail["appeal_deadline_passed"] is True
    assert detail["next_action_label"].startswith("Deadline passed")
    assert "passed on 07/01/2026" in detail["appeal_deadline_text"]
    # Approving confirms the review: no letter is made from a late draft.
    queue.set_mode(practice, "denial_review", "approve_each")
    queue.approve(practice, task.id, task.draft)
    assert not any(e.mime == "application/pdf"
                   for e in queue.get_task(practice, task.id).evidence)


def test_appeal_text_never_claims_the_window_after_the_deadline() -> None:
    facts = ClaimFacts("P", "Payer", "Pat", "M1", "C1", "PCN", date(2026, 1, 1), None,
                       "100", "0", ["99213"], [("CO", "50", "100", "x")], [],
                       "medical_necessity", "appeal", appeal_deadline=date(2026, 3, 1),
                       letter_date=date(2026, 3, 2), letterhead=Letterhead("P"))
    assert "within the appeal window" not in appeal_text(facts)
    facts.letter_date = date(2026, 3, 1)
    assert "within the appeal window" in appeal_text(facts)
    assert Deadline(date(2026, 3, 1), date(2026, 3, 2)).passed
    assert not Deadline(date(2026, 3, 1), date(2026, 3, 1)).passed


# -- line-level denials and the adjustment-group view -------------------------------------------

def _mixed() -> SynthClaim:
    """Two lines: one paid with a contractual write-down and a copay, one denied."""
    return _claim("C88", [
        SynthLine("99213", D("150.00"), D("90.00"),
                  [("CO", "45", D("40.00")), ("PR", "3", D("20.00"))]),
        SynthLine("36415", D("25.00"), D("0.00"), [("CO", "97", D("25.00"))])],
        status="1")


def test_line_level_denial_is_not_a_denied_claim(practice: Any) -> None:
    claim = parse_835(build_835([_mixed()], payer_name="Acme Health", payer_id="PAYERX",
                                trace="T9", paid_on=date(2026, 10, 1)))[0].claims[0]
    assert denial_scope(claim, classify(claim).is_denial) == "line"
    all_denied = parse_835(build_835([_claim("C89", [
        SynthLine("99213", D("150.00"), D("0.00"), [("CO", "50", D("150.00"))]),
        SynthLine("36415", D("25.00"), D("0.00"), [("CO", "50", D("25.00"))])], status="1")],
        payer_name="Acme Health", payer_id="PAYERX", trace="T8",
        paid_on=date(2026, 10, 1)))[0].claims[0]
    assert denial_scope(all_denied, True) == "claim"
    with practice.vault.write() as conn:
        patient_id, payer_id = conn.execute(
            "SELECT patient_id, payer_id FROM coverages LIMIT 1").fetchone()
        conn.execute("INSERT INTO claims (claim_number, patient_id, payer_id, created_at) "
                     "VALUES ('C88', ?, ?, 'x')", (patient_id, payer_id))
    result = _import(practice, [_mixed()])
    task = queue.get_task(practice, result.tasks[0])
    assert task.title.startswith("Line-level denial") and task.payload["scope"] == "line"
    assert practice.vault.query_one("SELECT status FROM claims WHERE claim_number = 'C88'"
                                    )[0] == "line_denied"
    rid = remittance.list_remittances(practice)[0]["id"]
    row = remittance.remittance_summary(practice, rid)["claims"][0]
    assert row["scope"] == "line" and row["scope_label"] == "Line-level denial"


def test_adjustment_groups_together_with_patient_responsibility(practice: Any) -> None:
    claim = _mixed()
    claim.claim_adjustments = [("OA", "23", D("5.00"))]
    result = _import(practice, [claim])
    rc_id = queue.get_task(practice, result.tasks[0]).payload["remit_claim_id"]
    d = remittance.remit_claim_detail(practice, rc_id)
    groups = {g["group"]: g for g in d["groups"]}
    assert list(groups) == ["CO", "PR", "OA"]  # contractual and patient on the same claim
    assert groups["CO"]["label"] == "Contractual Obligations (CO)"
    assert groups["CO"]["total"] == "65.00" and groups["PR"]["total"] == "20.00"
    assert d["patient_responsibility"] == "20.00"
    co = {a["code"]: a for a in groups["CO"]["adjustments"]}
    assert co["CO-45"]["line"] == "99213" and co["CO-45"]["line_level"]
    assert co["CO-97"]["line"] == "36415"
    assert groups["OA"]["adjustments"][0]["line_level"] is False
    assert d["category_label"].endswith(f"({d['category']})")


def test_adjustment_groups_from_corpus_835s() -> None:
    """Every claim of the corpus files that carry both CO and PR shows both groups, each
    adjustment once, with totals that add up to the claim's adjustments."""
    seen_both = 0
    for name in ("stupidedi__multiple-claims-single-check.edi",
                 "edi835parser__united_healthcare_legacy_sample.txt",
                 "stupidedi__dollars-and-data-sent-separate.edi"):
        for remit in parse_835((X12 / name).read_bytes()):
            for claim in remit.claims:
                rows = [{"group": a.group, "carc": a.reason, "amount": str(a.amount),
                         "line": None} for a in claim.adjustments]
                rows += [{"group": a.group, "carc": a.reason, "amount": str(a.amount),
                          "line": ln.code} for ln in claim.lines for a in ln.adjustments]
                groups = adjustment_groups(rows)
                assert sum(len(g["adjustments"]) for g in groups) == len(rows)
                assert sum(D(g["total"]) for g in groups) == \
                    sum((a.amount for a in claim.all_adjustments()), D(0))
                codes = {g["group"] for g in groups}
                seen_both += {"CO", "PR"} <= codes
    assert seen_both == 7


def test_remit_claim_cli_shows_every_group(practice: Any, capsys: Any) -> None:
    from ui.commands.revenue import remit_claim_text
    result = _import(practice, [_mixed()])
    rc_id = queue.get_task(practice, result.tasks[0]).payload["remit_claim_id"]
    text = remit_claim_text(remittance.remit_claim_detail(practice, rc_id))
    assert "Contractual Obligations (CO): $65.00" in text
    assert "Patient Responsibility (PR): $20.00" in text
    assert "patient responsibility $20.00" in text
    assert "Line-level denial" in text and "line 36415" in text
    assert json.dumps(remittance.remit_claim_detail(practice, rc_id))  # --json works


def test_letter_preview_and_print_are_audited(practice: Any) -> None:
    result = _import(practice, [_claim("C50", [SynthLine("99214", D("200.00"), D("0.00"),
                                                          [("CO", "50", D("200.00"))])])])
    pdf = remittance.letter_pdf(practice, result.tasks[0])
    assert pdf.startswith(b"%PDF")
    remittance.record_letter_print(practice, result.tasks[0], 1)
    actions = [r[0] for r in practice.vault.query(
        "SELECT action FROM audit_log WHERE action LIKE 'denial.letter_%'")]
    assert actions == ["denial.letter_view", "denial.letter_print"]


def test_corrected_claim_worksheet_pdf_keeps_its_layout_when_approved(practice: Any) -> None:
    """A bundling denial's next step is a corrected claim: its PDF is the worksheet on
    the letterhead, and the approved PDF is that document with the biller's edits."""
    _letterhead(practice)
    queue.set_mode(practice, "denial_review", "approve_each")
    result = _import(practice, [_claim("C97", [SynthLine("99214", D("200.00"), D("0.00"),
                                                          [("CO", "97", D("200.00"))])])])
    task = queue.get_task(practice, result.tasks[0])
    assert task.payload["action"] == "rebill_corrected"
    draft = next(e for e in task.evidence if e.label == "Corrected-claim worksheet draft (PDF)")
    assert draft.blob_id is not None
    draft_text = _text(queue.blob_data(practice, draft.blob_id, task.id)[0])
    assert "CORRECTED CLAIM WORKSHEET" in draft_text and "TIN 12-3456789" in draft_text
    assert "Reconsideration" not in draft_text  # not an appeal letter
    edited = task.draft.replace("Keep the original claim number", "Keep CLM01")
    queue.approve(practice, task.id, edited)
    final = next(e for e in queue.get_task(practice, task.id).evidence
                 if e.label == "Approved corrected-claim worksheet (PDF)")
    assert final.blob_id is not None
    final_text = _text(queue.blob_data(practice, final.blob_id, task.id)[0])
    assert final_text.replace("Keep CLM01", "Keep the original claim number") == draft_text


def test_a_letter_is_dated_as_letters_are() -> None:
    """'March 1, 2026', not strftime's padded 'March 01, 2026' (seen on the PDFs)."""
    facts = ClaimFacts("P", "Payer", "Pat", "M1", "C1", "PCN", date(2026, 1, 1), None,
                       "100", "0", ["99213"], [("CO", "50", "100", "x")], [],
                       "medical_necessity", "appeal", letter_date=date(2026, 3, 1))
    assert appeal_text(facts).splitlines()[0] == "March 1, 2026"
