"""Eligibility: 271 parsing (coverage, plan, benefits by service type, AAA rejections),
import (idempotent, matched to the patient), estimates, gap checks before visits, and
270 requests through the clearinghouse interface."""

from __future__ import annotations

import os
import stat
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from app import clock, queue
from app.errors import ValidationError
from app.services import eligibility as svc
from app.services.practice import set_setting
from app.x12.errors import X12Error
from app.x12.tokenizer import tokenize
from app.x12.x271 import parse_270, parse_271
from automations.workflows import eligibility

X12 = Path(__file__).resolve().parents[3] / "shared" / "corpus" / "x12"  # ../shared/corpus
NOW = datetime(2026, 11, 2, 8, 0, tzinfo=timezone.utc)


def make_271(ebs: list[str], *, member: str = "ZQM4455667", last: str = "ZZYZXQUELL",
             first: str = "QUINTESSA", trace: str = "TR1",
             extra: tuple[str, ...] | list[str] = ()) -> bytes:
    body = ["ST*271*0001*005010X279A1", "BHT*0022*11*X1*20261101*1200", "HL*1**20*1",
            "NM1*PR*2*ACME HEALTH*****PI*ACME", "HL*2*1*21*1",
            "NM1*1P*2*MAPLE STREET*****XX*1234567893", "HL*3*2*22*0", f"TRN*2*{trace}*9999",
            f"NM1*IL*1*{last}*{first}****MI*{member}", *extra, "DMG*D8*19750412*F", *ebs]
    body.append(f"SE*{len(body) + 1}*0001")
    seg = ["ISA*00*          *00*          *ZZ*ACME           *ZZ*MAPLE          *261101*"
           "1200*^*00501*000000001*0*T*:", "GS*HB*ACME*MAPLE*20261101*1200*1*X*005010X279A1",
           *body, "GE*1*1", "IEA*1*000000001"]
    return ("~\n".join(seg) + "~\n").encode()


PPO = ["EB*1*IND*30**GOLD PPO", "EB*C*IND*30***29*350.00*****Y",
       "EB*C*IND*30***23*1000.00*****Y", "EB*A*IND*30*****.2****Y",
       "EB*G*IND*30***29*2000.00*****Y"]


def test_parse_active_plan_and_copays() -> None:
    resp = parse_271((X12 / "271/lfh__subscriber-health-benefit-check.271").read_bytes())[0]
    assert resp.active is True and resp.plan_name == "GOLD 123 PLAN"
    assert resp.payer_name == "ABC COMPANY" and resp.subscriber.member_id == "123456789"
    assert resp.subscriber.dob == date(1963, 5, 19)
    copays = [b for b in resp.benefits if b.info == "B"]
    assert [(b.amount, b.in_network, b.time_period) for b in copays] == \
        [(Decimal("10.00"), "Y", "27"), (Decimal("30.00"), "N", "27")]
    assert copays[0].service_types[:3] == ["1", "33", "35"]  # EB03 repeats split on ISA11


def test_parse_dependent() -> None:
    resp = parse_271((X12 / "271/lfh__dependent-health-benefit-check.271").read_bytes())
    assert len(resp) == 1 and resp[0].dependent is not None
    assert resp[0].patient is resp[0].dependent and resp[0].active is True


def test_aaa_rejection_is_readable() -> None:
    rel = "271/stupidedi__error-response-from-payer-to-clinic-not-eligible-for-inquiries-with-payer.edi"
    resp = parse_271((X12 / rel).read_bytes())[0]
    assert resp.active is None and resp.benefits == []
    rej = resp.rejections[0]
    assert rej.reason_code == "50" and "Provider Ineligible" in rej.reason.title()
    assert rej.follow_up  # AAA04 follow-up action, in words


def test_inactive_and_remaining_amounts() -> None:
    resp = parse_271(make_271(["EB*6*IND*30"]))[0]
    assert resp.active is False
    resp = parse_271(make_271(PPO))[0]
    ded = [b for b in resp.benefits if b.info == "C"]
    assert [(b.time_period, b.amount) for b in ded] == [("29", Decimal("350.00")),
                                                        ("23", Decimal("1000.00"))]
    assert [b.percent for b in resp.benefits if b.info == "A"] == [Decimal(".2")]


