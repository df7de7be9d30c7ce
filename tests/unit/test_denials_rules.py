"""Denial classification: one test per rule in resources/denials/*.yaml (the table
below must cover every rule id), the brief's examples, and whole-file expectations."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from app.domain.revenue import Adjustment, ClaimPayment, DenialCategory, NextAction
from app.denials.classify import classify, is_medicare, load_rules
from app.x12.x835 import parse_835

X12 = Path(__file__).resolve().parents[3] / "shared" / "corpus" / "x12"  # ../shared/corpus
D = Decimal


def claim(status: str, *adjs: tuple[str, str, str], remarks: tuple[str, ...] = (),
          filing: str = "12") -> ClaimPayment:
    c = ClaimPayment("C1", status, D("100"), D("0"), None, filing_indicator=filing)
    c.adjustments = [Adjustment(g, r, D(a)) for g, r, a in adjs]
    c.remarks = list(remarks)
    return c


# rule id -> (claim, medicare, expected category, action, is_denial, appealable)
CASES = {
    "reversal": (claim("22", ("CO", "45", "-40")), False, "other", "no_action", False, True),
    "medicare_timely_filing": (claim("4", ("CO", "29", "100"), filing="MB"), True,
                               "timely_filing", "write_off", True, False),
    "timely_filing": (claim("4", ("CO", "29", "100")), False, "timely_filing", "appeal",
                      True, True),
    "coverage_terminated": (claim("4", ("CO", "27", "100")), False, "eligibility",
                            "fix_and_resubmit", True, True),
    "not_eligible": (claim("4", ("CO", "31", "100")), False, "eligibility",
                     "fix_and_resubmit", True, True),
    "authorization_missing": (claim("4", ("CO", "197", "100")), False, "authorization",
                              "appeal", True, True),
    "authorization_number": (claim("4", ("CO", "15", "100")), False, "authorization",
                             "rebill_corrected", True, True),
    "missing_info_with_rarc": (claim("4", ("CO", "16", "100"), remarks=("MA130",)), False,
                               "missing_info", "fix_and_resubmit", True, True),
    "missing_info_no_rarc": (claim("4", ("CO", "16", "100")), False, "missing_info",
                             "fix_and_resubmit", True, True),
    "attachment_missing": (claim("4", ("CO", "252", "100")), False, "missing_info",
                           "fix_and_resubmit", True, True),
    "duplicate": (claim("4", ("CO", "18", "100")), False, "duplicate", "no_action", True,
                  True),
    "medical_necessity": (claim("4", ("CO", "50", "100")), False, "medical_necessity",
                          "appeal", True, True),
    "bundling": (claim("1", ("CO", "97", "60"), ("CO", "45", "40")), False, "bundling",
                 "rebill_corrected", True, True),
    "coding": (claim("4", ("CO", "11", "100")), False, "coding", "rebill_corrected", True,
               True),
    "non_covered_patient": (claim("1", ("PR", "96", "100")), False, "non_covered",
                            "bill_patient", False, True),
    "non_covered": (claim("4", ("CO", "96", "100")), False, "non_covered", "appeal", True,
                    True),
    "patient_share": (claim("1", ("PR", "2", "20"), ("CO", "45", "30")), False,
                      "patient_responsibility", "bill_patient", False, True),
    "contractual": (claim("1", ("CO", "45", "30")), False, "contractual", "write_off", False,
                    True),
    "prior_payer": (claim("2", ("OA", "23", "50")), False, "contractual", "write_off", False,
                    True),
    "patient_other": (claim("1", ("PR", "187", "10")), False, "patient_responsibility",
                      "bill_patient", False, True),
    "unknown_reason": (claim("1", ("CO", "B22", "10")), False, "other", "appeal", True, True),
    "denied_no_reason": (claim("4", ("PR", "1", "100")), False, "other", "appeal", True,
                         True),
}


def test_every_rule_has_a_case() -> None:
    assert set(CASES) == {r.id for r in load_rules()}


@pytest.mark.parametrize("rule_id", sorted(CASES))
def test_rule(rule_id: str) -> None:
    c, medicare, category, action, denial, appealable = CASES[rule_id]
    got = classify(c, medicare=medicare)
    assert (got.rule_id, got.category.value, got.action.value, got.is_denial,
            got.appealable) == (rule_id, category, action, denial, appealable)
    assert got.explanation


def test_brief_examples() -> None:
    co45 = classify(claim("1", ("CO", "45", "30")))
    assert co45.category is DenialCategory.CONTRACTUAL and not co45.is_denial
    for code in ("1", "2", "3"):
        pr = classify(claim("1", ("PR", code, "20")))
        assert pr.action is NextAction.BILL_PATIENT and not pr.is_denial
    for code in ("197", "15"):
        assert classify(claim("4", ("CO", code, "100"))).category is \
            DenialCategory.AUTHORIZATION
    co16 = classify(claim("4", ("CO", "16", "100"), remarks=("N290",)))
    assert (co16.category, co16.action) == (DenialCategory.MISSING_INFO,
                                            NextAction.FIX_AND_RESUBMIT)
    assert classify(claim("4", ("CO", "29", "100"))).appealable
    medicare = claim("4", ("CO", "29", "100"), filing="MB")
    assert is_medicare(medicare, None)
    assert not classify(medicare, medicare=True).appealable
    assert classify(claim("4", ("CO", "18", "100"))).category is DenialCategory.DUPLICATE
    co50 = classify(claim("4", ("CO", "50", "100")))
    assert (co50.category, co50.action) == (DenialCategory.MEDICAL_NECESSITY,
                                            NextAction.APPEAL)
    assert classify(claim("1", ("CO", "97", "60"))).category is DenialCategory.BUNDLING
    assert classify(claim("4", ("CO", "27", "100"))).category is DenialCategory.ELIGIBILITY


def test_most_important_reason_wins_and_zero_amounts_are_ignored() -> None:
    mixed = classify(claim("1", ("CO", "45", "30"), ("PR", "2", "20"), ("CO", "50", "50")))
    assert mixed.rule_id == "medical_necessity" and mixed.trigger == "CO-50"
    zero = classify(claim("1", ("CO", "45", "30"), ("CO", "50", "0")))
    assert zero.rule_id == "contractual"


def test_paid_in_full_needs_nothing() -> None:
    got = classify(claim("1"))
    assert got.action is NextAction.NO_ACTION and not got.is_denial


def _categories(rel: str) -> list[tuple[str, str]]:
    remits = parse_835((X12 / rel).read_bytes(), lenient=True)
    return [(c.claim_number, classify(c, medicare=is_medicare(c, None)).rule_id)
            for r in remits for c in r.claims]


@pytest.mark.parametrize("rel, expected", [
    ("835/edi835parser__emedny_sample.txt",
     ["paid_as_billed", "timely_filing", "attachment_missing"]),
    ("835/affect835__nevada_medicaid.txt",
     ["not_eligible", "unknown_reason", "not_eligible"]),
    ("835/pyx12__835_mult_loops.txt", ["missing_info_with_rarc"]),
    ("835/lfh__managed-care.835", ["patient_share", "patient_share"]),
    ("835/lfh__medicare-part-a.835", ["contractual", "contractual"]),
    ("835/lfh__secondary-payment.835", ["prior_payer", "patient_share"]),
    ("835/stupidedi__multiple-claims-single-check.edi",
     ["contractual", "contractual", "patient_share", "patient_share", "patient_share",
      "contractual", "contractual", "contractual", "contractual"]),
])
def test_whole_file_categories(rel: str, expected: list[str]) -> None:
    assert [rule for _n, rule in _categories(rel)] == expected


def test_whole_file_denial_mix() -> None:
    """The de-identified real-world 835 (3 transactions, 56 claims): every CLP02 4 claim
    is a denial and none of the paid CO-45 claims is."""
    remits = parse_835((X12 / "835/oopfactory__ExampleFromNth.txt").read_bytes())
    results = [(c.status_code, classify(c)) for r in remits for c in r.claims]
    assert len(results) == 56
    assert all(k.is_denial for s, k in results if s == "4")
    paid = [k for s, k in results if s == "1"]
    assert paid and not any(k.is_denial for k in paid if k.rule_id == "contractual")
