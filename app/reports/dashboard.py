"""The dashboard's figures (pure): a chosen period against the one before it, each
figure with what stands behind it (the tasks, PAs or remitted claims a click opens), and
two comparisons for charts. Computed from app.reports.metrics; periods are [start, end)
in aware UTC, cut at midnight in the practice's time zone."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone
from typing import Any
from zoneinfo import ZoneInfo

from app.reports.metrics import (
    EligibilityMetrics,
    HoursSaved,
    Period,
    PriorAuthMetrics,
    QueueMetrics,
    RevenueMetrics,
)

PERIODS = {
    "7d": "Last 7 days", "30d": "Last 30 days", "90d": "Last 90 days",
    "this_month": "This month", "last_month": "Last month",
}


def periods(choice: str, tz: ZoneInfo, now: datetime) -> tuple[Period, Period]:
    """(the chosen period, the one before it). 'Nd' is the last N local days including
    today; a month is compared with the month before. Unknown choices raise ValueError."""
    today = now.astimezone(tz).date()
    if choice.endswith("d") and choice[:-1].isdigit():
        days = int(choice[:-1])
        end_day = today + timedelta(days=1)
        cur = _days(end_day - timedelta(days=days), end_day, tz, PERIODS.get(choice, choice))
        prev = _days(end_day - timedelta(days=2 * days), end_day - timedelta(days=days), tz,
                     f"the {days} days before")
        return cur, prev
    if choice == "this_month":
        cur = Period.month(today.year, today.month, tz)
        return cur, cur.previous_month(tz)
    if choice == "last_month":
        cur = Period.month(today.year, today.month, tz).previous_month(tz)
        return cur, cur.previous_month(tz)
    raise ValueError(f"unknown period {choice!r}; one of {', '.join(PERIODS)}")


def _days(first: date, end: date, tz: ZoneInfo, label: str) -> Period:
    return Period(datetime.combine(first, time(0), tz).astimezone(timezone.utc),
                  datetime.combine(end, time(0), tz).astimezone(timezone.utc), label)


@dataclass(frozen=True)
class Behind:
    """What a figure counts: 'task', 'pa' or 'remit_claim' ids."""

    kind: str
    ids: tuple[int, ...]


@dataclass(frozen=True)
class Figure:
    key: str
    label: str
    value: float | None  # None: no data in the period (the note says why)
    previous: float | None
    unit: str  # '%', 'days', '$', 'h' or '' (a count)
    better: str  # 'up', 'down' or '' (neither direction is good in itself)
    behind: Behind | None = None
    note: str = ""

    def text(self, value: float | None = None, *, current: bool = True) -> str:
        v = self.value if current and value is None else value
        if v is None:
            return "–"
        if self.unit == "%":
            return f"{v * 100:.0f}%"
        if self.unit == "$":
            return f"${v:,.0f}"
        if self.unit == "days":
            return f"{v:.1f} d"
        if self.unit == "h":
            return f"{v:.1f} h"
        return f"{v:.0f}"

    def change(self) -> str:
        """'▲ 4 pts vs 12%' style: the change against the previous period."""
        if self.value is None or self.previous is None:
            return f"previous: {self.text(self.previous, current=False)}"
        diff = self.value - self.previous
        arrow = "▲" if diff > 0 else "▼" if diff < 0 else "="
        size = (f"{abs(diff) * 100:.0f} pts" if self.unit == "%" else
                self.text(abs(diff), current=False))
        return f"{arrow} {size} vs {self.text(self.previous, current=False)}"

    @property
    def direction(self) -> str:
        """'good', 'bad' or '' for the change, by `better`."""
        if self.value is None or self.previous is None or not self.better \
                or self.value == self.previous:
            return ""
        up = self.value > self.previous
        return "good" if up == (self.better == "up") else "bad"


@dataclass
class Comparison:
    """One chart: categories with this period's and the previous period's values, and
    what stands behind each of this period's bars."""

    title: str
    unit: str
    categories: list[str]
    current: list[float]
    previous: list[float]
    behind: list[Behind] = field(default_factory=list)


@dataclass
class Figures:
    period: Period
    previous: Period
    figures: list[Figure]
    charts: list[Comparison]


def _f(x: Any) -> float | None:
    return None if x is None else float(x)


