"""835 parsing and import: balancing at claim, line and payment level (a planted
imbalance is flagged and stored), reversals, PLB offsets, CAS triplets, idempotent
re-import, all-or-nothing rejection, and a bounded fuzz test of the parsers."""

from __future__ import annotations

import random
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.x12.errors import X12Error
from app.x12.synth import SynthClaim, SynthLine, build_835, bulk_claims
from app.x12.x271 import parse_271
from app.x12.x835 import parse_835
from automations.workflows import denials, eligibility

X12 = Path(__file__).resolve().parents[3] / "shared" / "corpus" / "x12"  # ../shared/corpus
D = Decimal
TABLES = ["x12_imports", "remittances", "remit_claims", "remit_lines", "remit_adjustments",
          "remit_remarks", "remit_plb", "tasks", "task_evidence", "blobs", "claims",
          "eligibility_responses", "eligibility_benefits", "claim_statuses"]


def counts(session: Any) -> dict[str, int]:
    return {t: session.vault.query_one(f"SELECT count(*) FROM {t}")[0] for t in TABLES}


def one_claim(status: str = "1", **kw: Any) -> SynthClaim:
    line = SynthLine("99213", D("150.00"), D("90.00"),
                     [("CO", "45", D("40.00")), ("PR", "2", D("20.00"))])
    return SynthClaim(kw.pop("number", "CLM1"), status, "ZZYZXQUELL", "QUINTESSA",
                      "ZQM4455667", date(2026, 9, 1), kw.pop("lines", [line]), **kw)


def test_balanced_file_parses_with_every_part() -> None:
    data = build_835([one_claim()], payer_name="ACME HEALTH", payer_id="ACME",
                     trace="TRACE1", paid_on=date(2026, 10, 1))
    remit = parse_835(data)[0]
    assert remit.balanced and remit.payment_amount == D("90.00")
    assert remit.trace_number == "TRACE1" and remit.payer_name == "ACME HEALTH"
    claim = remit.claims[0]
    assert (claim.claim_number, claim.status_code, claim.charge, claim.paid) == \
        ("CLM1", "1", D("150.00"), D("90.00"))
    assert claim.member_id == "ZQM4455667" and claim.patient_last == "ZZYZXQUELL"
    line = claim.lines[0]
    assert line.code == "99213" and line.service_date == date(2026, 9, 1)
    assert [(a.group, a.reason, a.amount) for a in line.adjustments] == \
        [("CO", "45", D("40.00")), ("PR", "2", D("20.00"))]


def test_planted_claim_imbalance_is_flagged() -> None:
    data = build_835([one_claim()], payer_name="P", payer_id="1", trace="T",
                     paid_on=date(2026, 10, 1))
    data = data.replace(b"CLP*CLM1*1*150.00*90.00", b"CLP*CLM1*1*150.00*95.00")
    remit = parse_835(data)[0]
    levels = sorted(i.level for i in remit.issues)
    assert levels == ["claim", "payment"]
    claim_issue = next(i for i in remit.issues if i.level == "claim")
    assert claim_issue.expected == D("95.00") and claim_issue.actual == D("90.00")


def test_planted_line_imbalance_is_flagged() -> None:
    data = build_835([one_claim()], payer_name="P", payer_id="1", trace="T",
                     paid_on=date(2026, 10, 1)).replace(b"CAS*CO*45*40.00", b"CAS*CO*45*41.00")
    kinds = {i.level for i in parse_835(data)[0].issues}
    assert kinds == {"line", "claim"}


