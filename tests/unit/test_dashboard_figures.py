"""Dashboard figures (issue 14): a chosen period against the one before it, each figure
with the tasks, PAs or remitted claims behind it (no Qt here)."""

from __future__ import annotations

from datetime import date, datetime, timezone
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from app import clock
from app.reports import dashboard as dash
from app.reports.metrics import (
    CycleStats,
    EligibilityMetrics,
    HoursSaved,
    PriorAuthMetrics,
    QueueMetrics,
    RevenueMetrics,
)
from app.services import reports
from app.x12.synth import SynthClaim, SynthLine, build_835
from automations.workflows import denials

NY = ZoneInfo("America/New_York")
NOW = datetime(2026, 10, 3, 12, 0, tzinfo=timezone.utc)
D = Decimal


def test_periods_are_local_days_against_the_days_before() -> None:
    cur, prev = dash.periods("7d", NY, NOW)
    assert cur.start == datetime(2026, 9, 27, 4, 0, tzinfo=timezone.utc)  # EDT midnight
    assert cur.end == datetime(2026, 10, 4, 4, 0, tzinfo=timezone.utc)
    assert prev.end == cur.start and (prev.end - prev.start) == (cur.end - cur.start)
    month, before = dash.periods("this_month", NY, NOW)
    assert month.label == "October 2026" and before.label == "September 2026"
    last, before_last = dash.periods("last_month", NY, NOW)
    assert last.label == "September 2026" and before_last.label == "August 2026"
    with pytest.raises(ValueError):
        dash.periods("fortnight", NY, NOW)


def _metrics(denied: int, adjudicated: int, done: dict[str, list[int]],
             median: float | None) -> Any:
    pa = PriorAuthMetrics(True, decisions=2, decided_ids=[7, 8],
                          overall=CycleStats(2, median, median, 1.0) if median else None)
    rev = RevenueMetrics(True, adjudicated=adjudicated, denied=denied,
                         denial_rate=denied / adjudicated, denied_dollars=D("250.00"),
                         dollars_by_category={"coding": D("250.00")},
                         denial_ids={"coding": list(range(100, 100 + denied))})
    q = QueueMetrics(True, done_by_kind={k: len(v) for k, v in done.items()}, done_ids=done,
                     overdue=1, overdue_ids=[42])
    return (pa, rev, EligibilityMetrics(False, "no visits scheduled in this period"), q,
            HoursSaved(True, hours=3.5))


def test_figures_compare_and_say_what_is_behind_them() -> None:
    cur, prev = dash.periods("30d", NY, NOW)
    figures = dash.build(cur, prev, _metrics(2, 10, {"denial_review": [1, 2, 3]}, 4.0),
                         _metrics(1, 10, {"denial_review": [9]}, 6.0))
    by = {f.key: f for f in figures.figures}
    rate = by["denial_rate"]
    assert rate.text() == "20%" and rate.change() == "▲ 10 pts vs 10%"
    assert rate.direction == "bad"  # more denials
    assert rate.behind == dash.Behind("remit_claim", (100, 101))
    cycle = by["pa_cycle"]
    assert cycle.text() == "4.0 d" and cycle.direction == "good"
    assert cycle.behind == dash.Behind("pa", (7, 8))
    assert by["tasks_done"].value == 3 and by["tasks_done"].behind == dash.Behind(
        "task", (1, 2, 3))
    assert by["overdue"].behind == dash.Behind("task", (42,))
    elig = by["eligibility"]
    assert elig.value is None and elig.text() == "–" and "no visits" in elig.note
    chart = figures.charts[1]
    assert chart.categories == ["denial_review"] and chart.current == [3.0]
    assert chart.previous == [1.0] and chart.behind[0].ids == (1, 2, 3)


def test_service_figures_and_the_claims_behind_the_denial_rate(practice: Any) -> None:
    clock.set_clock(lambda: NOW)
    claims = [SynthClaim(n, status, "ZZYZXQUELL", "QUINTESSA", "ZQM4455667", date(2026, 9, 1),
                         [SynthLine("99214", D("200.00"), paid, adj)],
                         payer_claim_number=f"PCN{n}")
              for n, status, paid, adj in [
                  ("C1", "4", D("0.00"), [("CO", "50", D("200.00"))]),
                  ("C2", "1", D("160.00"), [("CO", "45", D("40.00"))])]]
    denials.import_835_file(practice, build_835(claims, payer_name="Acme Health",
                                                payer_id="PAYERX", trace="T1",
                                                paid_on=date(2026, 10, 1)))
    figures = reports.dashboard_figures(practice, "30d")
    rate = next(f for f in figures.figures if f.key == "denial_rate")
    assert rate.value == 0.5 and rate.previous is None  # nothing adjudicated before
    assert rate.behind is not None and len(rate.behind.ids) == 1
    items = reports.figure_items(practice, rate.behind.kind, list(rate.behind.ids))
    assert [i["title"].split(" ")[1] for i in items] == ["C1"]
    assert items[0]["task_id"] is not None  # a click opens its denial task
    assert practice.vault.query_one("SELECT count(*) FROM audit_log WHERE action = "
                                    "'report.drill'")[0] == 1
    with pytest.raises(Exception, match="unknown period"):
        reports.dashboard_figures(practice, "fortnight")


def test_hours_saved_say_they_come_from_automated_work_not_tasks_done() -> None:
    """0 tasks done and 1.5 h saved is not a contradiction: the note says where the
    hours come from, item by item."""
    cur, prev = dash.periods("30d", NY, NOW)
    metrics = list(_metrics(1, 10, {}, None))
    metrics[4] = HoursSaved(True, items={"Eligibility responses read (271)": (6, 8.0),
                                         "Claim statuses read (277)": (7, 6.0)}, hours=1.5)
    by = {f.key: f for f in dash.build(cur, prev, tuple(metrics),
                                       _metrics(1, 10, {}, None)).figures}
    assert by["tasks_done"].value == 0 and by["hours_saved"].value == 1.5
    assert by["hours_saved"].note == (
        "From automated work, not tasks done: 6 x eligibility responses read (271) (8 min "
        "each); 7 x claim statuses read (277) (6 min each) (minutes per task: settings)")
