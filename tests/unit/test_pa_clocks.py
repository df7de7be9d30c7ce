"""Decision clocks for every plan type, across weekends and daylight-saving changes."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from app.domain import PlanType
from app.domain.pa import Urgency
from app.pa import business
from app.pa.clocks import decision_clock

NY = ZoneInfo("America/New_York")
LA = ZoneInfo("America/Los_Angeles")
UTC = timezone.utc


def ny(*args: int) -> datetime:
    return datetime(*args, tzinfo=NY)  # type: ignore[misc]


@pytest.mark.parametrize("plan", [PlanType.MEDICARE_ADVANTAGE, PlanType.MEDICAID, PlanType.CHIP])
def test_cms_plans_72h_expedited_and_7_days_standard(plan: PlanType) -> None:
    sub = ny(2026, 3, 2, 10, 0)  # a Monday, before DST starts (EST)
    exp = decision_clock(plan, Urgency.EXPEDITED, sub, NY)
    assert exp.due_at == sub.astimezone(UTC) + timedelta(hours=72)
    assert (exp.amount, exp.unit) == (72, "hours")
    assert "CMS-0057-F" in exp.basis
    std = decision_clock(plan, "standard", sub, NY)
    assert std.due_at.astimezone(NY) == ny(2026, 3, 9, 10, 0)  # DST began 03-08: still 10:00
    assert std.due_at - sub == timedelta(days=7) - timedelta(hours=1)  # 167 elapsed hours
    assert (std.amount, std.unit) == (7, "calendar_days")


def test_cms_standard_before_2026_used_the_old_14_day_rule() -> None:
    clock = decision_clock(PlanType.MEDICARE_ADVANTAGE, Urgency.STANDARD,
                           ny(2025, 12, 31, 23, 30), NY)
    assert clock.due_at.astimezone(NY) == ny(2026, 1, 14, 23, 30)
    assert "pre-2026" in clock.basis
    # The effective date is read on the practice's wall clock: 00:30 local on Jan 1 is
    # already 2026, though it is Jan 1 05:30 UTC either way.
    assert decision_clock(PlanType.MEDICAID, "standard", ny(2026, 1, 1, 0, 30), NY
                          ).due_at.astimezone(NY) == ny(2026, 1, 8, 0, 30)


@pytest.mark.parametrize("plan, cite", [(PlanType.QHP, "45 CFR 147.136"),
                                        (PlanType.ERISA, "29 CFR 2560.503-1")])
def test_qhp_and_erisa_72h_urgent_15_days_pre_service(plan: PlanType, cite: str) -> None:
    sub = ny(2026, 6, 5, 16, 0)  # a Friday
    urgent = decision_clock(plan, "expedited", sub, NY)
    # Weekends do not pause the clock: Friday 16:00 + 72 h = Monday 16:00.
    assert urgent.due_at.astimezone(NY) == ny(2026, 6, 8, 16, 0)
    assert cite in urgent.basis
    pre = decision_clock(plan, "standard", sub, NY)
    assert pre.due_at.astimezone(NY) == ny(2026, 6, 20, 16, 0)  # a Saturday: still due then
    assert pre.due_at.astimezone(NY).weekday() == 5


def test_commercial_uses_payer_contract_or_documented_default() -> None:
    sub = ny(2026, 4, 1, 9, 0)
    set_by_payer = decision_clock(PlanType.COMMERCIAL, "standard", sub, NY,
                                  payer_days_standard=5, payer_hours_expedited=24)
    assert set_by_payer.due_at.astimezone(NY) == ny(2026, 4, 6, 9, 0)
    assert "payer contract" in set_by_payer.basis
    assert decision_clock(PlanType.COMMERCIAL, "expedited", sub, NY, payer_hours_expedited=24
                          ).due_at == sub.astimezone(UTC) + timedelta(hours=24)
    default = decision_clock(PlanType.COMMERCIAL, "standard", sub, NY)
    assert default.due_at.astimezone(NY) == ny(2026, 4, 16, 9, 0)
    assert "default" in default.basis


def test_medicare_ffs_is_treated_like_commercial_with_its_own_default() -> None:
    sub = ny(2026, 4, 1, 9, 0)
    assert decision_clock(PlanType.MEDICARE_FFS, "standard", sub, NY).due_at.astimezone(NY) \
        == ny(2026, 4, 15, 9, 0)
    assert decision_clock(PlanType.MEDICARE_FFS, "expedited", sub, NY).due_at \
        == sub.astimezone(UTC) + timedelta(hours=72)
    assert decision_clock(PlanType.MEDICARE_FFS, "standard", sub, NY, payer_days_standard=10
                          ).due_at.astimezone(NY) == ny(2026, 4, 11, 9, 0)


def test_a_stricter_contract_wins_over_the_regulation_but_a_looser_one_does_not() -> None:
    sub = ny(2026, 4, 1, 9, 0)
    assert decision_clock(PlanType.MEDICAID, "standard", sub, NY, payer_days_standard=3
                          ).due_at.astimezone(NY) == ny(2026, 4, 4, 9, 0)
    assert decision_clock(PlanType.MEDICAID, "standard", sub, NY, payer_days_standard=30
                          ).due_at.astimezone(NY) == ny(2026, 4, 8, 9, 0)


def test_72h_clock_across_the_2026_us_dst_end_shown_in_new_york() -> None:
    # Saturday 2026-10-31 10:00 EDT (UTC-4). Clocks fall back Sunday 11-01 02:00 -> 01:00.
    sub = ny(2026, 10, 31, 10, 0)
    assert sub.utcoffset() == timedelta(hours=-4)
    due = decision_clock(PlanType.MEDICARE_ADVANTAGE, "expedited", sub, NY).due_at
    assert due == datetime(2026, 11, 3, 14, 0, tzinfo=UTC)  # exactly 72 elapsed hours
    shown = due.astimezone(NY)
    assert (shown.month, shown.day, shown.hour) == (11, 3, 9)  # 09:00 EST, not 10:00
    assert shown.utcoffset() == timedelta(hours=-5)
    assert shown.strftime("%H:%M %Z") == "09:00 EST"


def test_7_day_clock_across_dst_end_keeps_the_wall_time() -> None:
    sub = ny(2026, 10, 30, 10, 0)  # Friday, EDT
    due = decision_clock(PlanType.CHIP, "standard", sub, NY).due_at
    assert due.astimezone(NY) == ny(2026, 11, 6, 10, 0)  # 10:00 EST
    assert due - sub == timedelta(days=7, hours=1)  # 169 elapsed hours


def test_clock_submitted_inside_the_repeated_hour() -> None:
    # 01:30 happens twice on 2026-11-01; fold=1 is the second (EST) one.
    first = datetime(2026, 11, 1, 1, 30, tzinfo=NY)
    second = datetime(2026, 11, 1, 1, 30, fold=1, tzinfo=NY)
    assert second.astimezone(UTC) - first.astimezone(UTC) == timedelta(hours=1)
    d1 = decision_clock(PlanType.QHP, "expedited", first, NY).due_at
    d2 = decision_clock(PlanType.QHP, "expedited", second, NY).due_at
    assert d2 - d1 == timedelta(hours=1)


def test_clock_in_another_practice_zone_and_utc_storage() -> None:
    sub = datetime(2026, 3, 6, 18, 0, tzinfo=UTC)  # 10:00 PST Friday
    due = decision_clock(PlanType.ERISA, "standard", sub, LA).due_at
    assert due.tzinfo == UTC
    assert due.astimezone(LA) == datetime(2026, 3, 21, 10, 0, tzinfo=LA)  # PDT by then
    assert due == datetime(2026, 3, 21, 17, 0, tzinfo=UTC)


def test_naive_times_are_refused() -> None:
    with pytest.raises(ValueError, match="aware"):
        decision_clock(PlanType.QHP, "standard", datetime(2026, 1, 5, 9, 0), NY)


def test_business_days_skip_weekends_and_closed_days() -> None:
    fri = date(2026, 11, 20)
    assert business.business_days_between(fri, date(2026, 11, 23)) == 1  # Monday
    assert business.business_days_between(fri, date(2026, 11, 22)) == 0  # Sunday
    assert business.business_days_between(fri, date(2026, 12, 4)) == 10
    thanksgiving = date(2026, 11, 26)
    assert business.business_days_between(fri, date(2026, 11, 27), {thanksgiving}) == 4
    assert business.add_business_days(fri, 3) == date(2026, 11, 25)
    assert business.add_business_days(fri, 4, {thanksgiving}) == date(2026, 11, 27)
    assert business.add_business_days(date(2026, 11, 21), 0) == date(2026, 11, 23)
    for start in (date(2026, 1, 1) + timedelta(days=i) for i in range(14)):
        for span in range(0, 30):
            end = start + timedelta(days=span)
            slow = sum(1 for k in range(1, span + 1)
                       if (start + timedelta(days=k)).weekday() < 5)
            assert business.business_days_between(start, end) == slow


def test_next_business_moment_uses_local_hours_and_dst() -> None:
    # Friday 18:30 EDT -> Monday 08:00 local, which is EST after the fall-back weekend.
    fri_evening = ny(2026, 10, 30, 18, 30).astimezone(UTC)
    nxt = business.next_business_moment(fri_evening, NY, 8, 18)
    assert nxt.astimezone(NY) == ny(2026, 11, 2, 8, 0)
    assert nxt == datetime(2026, 11, 2, 13, 0, tzinfo=UTC)
    inside = ny(2026, 11, 3, 9, 15).astimezone(UTC)
    assert business.next_business_moment(inside, NY, 8, 18) == inside
    early = ny(2026, 11, 3, 6, 0).astimezone(UTC)
    assert business.next_business_moment(early, NY, 8, 18).astimezone(NY) == ny(2026, 11, 3, 8)
    with pytest.raises(Exception, match="business hours"):
        business.next_business_moment(inside, NY, 18, 8)


def test_unknown_zone_is_a_clear_error() -> None:
    with pytest.raises(Exception, match="unknown time zone"):
        business.zone("America/Nowhere")