def test_import_matches_patient_and_is_idempotent(practice: Any) -> None:
    data = make_271(PPO)
    first = eligibility.import_271_file(practice, data)
    assert first.stored == 1 and first.matched_patients == 1
    again = eligibility.import_271_file(practice, data)
    assert again.stored == 0 and again.duplicates == 1
    assert practice.vault.query_one("SELECT count(*) FROM eligibility_responses")[0] == 1
    pid = practice.vault.query_one("SELECT id FROM patients")[0]
    latest = svc.latest_for_patient(practice, pid)
    assert latest is not None and latest.active is True and latest.plan_name == "GOLD PPO"
    assert len(latest.benefits) == 5


def _patient(practice: Any) -> int:
    return int(practice.vault.query_one("SELECT id FROM patients")[0])


def test_estimate_copay(practice: Any) -> None:
    eligibility.import_271_file(practice, make_271(["EB*1*IND*30**SILVER HMO",
                                                    "EB*B*IND*98***27*25.00****Y"]))
    est = svc.estimate_for_visit(practice, _patient(practice), "office_visit")
    assert est.amount == Decimal("25.00") and est.basis == "copay"
    assert est.label == "estimate" and "not a bill" in est.text()


def test_estimate_deductible_plus_coinsurance(practice: Any) -> None:
    eligibility.import_271_file(practice, make_271(PPO))
    svc.set_expected_allowed(practice, "office_visit", "500.00", "98")
    est = svc.estimate_for_visit(practice, _patient(practice), "office_visit")
    # 350 toward the deductible + 20% of the remaining 150 = 380
    assert est.amount == Decimal("380.00")
    assert est.inputs["deductible remaining"] == "$350.00"
    assert est.inputs["coinsurance"] == "20%"
    assert est.inputs["expected allowed amount"] == "$500.00"


def test_estimate_capped_by_out_of_pocket(practice: Any) -> None:
    eligibility.import_271_file(practice, make_271(
        ["EB*1*IND*30**GOLD PPO", "EB*C*IND*30***29*350.00", "EB*A*IND*30*****.2",
         "EB*G*IND*30***29*100.00"]))
    est = svc.estimate_for_visit(practice, _patient(practice), "new_patient")
    assert est.amount == Decimal("100.00") and "capped" in est.basis


def test_estimate_without_eligibility_says_so(practice: Any) -> None:
    est = svc.estimate_for_visit(practice, _patient(practice), "office_visit")
    assert est.amount is None and "no eligibility" in est.basis
    with pytest.raises(ValidationError):
        svc.estimate_for_visit(practice, _patient(practice), "space_walk")


def _appointment(practice: Any, hours: int = 20, visit_type: str = "office_visit") -> int:
    with practice.vault.write() as conn:
        cur = conn.execute("INSERT INTO appointments (patient_id, start_at, visit_type, "
                           "created_at) VALUES (?,?,?,?)",
                           (_patient(practice), clock.iso(NOW + timedelta(hours=hours)),
                            visit_type, clock.iso(NOW)))
        return int(cur.lastrowid)


@pytest.mark.parametrize("ebs, extra, expected", [
    (None, [], ["missing"]),
    (["EB*6*IND*30"], [], ["inactive"]),
    (["EB*1*IND*30**GOLD PPO"], [], []),
    (["EB*1*IND*30**PLATINUM PPO"], ["REF*6P*G999"], ["plan_change"]),
    (PPO, [], ["deductible"]),
])
def test_gaps_before_visits(practice: Any, ebs: list[str] | None, extra: list[str],
                            expected: list[str]) -> None:
    clock.set_clock(lambda: NOW)
    with practice.vault.write() as conn:
        conn.execute("UPDATE coverages SET plan_name = 'GOLD PPO'")
    if ebs is not None:
        eligibility.import_271_file(practice, make_271(ebs, extra=extra))
    appt = _appointment(practice)
    _appointment(practice, hours=72)  # outside the window: not checked
    ids = eligibility.check_upcoming_visits(practice, days_ahead=1)
    if not expected:
        assert ids == []
        return
    assert len(ids) == 1
    task = queue.get_task(practice, ids[0])
    assert task.kind == "eligibility_gap" and task.payload["gaps"] == expected
    assert task.payload["appointment_id"] == appt and "ESTIMATE" in task.draft
    assert eligibility.check_upcoming_visits(practice, days_ahead=1) == ids  # idempotent