def build(period: Period, previous: Period,
          cur: tuple[PriorAuthMetrics, RevenueMetrics, EligibilityMetrics, QueueMetrics,
                     HoursSaved],
          prev: tuple[PriorAuthMetrics, RevenueMetrics, EligibilityMetrics, QueueMetrics,
                      HoursSaved]) -> Figures:
    """The tiles and charts for `period` against `previous`."""
    pa, rev, elig, q, hours = cur
    ppa, prev_rev, pelig, pq, phours = prev
    denial_ids = tuple(i for ids in rev.denial_ids.values() for i in ids)
    done_ids = tuple(i for ids in q.done_ids.values() for i in ids)
    figures = [
        Figure("denial_rate", "Denial rate", rev.denial_rate if rev.adjudicated else None,
               prev_rev.denial_rate if prev_rev.adjudicated else None, "%", "down",
               Behind("remit_claim", denial_ids),
               rev.note or f"{rev.denied} of {rev.adjudicated} claims denied"
               + (f", {rev.line_denied} with denied lines" if rev.line_denied else "")),
        Figure("denied_dollars", "Denied dollars", _f(rev.denied_dollars),
               _f(prev_rev.denied_dollars), "$", "down", Behind("remit_claim", denial_ids),
               "contractual write-downs and patient responsibility left out"),
        Figure("pa_cycle", "PA cycle time (median)",
               pa.overall.median_days if pa.overall else None,
               ppa.overall.median_days if ppa.overall else None, "days", "down",
               Behind("pa", tuple(pa.decided_ids)),
               pa.note or f"{pa.decisions} decisions, submission to decision"),
        Figure("pa_delay_risk", "PAs at delay risk", float(len(pa.delay_risk)),
               float(len(ppa.delay_risk)), "", "down",
               Behind("pa", tuple(int(d["pa_id"]) for d in pa.delay_risk)),
               "open longer than their payer's median"),
        # With no 271 on file (a note says so) a 0% would only mean "never imported".
        Figure("eligibility", "Visits checked before the day",
               None if elig.note else elig.checked_rate,
               None if pelig.note else pelig.checked_rate, "%", "up", None,
               elig.note or f"{elig.checked_before} of {elig.visits} visits; "
               f"{elig.gaps_found} gaps found"),
        Figure("tasks_done", "Tasks done", float(sum(q.done_by_kind.values())),
               float(sum(pq.done_by_kind.values())), "", "up", Behind("task", done_ids),
               q.note or "reached done in the period"),
        Figure("overdue", "Overdue at period end", float(q.overdue), float(pq.overdue), "",
               "down", Behind("task", tuple(q.overdue_ids)), q.note),
        Figure("hours_saved", "Staff hours saved", hours.hours if hours.available else None,
               phours.hours if phours.available else None, "h", "up", None,
               hours.note or _saved_from(hours)),
    ]
    charts = [_by(rev.denial_ids, "Denied dollars by category", "$",
                  {k: float(v) for k, v in rev.dollars_by_category.items()},
                  {k: float(v) for k, v in prev_rev.dollars_by_category.items()},
                  "remit_claim"),
              _by(q.done_ids, "Tasks done by kind", "",
                  {k: float(v) for k, v in q.done_by_kind.items()},
                  {k: float(v) for k, v in pq.done_by_kind.items()}, "task")]
    return Figures(period, previous, figures, charts)


def _saved_from(hours: HoursSaved) -> str:
    """Where the hours come from: the app's automated work (checks, reads, drafts), not
    the tasks people marked done, so a period with 0 tasks done can still save hours."""
    work = "; ".join(f"{count} x {label[0].lower()}{label[1:]} ({minutes:g} min each)"
                     for label, (count, minutes) in hours.items.items())
    return f"From automated work, not tasks done: {work} (minutes per task: settings)"


def _by(ids: dict[str, list[int]], title: str, unit: str, cur: dict[str, float],
        prev: dict[str, float], kind: str) -> Comparison:
    cats = sorted(set(cur) | set(prev), key=lambda c: (-cur.get(c, 0), c))[:8]
    return Comparison(title, unit, cats, [cur.get(c, 0.0) for c in cats],
                      [prev.get(c, 0.0) for c in cats],
                      [Behind(kind, tuple(ids.get(c, []))) for c in cats])

