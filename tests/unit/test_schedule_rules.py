"""No-show, late-cancellation and waitlist rules on their edge times (pure: no vault)."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

from app.schedule import rules
from app.schedule.rules import Visit, WaitlistEntry

TZ = ZoneInfo("America/Chicago")
NOW = datetime(2026, 12, 1, 18, 0, tzinfo=timezone.utc)  # noon in Chicago
GRACE = timedelta(minutes=60)


def visit(vid: int, start: datetime, status: str = "scheduled", patient: int = 1,
          provider: str = "Dr. Chen", visit_type: str = "office_visit") -> Visit:
    return Visit(vid, patient, start, provider, visit_type, status)


def missed(visits: list[Visit], history: list[Visit] | None = None,
           cancel_seen: dict[int, datetime] | None = None) -> list[rules.Missed]:
    return rules.find_missed(visits, history or visits, NOW, grace=GRACE, late_hours=24,
                             repeat_count=2, window_days=180, cancel_seen=cancel_seen or {})


def test_never_arrived_counts_only_once_the_grace_has_passed() -> None:
    assert [m.visit.id for m in missed([visit(1, NOW - GRACE)])] == [1]
    assert missed([visit(2, NOW - GRACE + timedelta(seconds=1))]) == []
    assert [m.event for m in missed([visit(3, NOW - timedelta(minutes=5), "no_show")])] == [
        "no_show"]  # marked by the front desk: no grace needed
    assert missed([visit(4, NOW - timedelta(days=1), "completed")]) == []
    only_marked = rules.find_missed([visit(5, NOW - timedelta(days=1))], [], NOW, grace=None,
                                    late_hours=24, repeat_count=2, window_days=180,
                                    cancel_seen={})
    assert only_marked == []


def test_late_cancellation_is_judged_from_when_it_was_first_seen() -> None:
    start = NOW + timedelta(hours=30)
    v = visit(1, start, "cancelled")
    assert missed([v], cancel_seen={1: start - timedelta(hours=24)})[0].event == "late_cancel"
    assert missed([v], cancel_seen={1: start - timedelta(hours=24, seconds=1)}) == []
    assert missed([v]) == []  # never observed: nothing to judge it by


def test_repeat_no_show_counts_the_window_inclusively() -> None:
    this = visit(10, NOW - timedelta(days=1), "no_show")
    edge = visit(11, this.start_at - timedelta(days=180), "no_show")
    outside = visit(12, this.start_at - timedelta(days=180, seconds=1), "no_show")
    other_patient = visit(13, this.start_at - timedelta(days=3), "no_show", patient=2)
    found = missed([this], [this, edge, outside, other_patient])[0]
    assert found.repeat and [p.id for p in found.prior_no_shows] == [11]
    alone = missed([this], [this, outside, other_patient])[0]
    assert not alone.repeat and alone.prior_no_shows == ()


def entry(eid: int, patient: int, *, earliest: date = date(2026, 12, 1),
          latest: date = date(2026, 12, 31), waited_days: int = 10, provider: str = "",
          visit_type: str = "", days: tuple[str, ...] = (), times: tuple[str, ...] = ()
          ) -> WaitlistEntry:
    return WaitlistEntry(eid, patient, earliest, latest, NOW - timedelta(days=waited_days),
                         provider, visit_type, days, times)


# Thursday Dec 3, 09:00 Chicago = 15:00 UTC
SLOT = visit(99, datetime(2026, 12, 3, 15, 0, tzinfo=timezone.utc), "cancelled", patient=50)


def test_ranking_gives_the_reason_for_each_rank() -> None:
    ranked = rules.rank_candidates(SLOT, [
        entry(1, 11, waited_days=30),
        entry(2, 12, provider="Dr. Chen", days=("thu",), times=("morning",), waited_days=2),
        entry(3, 13, times=("morning",), waited_days=5),
        entry(4, 14, times=("morning",), waited_days=8),
    ], TZ, NOW)
    assert [(r.entry.id, r.rank, r.score) for r in ranked] == [
        (2, 1, 7), (4, 2, 2), (3, 3, 2), (1, 4, 0)]
    first = ranked[0].reasons
    assert "same provider (Dr. Chen)" in first and "preferred day (thu)" in first
    assert "preferred time (morning)" in first and first[0].startswith("fits the window")
    assert ranked[1].reasons[-1] == "waiting 8 days, the longest among equals"
    assert ranked[2].reasons[-1] == "waiting 5 days"


def test_candidates_must_fit_the_window_in_local_dates_and_their_asks() -> None:
    late = visit(98, datetime(2026, 12, 4, 4, 30, tzinfo=timezone.utc), "cancelled",
                 patient=50)  # Thu Dec 3 22:30 in Chicago, already Dec 4 in UTC
    ranked = rules.rank_candidates(late, [
        entry(1, 11, latest=date(2026, 12, 3)),             # last day of the window: fits
        entry(2, 12, earliest=date(2026, 12, 4)),           # starts the next local day
        entry(3, 13, provider="Dr. Rivera"),                # another provider asked for
        entry(4, 14, visit_type="new_patient"),             # another visit type
        entry(5, 50),                                       # the patient who cancelled
        entry(6, 16),                                       # booked elsewhere at that time
    ], TZ, NOW, busy_patients=[16])
    assert [r.entry.id for r in ranked] == [1]
    assert "preferred time" not in " ".join(ranked[0].reasons)
    assert rules.time_of_day(late.start_at.astimezone(TZ).hour) == "evening"


def test_an_expired_offer_moves_to_the_next_candidate() -> None:
    ranked = rules.rank_candidates(SLOT, [entry(1, 11, waited_days=9), entry(2, 12, waited_days=3)], TZ, NOW)
    assert rules.next_candidate(ranked, []).entry.id == 1  # type: ignore[union-attr]
    hold_until = NOW + timedelta(hours=4)
    assert not rules.offer_expired(hold_until, hold_until - timedelta(seconds=1))
    assert rules.offer_expired(hold_until, hold_until)
    assert rules.next_candidate(ranked, [1]).entry.id == 2  # type: ignore[union-attr]
    assert rules.next_candidate(ranked, [1, 2]) is None


def test_a_slot_is_offered_only_while_it_can_still_be_filled() -> None:
    lead = timedelta(hours=2)
    soon = visit(1, NOW + lead, "cancelled")
    assert rules.slot_still_open(soon, NOW, lead, [])
    assert not rules.slot_still_open(soon, NOW + timedelta(seconds=1), lead, [])
    assert not rules.slot_still_open(soon, NOW, lead, [("Dr. Chen", soon.start_at)])