def test_payment_total_uses_plb() -> None:
    """sum(CLP04) - sum(PLB) = BPR02: an overpayment recovery (WO, positive) lowers the
    check, interest (L6, negative) raises it."""
    plb = [("WO", "OVERPAY123", D("30.00")), ("L6", "INT", D("-2.50"))]
    data = build_835([one_claim()], payer_name="P", payer_id="1", trace="T",
                     paid_on=date(2026, 10, 1), plb=plb)
    remit = parse_835(data)[0]
    assert remit.payment_amount == D("62.50") and remit.balanced
    assert [(p.reason, p.reference, p.amount) for p in remit.provider_adjustments] == \
        [("WO", "OVERPAY123", D("30.00")), ("L6", "INT", D("-2.50"))]
    wrong = build_835([one_claim()], payer_name="P", payer_id="1", trace="T",
                      paid_on=date(2026, 10, 1), plb=plb, payment_override=D("90.00"))
    issue = parse_835(wrong)[0].issues
    assert [i.level for i in issue] == ["payment"]
    assert issue[0].actual == D("62.50")


def test_reversal_and_correction_balance() -> None:
    """CLP02 22 takes back the earlier payment (negative amounts), the corrected claim
    follows; both balance and the check is the net."""
    rev_line = SynthLine("99213", D("-150.00"), D("-90.00"),
                         [("CO", "45", D("-40.00")), ("PR", "2", D("-20.00"))])
    new_line = SynthLine("99214", D("150.00"), D("100.00"),
                         [("CO", "45", D("30.00")), ("PR", "2", D("20.00"))])
    claims = [one_claim("22", lines=[rev_line]), one_claim("1", lines=[new_line])]
    remit = parse_835(build_835(claims, payer_name="P", payer_id="1", trace="T",
                                paid_on=date(2026, 10, 1)))[0]
    assert remit.balanced
    assert [c.status_code for c in remit.claims] == ["22", "1"]
    assert remit.payment_amount == D("10.00")
    assert remit.claims[0].paid == D("-90.00")


def test_six_cas_triplets_and_no_more() -> None:
    reasons = ["45", "253", "59", "131", "94", "42"]
    line = SynthLine("99213", D("160.00"), D("100.00"),
                     [("CO", r, D("10.00")) for r in reasons])
    data = build_835([one_claim(lines=[line])], payer_name="P", payer_id="1", trace="T",
                     paid_on=date(2026, 10, 1))
    remit = parse_835(data)[0]
    assert [a.reason for a in remit.claims[0].lines[0].adjustments] == reasons
    assert remit.balanced
    seven = data.replace(b"*42*10.00*1~", b"*42*10.00*1*45*1.00*1~")
    with pytest.raises(X12Error, match="more than 6"):
        parse_835(seven)


def test_claim_level_cas_and_quantity() -> None:
    claim = one_claim(claim_adjustments=[("OA", "23", D("5.00"))])
    remit = parse_835(build_835([claim], payer_name="P", payer_id="1", trace="T",
                                paid_on=date(2026, 10, 1)))[0]
    assert remit.balanced
    assert [(a.group, a.reason) for a in remit.claims[0].adjustments] == [("OA", "23")]


def test_cpt_descriptions_are_dropped() -> None:
    data = build_835([one_claim()], payer_name="P", payer_id="1", trace="T",
                     paid_on=date(2026, 10, 1)).replace(
        b"SVC*HC:99213*", b"SVC*HC:99213:25::::OFFICE VISIT EST*")
    line = parse_835(data)[0].claims[0].lines[0]
    assert line.procedure == "HC:99213:25" and line.modifiers == ["25"]
    assert "OFFICE" not in repr(line)


# -- import -----------------------------------------------------------------------------

def test_import_is_idempotent(practice: Any) -> None:
    data = build_835([one_claim(), one_claim("4", number="CLM2", lines=[
        SynthLine("99214", D("200.00"), D("0.00"), [("CO", "50", D("200.00"))])])],
        payer_name="Acme Health", payer_id="ACME", trace="T100", paid_on=date(2026, 10, 1))
    first = denials.import_835_file(practice, data)
    assert first.stored == 1 and first.claims == 2 and first.denials == 1
    assert first.matched_patients == 2 and len(first.tasks) == 1
    before = counts(practice)
    again = denials.import_835_file(practice, data)
    assert again.stored == 0 and again.duplicates == 1 and again.tasks == []
    assert counts(practice) == before