def test_stale_and_rejected_responses_are_gaps(practice: Any) -> None:
    clock.set_clock(lambda: NOW - timedelta(days=45))
    eligibility.import_271_file(practice, make_271(["EB*1*IND*30**GOLD PPO"]))
    clock.set_clock(lambda: NOW)
    eligibility.import_271_file(practice, make_271([], trace="TR2",
                                                   extra=["AAA*N**72*C"]))
    _appointment(practice)
    task = queue.get_task(practice, eligibility.check_upcoming_visits(practice)[0])
    assert task.payload["gaps"][0] == "rejected" and "72" in task.draft
    assert task.priority == queue.PRIORITY_HIGH


def test_270_for_a_patient_round_trips(practice: Any, tmp_path: Path) -> None:
    pid = _patient(practice)
    with pytest.raises(ValidationError, match="NPI"):
        svc.build_270_for(practice, pid, date(2026, 11, 3))
    set_setting(practice, "practice_npi", "1234567893")
    data, trace = svc.build_270_for(practice, pid, date(2026, 11, 3))
    req = parse_270(data)[0]  # strict: envelope counts and control numbers are right
    assert (req.subscriber.last, req.subscriber.first, req.subscriber.member_id) == \
        ("ZZYZXQUELL", "QUINTESSA", "ZQM4455667")
    assert req.service_date == date(2026, 11, 3) and req.service_types == ["30"]
    assert req.provider_npi == "1234567893" and req.trace_number == trace
    assert req.payer_name == "ACME HEALTH"
    assert tokenize(data).separators.repetition == "^"
    from pyx12.x12file import X12Reader  # pyx12 reads it too (it has no 270 map to validate)
    import io
    assert sum(1 for _ in X12Reader(io.StringIO(data.decode()))) == len(tokenize(data).segments)
    out = tmp_path / "outbox"
    out.mkdir()
    trace, where = svc.request_eligibility(practice, pid, date(2026, 11, 3),
                                           svc.FileDropClearinghouse(out))
    path = Path(where)
    assert path.parent == out and path.read_bytes().startswith(b"ISA*")
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert practice.vault.query_one("SELECT count(*) FROM audit_log WHERE action = "
                                    "'eligibility.request'")[0] == 1


def test_271_rejects_bad_input_with_position() -> None:
    data = make_271(PPO).replace(b"DMG*D8*19750412", b"DMG*D8*19751312")
    with pytest.raises(X12Error, match="DMG02") as info:
        parse_271(data)
    assert info.value.segment_id == "DMG"
    data = make_271(PPO).replace(b"HL*3*2*22*0", b"HL*3*2*99*0")
    with pytest.raises(X12Error, match="HL03"):
        parse_271(data)
    with pytest.raises(X12Error, match="EB01 'ZZ'"):
        parse_271(make_271(["EB*ZZ*IND*30"]))


def test_readable_benefits(practice: Any) -> None:
    eligibility.import_271_file(practice, make_271(PPO))
    shown = svc.show_eligibility(practice, _patient(practice))
    lines = shown["lines"]
    assert lines[0].startswith("Active Coverage")
    assert any("Deductible" in ln and "$350.00" in ln and "Remaining" in ln for ln in lines)
    assert any("Co-Insurance" in ln.title() or "Coinsurance" in ln for ln in lines)
    assert practice.vault.query_one("SELECT count(*) FROM audit_log WHERE action = "
                                    "'eligibility.view'")[0] == 1


def test_unknown_visit_type_still_gets_its_gap_task(practice: Any) -> None:
    clock.set_clock(lambda: NOW)
    _appointment(practice, visit_type="space_walk")
    task = queue.get_task(practice, eligibility.check_upcoming_visits(practice)[0])
    assert task.payload["gaps"] == ["missing"] and "No estimate" in task.draft
