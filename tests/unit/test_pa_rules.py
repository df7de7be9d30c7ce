"""Check cadence, payer-wording normalization and the task rules (pure logic)."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from app.domain import PlanType
from app.domain.pa import PAStatus, PriorAuth, Urgency
from app.pa import cadence, rules, wording

NY = ZoneInfo("America/New_York")
UTC = timezone.utc


def ny(*args: int) -> datetime:
    return datetime(*args, tzinfo=NY).astimezone(UTC)  # type: ignore[misc]


def make_pa(**kw: object) -> PriorAuth:
    base: dict[str, object] = dict(
        id=7, patient_id=3, payer_id=2, plan_type=PlanType.COMMERCIAL, cpt_code="97110",
        units=12, service_date=date(2026, 12, 1), urgency=Urgency.STANDARD,
        submitted_at=ny(2026, 11, 16, 9, 0), payer_ref="NW-1001", status=PAStatus.PENDING,
        status_changed_at=ny(2026, 11, 16, 9, 0), decision_due_at=ny(2026, 12, 1, 9, 0),
        clock_basis="commercial: payer contract (15 days)")
    base.update(kw)
    return PriorAuth(**base)  # type: ignore[arg-type]


# -- cadence ------------------------------------------------------------------------------

def test_cadence_tightens_near_the_deadline_or_service_date() -> None:
    now = ny(2026, 11, 24, 10, 0)  # Tuesday
    args = dict(status=PAStatus.PENDING, tz=NY, start_hour=8, end_hour=18)
    far = cadence.next_check_at(now=now, decision_due_at=now + timedelta(days=20),
                                service_date=date(2026, 12, 30), **args)  # type: ignore[arg-type]
    week = cadence.next_check_at(now=now, decision_due_at=now + timedelta(days=5),
                                 service_date=date(2026, 12, 30), **args)  # type: ignore[arg-type]
    close = cadence.next_check_at(now=now, decision_due_at=now + timedelta(hours=50),
                                  service_date=date(2026, 12, 30), **args)  # type: ignore[arg-type]
    overdue = cadence.next_check_at(now=now, decision_due_at=now - timedelta(hours=5),
                                    service_date=date(2026, 12, 30), **args)  # type: ignore[arg-type]
    by_service = cadence.next_check_at(now=now, decision_due_at=now + timedelta(days=20),
                                       service_date=date(2026, 11, 25), **args)  # type: ignore[arg-type]
    assert far == now + timedelta(hours=24)
    assert week == now + timedelta(hours=4)
    assert close == now + timedelta(hours=2)
    assert overdue == now + timedelta(hours=1)
    assert by_service == now + timedelta(hours=1)  # service tomorrow 08:00: within a day


def test_cadence_only_in_business_hours_and_never_when_decided() -> None:
    late = ny(2026, 11, 27, 17, 30)  # Friday 17:30 local
    nxt = cadence.next_check_at(now=late, status=PAStatus.PENDING,
                                decision_due_at=late + timedelta(hours=10),
                                service_date=date(2026, 12, 30), tz=NY, start_hour=8,
                                end_hour=18)
    assert nxt is not None and nxt.astimezone(NY) == datetime(2026, 11, 30, 8, 0, tzinfo=NY)
    for status in (PAStatus.APPROVED, PAStatus.DENIED, PAStatus.CANCELLED, PAStatus.PARTIAL):
        assert cadence.next_check_at(now=late, status=status, decision_due_at=late,
                                     service_date=date(2026, 12, 30), tz=NY, start_hour=8,
                                     end_hour=18) is None


def test_fast_cadence_ignores_business_hours() -> None:
    night = ny(2026, 11, 28, 3, 0)  # Saturday night
    nxt = cadence.next_check_at(now=night, status=PAStatus.PENDING, decision_due_at=night,
                                service_date=date(2026, 12, 30), tz=NY, start_hour=8,
                                end_hour=18, cadence=cadence.Cadence.fast(2))
    assert nxt == night + timedelta(seconds=2)


# -- wording ------------------------------------------------------------------------------

@pytest.mark.parametrize("text, status", [
    ("Pended for clinical review", PAStatus.PENDING),
    ("In Review", PAStatus.PENDING),
    ("Approved – 12 units through 03/31", PAStatus.APPROVED),
    ("Partially approved: 6 units through 01/15", PAStatus.PARTIAL),
    ("Denied – not medically necessary", PAStatus.DENIED),
    ("Not approved", PAStatus.DENIED),
    ("Additional information requested - submit records by 12/04", PAStatus.INFO_REQUESTED),
    ("Peer-to-peer requested", PAStatus.INFO_REQUESTED),
    ("Withdrawn by provider", PAStatus.CANCELLED),
    ("No record found", PAStatus.NOT_FOUND),
])
def test_wording_normalizes(text: str, status: PAStatus) -> None:
    assert wording.normalize(text) is status


def test_wording_reads_units_and_dates() -> None:
    r = wording.read("Approved – 12 units through 03/31", date(2026, 11, 24))
    assert (r.status, r.units, r.through_date) == (PAStatus.APPROVED, 12, date(2027, 3, 31))
    r = wording.read("Approved 4 visits from 11/30/2026 thru 12/15/2026", date(2026, 11, 24))
    assert (r.units, r.from_date, r.through_date) == (4, date(2026, 11, 30), date(2026, 12, 15))
    r = wording.read("Additional info requested; respond within 5 business days",
                     date(2026, 11, 24))
    assert r.respond_within_days == 5 and r.units is None
    with pytest.raises(wording.UnknownWording):
        wording.normalize("Lorem ipsum")
    with pytest.raises(wording.UnknownWording, match="invalid"):
        wording.read("Approved 3 units through 02/30/2027", date(2026, 11, 24))
    assert wording.from_source("pended") is PAStatus.PENDING
    assert wording.from_source("additional_info_requested") is PAStatus.INFO_REQUESTED
    assert wording.from_source("partially_approved") is PAStatus.PARTIAL
    with pytest.raises(wording.UnknownWording):
        wording.from_source("teleported")


# -- rules --------------------------------------------------------------------------------

def test_status_change_makes_a_followup_with_evidence_and_a_stable_key() -> None:
    pa = make_pa(status=PAStatus.PENDING)
    obs = rules.Observation(PAStatus.PENDING, "Pended for clinical review",
                            ny(2026, 11, 24, 23, 30))  # 23:30 local is 04:30 UTC next day
    specs = rules.on_status_change(pa, obs, NY, appeal_window_days=180)
    assert [s.kind for s in specs] == ["pa_followup"]
    assert specs[0].natural_key == "pa:7:status:pending:2026-11-24"  # the local date
    assert specs[0].with_evidence
    assert "Pended for clinical review" in specs[0].draft
    again = rules.on_status_change(pa, obs, NY, appeal_window_days=180)
    assert again == specs


def test_denial_makes_a_next_action_with_wording_and_appeal_deadline() -> None:
    pa = make_pa(status=PAStatus.DENIED)
    obs = rules.Observation(PAStatus.DENIED, "Denied – not medically necessary",
                            ny(2026, 11, 24, 10, 0))
    specs = rules.on_status_change(pa, obs, NY, appeal_window_days=65)
    nxt = [s for s in specs if s.kind == "pa_next_action"]
    assert len(nxt) == 1
    assert nxt[0].payload["actions"] == ["peer_to_peer", "appeal"]
    assert nxt[0].payload["deadline"] == "2027-01-28"  # 65 days after 2026-11-24
    assert "Denied – not medically necessary" in nxt[0].draft
    assert nxt[0].natural_key == "pa:7:next:denied:2026-11-24"


def test_info_request_uses_the_payers_deadline_when_stated() -> None:
    pa = make_pa(status=PAStatus.INFO_REQUESTED)
    obs = rules.Observation(PAStatus.INFO_REQUESTED, "Additional information requested",
                            ny(2026, 11, 24, 10, 0), respond_by=date(2026, 12, 4))
    nxt = [s for s in rules.on_status_change(pa, obs, NY, appeal_window_days=None)
           if s.kind == "pa_next_action"][0]
    assert nxt.payload == {"pa_id": 7, "actions": ["send_records"], "deadline": "2026-12-04",
                           "payer_wording": "Additional information requested"}
    obs2 = rules.Observation(PAStatus.INFO_REQUESTED, "Peer-to-peer requested",
                             ny(2026, 11, 24, 10, 0), respond_within_days=3)
    nxt2 = [s for s in rules.on_status_change(pa, obs2, NY, appeal_window_days=None)
            if s.kind == "pa_next_action"][0]
    assert nxt2.payload["actions"] == ["peer_to_peer"]
    assert nxt2.payload["deadline"] == "2026-11-27"


def test_stall_counts_business_days_since_the_last_change() -> None:
    pa = make_pa(status_changed_at=ny(2026, 11, 20, 15, 0))  # Friday
    kw = dict(stall_business_days=3, service_soon_days=7)
    assert rules.time_checks(pa, ny(2026, 11, 24, 9, 0), NY, **kw) == []  # Tue: 2 days
    specs = rules.time_checks(pa, ny(2026, 11, 25, 9, 0), NY, **kw)  # Wed: 3 business days
    assert [(s.kind, s.natural_key) for s in specs] == [
        ("pa_escalation", "pa:7:stall:2026-11-20")]
    later = rules.time_checks(pa, ny(2026, 11, 26, 9, 0), NY, **kw)
    assert [s.natural_key for s in later] == ["pa:7:stall:2026-11-20"]  # same key, no dupes


def test_deadline_passed_without_decision_escalates_to_the_office_manager() -> None:
    pa = make_pa(decision_due_at=ny(2026, 11, 23, 9, 0), status_changed_at=ny(2026, 11, 23, 8))
    specs = rules.time_checks(pa, ny(2026, 11, 23, 9, 1), NY, stall_business_days=3,
                              service_soon_days=7)
    assert [(s.kind, s.natural_key) for s in specs] == [
        ("pa_escalation", "pa:7:overdue:2026-11-23")]
    decided = make_pa(status=PAStatus.DENIED, decision_due_at=ny(2026, 11, 23, 9, 0))
    assert rules.time_checks(decided, ny(2026, 11, 24, 9), NY, stall_business_days=3,
                             service_soon_days=7) == []


def test_approval_with_too_few_units_near_service_date_and_expiry_before_service() -> None:
    pa = make_pa(status=PAStatus.PARTIAL, approved_units=6, units=12,
                 service_date=date(2026, 11, 30), approved_through=date(2026, 11, 28),
                 expires_on=date(2026, 11, 28))
    far = rules.time_checks(pa, ny(2026, 11, 10, 9), NY, stall_business_days=3,
                            service_soon_days=7)
    assert [s.natural_key for s in far] == ["pa:7:expiry:2026-11-28"]
    near = rules.time_checks(pa, ny(2026, 11, 24, 9), NY, stall_business_days=3,
                             service_soon_days=7)
    assert sorted(s.natural_key for s in near) == ["pa:7:expiry:2026-11-28",
                                                   "pa:7:units_short:6"]
    assert all(s.kind == "pa_next_action" for s in near)
    fine = make_pa(status=PAStatus.APPROVED, approved_units=12, units=12,
                   service_date=date(2026, 11, 30), expires_on=date(2026, 12, 31))
    assert rules.time_checks(fine, ny(2026, 11, 24, 9), NY, stall_business_days=3,
                             service_soon_days=7) == []


def test_rule_text_carries_no_patient_identifiers() -> None:
    pa = make_pa(status=PAStatus.DENIED)
    obs = rules.Observation(PAStatus.DENIED, "Denied", ny(2026, 11, 24, 10))
    for spec in rules.on_status_change(pa, obs, NY, appeal_window_days=30):
        assert "patient" not in spec.title.lower()
        assert set(spec.payload) <= {"pa_id", "status", "event", "actions", "deadline",
                                     "payer_wording"}