def test_imbalance_is_stored_and_shown(practice: Any) -> None:
    from app.services import remittance
    data = build_835([one_claim()], payer_name="Acme Health", payer_id="ACME", trace="T7",
                     paid_on=date(2026, 10, 1), payment_override=D("99.99"))
    result = denials.import_835_file(practice, data)
    assert len(result.issues) == 1 and "BPR02" in result.issues[0]
    listed = remittance.list_remittances(practice)
    assert listed[0]["balanced"] is False
    summary = remittance.remittance_summary(practice, listed[0]["id"])
    assert summary["issues"][0]["level"] == "payment"
    from app import queue
    assert len(result.tasks) == 1  # the biller sees it in the queue too
    task = queue.get_task(practice, result.tasks[0])
    assert task.kind == "denial_review" and "BPR02" in task.draft
    queue.set_mode(practice, "denial_review", "approve_each")
    assert queue.approve(practice, task.id).state.value == "done"


def test_rejected_import_writes_nothing(practice: Any) -> None:
    good = build_835([one_claim()], payer_name="Acme Health", payer_id="ACME", trace="T8",
                     paid_on=date(2026, 10, 1))
    bad = good.replace(b"CAS*PR*2*20.00", b"CAS*PR*2*2O.00")  # letter O in an amount
    before = counts(practice)
    audit_before = practice.vault.query_one("SELECT count(*) FROM audit_log")[0]
    with pytest.raises(X12Error) as info:
        denials.import_835_file(practice, bad)
    assert "CAS amount '2O.00' is not a number" in str(info.value)
    assert counts(practice) == before
    assert practice.vault.query_one("SELECT count(*) FROM audit_log")[0] == audit_before


def test_failure_after_parse_rolls_back_everything(practice: Any, monkeypatch: Any) -> None:
    """A failure while creating the denial tasks undoes the stored remittance too."""
    data = build_835([one_claim("4", lines=[
        SynthLine("99214", D("200.00"), D("0.00"), [("CO", "50", D("200.00"))])])],
        payer_name="Acme Health", payer_id="ACME", trace="T9", paid_on=date(2026, 10, 1))
    before = counts(practice)

    def boom(*_a: Any, **_k: Any) -> None:
        raise RuntimeError("disk full")
    monkeypatch.setattr(denials, "_create", boom)
    with pytest.raises(RuntimeError):
        denials.import_835_file(practice, data)
    assert counts(practice) == before


def test_biller_may_import_front_desk_may_not(practice: Any) -> None:
    from app.errors import PermissionDenied
    from app.identity import Role, Session
    desk = Session(practice.vault, "desk", frozenset({Role.FRONT_DESK}))
    data = build_835([one_claim()], payer_name="Acme Health", payer_id="ACME", trace="T10",
                     paid_on=date(2026, 10, 1))
    with pytest.raises(PermissionDenied):
        denials.import_835_file(desk, data)
    biller = Session(practice.vault, "bill", frozenset({Role.BILLER}))
    assert denials.import_835_file(biller, data).stored == 1


# -- fuzz -------------------------------------------------------------------------------

SEED_835 = build_835(bulk_claims(3, random.Random(11)), payer_name="Acme Health",
                     payer_id="ACME", trace="FUZZ", paid_on=date(2026, 10, 1))
SEED_271 = (X12 / "271/lfh__subscriber-health-benefit-check.271").read_bytes()


