"""What a classified claim asks of people (app.denials.rules): pure task specs with their
natural keys, drafts, deadlines and letter requests. No vault, no queue."""

from __future__ import annotations

import subprocess
import sys
from datetime import date, datetime, timezone
from decimal import Decimal
from pathlib import Path

from app.denials import rules
from app.denials.classify import classify
from app.domain.revenue import Adjustment, ClaimPayment, Remittance, ServiceLine

D = Decimal
NOW = datetime(2026, 10, 3, 12, 0, tzinfo=timezone.utc)


def stored(carc: str, *, group: str = "CO", remarks: tuple[str, ...] = (),
           filing: str = "12", deadline: date | None = date(2027, 3, 30),
           filing_days: int | None = None, patient_name: str = "",
           balanced: bool = True) -> rules.StoredClaim:
    claim = ClaimPayment("C1", "4", D("200.00"), D("0.00"), None, filing_indicator=filing,
                         payer_claim_number="PCN1", patient_last="ZZYZXQUELL",
                         patient_first="QUINTESSA", member_id="ZQM4455667")
    line = ServiceLine("HC:99214", "99214", [], D("200.00"), D("0.00"),
                       service_date=date(2026, 9, 1))
    line.adjustments = [Adjustment(group, carc, D("150.00")), Adjustment(group, carc, D("50"))]
    line.remarks = list(remarks)
    claim.lines = [line]
    remit = Remittance("0001", "Acme Health", "PAYERX", "Test Practice", "1234567893", "T1",
                       "1PAYERX", "I", D("0.00"), "C", "ACH", date(2026, 10, 1))
    cls = classify(claim, medicare=filing == "MB")
    return rules.StoredClaim(41, 7, claim, remit, cls, 3, None, 1, "Acme Health",
                             filing == "MB", deadline if cls.appealable else None,
                             filing_days, balanced, 0, patient_name)


def spec_for(sc: rules.StoredClaim) -> rules.TaskSpec:
    return rules.denial_task(sc, rules.claim_facts(sc, "Test Practice", NOW.date()), NOW)


def test_appeal_asks_for_the_letter_under_a_documented_key() -> None:
    spec = spec_for(stored("50", remarks=("N115",)))
    assert spec.kind == "denial_review" and spec.natural_key == "denial:rc:41"
    assert spec.subject_type == "remit_claim" and spec.subject_id == 41
    assert spec.patient_id == 3
    assert "Reconsideration" in spec.draft and "CO-50" in spec.draft
    assert [e.label for e in spec.evidence] == [
        "Remittance (835) reason codes", "Appeal letter draft (PDF)",
        "Corrected-claim worksheet"]
    letter = spec.evidence[1]
    assert letter.letter and letter.blob is None and letter.mime == "application/pdf"
    assert spec.due_at == datetime(2027, 3, 30, 17, 0, tzinfo=timezone.utc)
    assert spec.priority == rules.PRIORITY_NORMAL  # months away
    assert spec.payload["codes"] == ["CO-50"] and spec.payload["appealable"] is True
    assert "Zzyzxquell" not in spec.title.title() and "C1" in spec.title


def test_not_appealable_confirms_the_write_off_and_renders_no_letter() -> None:
    spec = spec_for(stored("29", filing="MB"))
    assert spec.draft.startswith("NOT APPEALABLE (medicare_timely_filing)")
    assert not any(e.letter for e in spec.evidence)
    assert spec.payload["appeal_deadline"] is None


def test_eligibility_denial_is_a_void_worksheet_and_unbalanced_claims_say_so() -> None:
    spec = spec_for(stored("27", balanced=False))
    assert spec.payload["frequency_code"] == "8"
    worksheet = {e.label: e for e in spec.evidence}["Corrected-claim worksheet"]
    assert worksheet.blob == spec.draft.encode("utf-8")  # fix and resubmit: the worksheet
    assert spec.evidence[-1].label == "Balancing problem"


def test_due_falls_back_to_filing_then_thirty_days_and_soon_is_high() -> None:
    sc = stored("27", deadline=None, filing_days=90)
    facts = rules.claim_facts(sc, "P", NOW.date())
    due, filing = rules.due(sc, facts, NOW.date())
    assert filing == date(2026, 11, 30) and due.date() == filing
    sc = stored("27", deadline=None)
    due, filing = rules.due(sc, rules.claim_facts(sc, "P", NOW.date()), NOW.date())
    assert filing is None and due.date() == date(2026, 11, 2)
    assert spec_for(stored("50", deadline=date(2026, 10, 10))).priority == rules.PRIORITY_HIGH


def test_facts_name_the_vault_patient_and_total_each_reason_once() -> None:
    facts = rules.claim_facts(stored("50", patient_name="Quintessa Zzyzxquell"), "P", NOW.date())
    assert facts.patient_name == "Quintessa Zzyzxquell"
    assert facts.reasons == [("CO", "50", "200.00", facts.reasons[0][3])]
    assert facts.reasons[0][3].endswith("[line(s) 99214]")
    assert rules.claim_facts(stored("50"), "P", NOW.date()).patient_name == \
        "QUINTESSA ZZYZXQUELL"


def test_balance_task() -> None:
    spec = rules.balance_task(9, ["claim C1: lines 150.00 != paid 200.00"])
    assert spec.natural_key == "remit_balance:9" and spec.priority == rules.PRIORITY_HIGH
    assert spec.draft.endswith("- claim C1: lines 150.00 != paid 200.00")
    assert spec.payload == {"remittance_id": 9,
                            "issues": ["claim C1: lines 150.00 != paid 200.00"]}


def test_the_rules_import_no_vault_or_queue() -> None:
    code = ("import sys, app.denials.rules, app.denials.classify, app.denials.codes; "
            "print(sorted(m for m in sys.modules if m.startswith(('app.vault', 'app.queue', "
            "'app.services', 'sqlcipher3'))))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, cwd=Path(__file__).resolve().parents[2])
    assert out.stdout.strip() == "[]"