def mutations(seed: bytes) -> st.SearchStrategy[bytes]:
    def apply(ops: list[tuple[int, int, bytes]]) -> bytes:
        data = bytearray(seed)
        for kind, pos, blob in ops:
            pos %= max(len(data), 1)
            if kind == 0:
                data[pos:pos + len(blob)] = blob
            elif kind == 1:
                data[pos:pos] = blob
            elif kind == 2:
                del data[pos:pos + len(blob) + 1]
            else:
                del data[pos:]
        return bytes(data)
    alphabet = st.sampled_from(list(b"*~:^0123456789.-ABCZ \n\x00") + [0xff])
    op = st.tuples(st.integers(0, 3), st.integers(0, 10**6),
                   st.lists(alphabet, min_size=1, max_size=4).map(bytes))
    return st.lists(op, min_size=1, max_size=4).map(apply)


@settings(max_examples=300, deadline=None, database=None)
@given(mutations(SEED_835))
def test_fuzz_835_parser_only_raises_typed_errors(data: bytes) -> None:
    try:
        for remit in parse_835(data, lenient=True):
            assert isinstance(remit.balanced, bool)
    except X12Error as exc:
        assert exc.position


@settings(max_examples=300, deadline=None, database=None)
@given(mutations(SEED_271))
def test_fuzz_271_parser_only_raises_typed_errors(data: bytes) -> None:
    try:
        parse_271(data, lenient=True)
    except X12Error as exc:
        assert exc.position


def test_fuzz_import_is_all_or_nothing(practice: Any) -> None:
    @settings(max_examples=40, deadline=None, database=None,
              suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(mutations(SEED_835), st.booleans())
    def run(data: bytes, use_271: bool) -> None:
        before = counts(practice)
        try:
            if use_271:
                eligibility.import_271_file(practice, data)
            else:
                denials.import_835_file(practice, data)
        except X12Error:
            assert counts(practice) == before
    run()


def test_synthetic_835s_are_valid_per_pyx12() -> None:
    """The generator behind the demo, the bench and these tests writes 835s that pyx12's
    X221A1 map accepts (PLB offsets and reversals included)."""
    from app.x12.strict import pyx12_validate
    rev = SynthLine("99213", D("-150.00"), D("-90.00"),
                    [("CO", "45", D("-40.00")), ("PR", "2", D("-20.00"))])
    claims = [*bulk_claims(25, random.Random(2)), one_claim("22", number="R1", lines=[rev])]
    data = build_835(claims, payer_name="ACME HEALTH", payer_id="12345", trace="T1",
                     paid_on=date(2026, 10, 1),
                     plb=[("WO", "REF1", D("5.00")), ("L6", "INT", D("-1.00"))])
    assert pyx12_validate(data) == (True, [])
    assert parse_835(data)[0].balanced


SEED_277 = (X12 / "277/lfh__claim-level-status.277").read_bytes()


@settings(max_examples=200, deadline=None, database=None)
@given(mutations(SEED_277), st.booleans())
def test_fuzz_277_and_270_parsers_only_raise_typed_errors(data: bytes, lenient: bool) -> None:
    from app.x12.x271 import parse_270
    from app.x12.x277 import parse_277
    for parser in (parse_277, parse_270):
        try:
            parser(data, lenient=lenient)
        except X12Error as exc:
            assert exc.position


def test_code_values_are_checked() -> None:
    import csv
    from app.services.remittance import CODES_DIR
    from app.x12.x835 import CLP02_CODES
    with open(CODES_DIR / "clp02.csv", newline="") as fh:
        assert CLP02_CODES == {r["code"] for r in csv.DictReader(fh)}
    good = build_835([one_claim()], payer_name="P", payer_id="1", trace="T",
                     paid_on=date(2026, 10, 1))
    for old, new, what in ((b"CLP*CLM1*1*", b"CLP*CLM1*9*", "CLP02"),
                           (b"BPR*I*", b"BPR*Q*", "BPR01"),
                           (b"CAS*PR*2*", b"CAS*XX*2*", "CAS01")):
        with pytest.raises(X12Error, match=what):
            parse_835(good.replace(old, new, 1))
