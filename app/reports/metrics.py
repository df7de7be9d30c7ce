"""The practice's figures for any period, computed from the vault (no Qt, no PHI).

Every section is computed on its own and says when its data is absent (`available`
False with a `note`), so a practice that has not imported remittances still gets the
rest. Identifiers appear only as internal ids (PA, task), payer names and codes: never a
patient's name or member ID. Periods are half-open [start, end) in UTC; the practice's
local dates are converted by `Period.month`.
"""

from __future__ import annotations

import json
import statistics
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone
from decimal import Decimal
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from app import clock
from app.queue.kinds import KINDS


class Reader(Protocol):
    def query(self, sql: str, params: tuple[Any, ...] = ()) -> list[Any]: ...


@dataclass(frozen=True)
class Period:
    """[start, end) as aware UTC datetimes; `label` for people (e.g. 'November 2026')."""
    start: datetime
    end: datetime
    label: str

    @classmethod
    def month(cls, year: int, month: int, tz: ZoneInfo) -> Period:
        """The calendar month in the practice's time zone."""
        first = date(year, month, 1)
        nxt = date(year + month // 12, month % 12 + 1, 1)
        start = datetime.combine(first, time(0), tz).astimezone(timezone.utc)
        end = datetime.combine(nxt, time(0), tz).astimezone(timezone.utc)
        return cls(start, end, first.strftime("%B %Y"))

    def previous_month(self, tz: ZoneInfo) -> Period:
        local = self.start.astimezone(tz).date()
        prev = local.replace(day=1) - timedelta(days=1)
        return Period.month(prev.year, prev.month, tz)

    @property
    def bounds(self) -> tuple[str, str]:
        return clock.iso(self.start), clock.iso(self.end)

    def contains(self, moment: datetime) -> bool:
        return self.start <= moment < self.end


def p90(values: list[float]) -> float | None:
    """90th percentile with linear interpolation between ranks (NumPy's default)."""
    if not values:
        return None
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=10, method="inclusive")[-1]


def _median(values: list[float]) -> float | None:
    return statistics.median(values) if values else None


def _rate(part: int, whole: int) -> float | None:
    return part / whole if whole else None


def local_day(text: str, tz: ZoneInfo) -> date:
    """A stored value as a local date: an ISO UTC time, or already a YYYY-MM-DD date."""
    if len(text) == 10:
        return date.fromisoformat(text)
    return clock.parse_iso(text).astimezone(tz).date()


# -- prior authorization ------------------------------------------------------------------

DECIDED = ("approved", "partially_approved", "denied")


@dataclass(frozen=True)
class CycleStats:
    decisions: int
    median_days: float | None
    p90_days: float | None
    on_time_rate: float | None  # decided by the decision clock's due time


@dataclass
class PriorAuthMetrics:
    available: bool
    note: str = ""
    submitted_by_status: dict[str, int] = field(default_factory=dict)
    decisions: int = 0
    overall: CycleStats | None = None
    by_payer: dict[str, CycleStats] = field(default_factory=dict)
    by_service: dict[str, CycleStats] = field(default_factory=dict)
    stalls: int = 0
    escalations: int = 0  # decision clock overdue
    delay_risk: list[dict[str, Any]] = field(default_factory=list)  # PA id, payer, days
    decided_ids: list[int] = field(default_factory=list)  # the PAs behind `decisions`


def _cycle(rows: list[tuple[float, bool]]) -> CycleStats:
    days = [d for d, _ in rows]
    return CycleStats(len(rows), _median(days), p90(days),
                      _rate(sum(1 for _, ok in rows if ok), len(rows)))


def prior_auth_metrics(db: Reader, period: Period) -> PriorAuthMetrics:
    """Cycle time = submission to the first decision (approved, partially approved or
    denied) in the status history, in days; decisions counted in the period they fell."""
    start, end = period.bounds
    # A PA's services are its lines' codes (m0020); a decision counts for each code.
    pas = db.query("SELECT p.id, p.status, p.submitted_at, p.decision_due_at, coalesce(("
                   "SELECT group_concat(l.code, ' ') FROM pa_service_lines l WHERE "
                   "l.pa_id = p.id), p.cpt_code), "
                   "y.name, (SELECT min(h.ts) FROM pa_status_history h WHERE h.pa_id = p.id "
                   f"AND h.status IN {DECIDED}) FROM prior_auths p JOIN payers y "
                   "ON y.id = p.payer_id WHERE p.submitted_at < ?", (end,))
    if not pas:
        return PriorAuthMetrics(False, "no prior authorizations recorded up to this period")
    out = PriorAuthMetrics(True)
    out.submitted_by_status = dict(Counter(
        status for _i, status, submitted, *_ in pas if start <= submitted < end))
    overall: list[tuple[float, bool]] = []
    per_payer: dict[str, list[tuple[float, bool]]] = defaultdict(list)
    per_service: dict[str, list[tuple[float, bool]]] = defaultdict(list)
    history: dict[str, list[float]] = defaultdict(list)  # decided before the period end
    for pa_id, _status, submitted, due, cpt, payer, decided in pas:
        if decided is None or decided >= end:
            continue
        days = (clock.parse_iso(decided) - clock.parse_iso(submitted)).total_seconds() / 86400
        history[payer].append(days)
        if decided >= start:
            row = (days, decided <= due)
            out.decided_ids.append(int(pa_id))
            overall.append(row)
            per_payer[payer].append(row)
            for code in dict.fromkeys(cpt.split()):
                per_service[code].append(row)
    out.decisions = len(overall)
    out.overall = _cycle(overall) if overall else None
    out.by_payer = {k: _cycle(v) for k, v in sorted(per_payer.items())}
    out.by_service = {k: _cycle(v) for k, v in sorted(per_service.items())}
    for pa_id, _status, submitted, _due, cpt, payer, decided in pas:
        if decided is not None and decided < end:
            continue
        elapsed = (period.end - clock.parse_iso(submitted)).total_seconds() / 86400
        typical = _median(history.get(payer, []))
        if typical is not None and elapsed > typical:
            out.delay_risk.append({"pa_id": pa_id, "payer": payer,
                                   "service": ", ".join(dict.fromkeys(cpt.split())),
                                   "open_days": round(elapsed, 1),
                                   "payer_median_days": round(typical, 1)})
    for (key,) in db.query("SELECT natural_key FROM tasks WHERE kind = 'pa_escalation' AND "
                           "created_at >= ? AND created_at < ?", (start, end)):
        if ":stall:" in key:
            out.stalls += 1
        else:
            out.escalations += 1
    return out


# -- revenue --------------------------------------------------------------------------------

AGING_BUCKETS = ("0-30", "31-60", "61-90", "91-120", ">120")


def aging_bucket(days: int) -> str:
    for limit, name in ((30, "0-30"), (60, "31-60"), (90, "61-90"), (120, "91-120")):
        if days <= limit:
            return name
    return ">120"


def _is_writedown(group: str, carc: str) -> bool:
    # CO-45 and kin: the contracted rate, not a denial and not billable to anyone.
    return group == "CO" and carc in ("45", "253", "59", "94")


@dataclass
class RevenueMetrics:
    available: bool
    note: str = ""
    adjudicated: int = 0
    denied: int = 0
    line_denied: int = 0  # paid claims with some lines denied: not denied claims
    # remit_claims ids behind the denials (claim- and line-level), by category
    denial_ids: dict[str, list[int]] = field(default_factory=dict)
    denial_rate: float | None = None
    denied_dollars: Decimal = Decimal("0")
    dollars_by_category: dict[str, Decimal] = field(default_factory=dict)
    dollars_by_payer: dict[str, Decimal] = field(default_factory=dict)
    dollars_by_carc: dict[str, Decimal] = field(default_factory=dict)
    rework_rate: float | None = None  # denials worked within rework_days
    rework_days: int = 7
    appeals: dict[str, int] = field(default_factory=dict)  # appealed/overturned/upheld/pending
    patient_responsibility: Decimal = Decimal("0")
    ar_note: str = ""
    ar_total: Decimal = Decimal("0")
    ar_buckets: dict[str, Decimal] = field(default_factory=dict)
    ar_claims: dict[str, int] = field(default_factory=dict)
    days_in_ar: float | None = None


def revenue_metrics(db: Reader, period: Period, tz: ZoneInfo,
                    rework_days: int = 7) -> RevenueMetrics:
    """Adjudicated = remitted claims (reversals, CLP02 22, excluded) paid in the period
    (835 payment date, else the import date). Denied dollars are a denied claim's
    adjustments other than contractual write-downs and patient responsibility."""
    first = period.start.astimezone(tz).date()
    last = (period.end - timedelta(microseconds=1)).astimezone(tz).date()
    rows = db.query(
        "SELECT c.id, c.claim_number, c.status_code, c.is_denial, c.category, "
        "coalesce(m.payer_name, ''), coalesce(m.payment_date, m.received_at), c.worked_at, "
        "t.state, m.received_at, c.paid, c.denial_scope FROM remit_claims c "
        "JOIN remittances m ON m.id = c.remittance_id LEFT JOIN tasks t ON t.id = c.task_id")
    adjustments: dict[int, list[tuple[str, str, Decimal]]] = defaultdict(list)
    for rc_id, group, carc, amount in db.query(
            "SELECT remit_claim_id, group_code, carc, amount FROM remit_adjustments"):
        adjustments[rc_id].append((group, carc, Decimal(amount)))
    out = RevenueMetrics(True, rework_days=rework_days)
    if not rows:
        out.available = False
        out.note = "no remittances (835) imported yet"
    in_period = [r for r in rows if r[2] != "22" and first <= local_day(r[6], tz) <= last]
    if rows and not in_period:
        out.note = "no claims were adjudicated in this period"
    later: dict[str, list[tuple[str, int, Any]]] = defaultdict(list)
    for r in rows:
        later[r[1]].append((r[9], r[3], r))
    by_cat: dict[str, Decimal] = defaultdict(Decimal)
    by_payer: dict[str, Decimal] = defaultdict(Decimal)
    by_carc: dict[str, Decimal] = defaultdict(Decimal)
    reworked = 0
    appeals: Counter[str] = Counter()
    for rc_id, number, _code, is_denial, category, payer, paid_on, worked, task_state, \
            received, _paid, scope in in_period:
        out.adjudicated += 1
        for group, _carc, amount in adjustments[rc_id]:
            if group == "PR":
                out.patient_responsibility += amount
        if not is_denial:
            continue
        out.denial_ids.setdefault(category or "uncategorized", []).append(int(rc_id))
        if scope == "line":
            out.line_denied += 1  # its denied lines' dollars still count below
        else:
            out.denied += 1
        for group, carc, amount in adjustments[rc_id]:
            if group == "PR" or _is_writedown(group, carc):
                continue
            out.denied_dollars += amount
            by_cat[category or "uncategorized"] += amount
            by_payer[payer] += amount
            by_carc[f"{group}-{carc}"] += amount
        if worked and (clock.parse_iso(worked) - clock.parse_iso(received)
                       <= timedelta(days=rework_days)):
            reworked += 1
        if task_state == "done":  # the biller approved the appeal draft
            appeals["appealed"] += 1
            after = [(ts, denial) for ts, denial, _r in later[number] if ts > received]
            if not after:
                appeals["pending"] += 1
            elif after[-1][1]:
                appeals["upheld"] += 1
            else:
                appeals["overturned"] += 1
    out.denial_rate = _rate(out.denied, out.adjudicated)
    out.rework_rate = _rate(reworked, out.denied + out.line_denied)
    out.dollars_by_category = dict(sorted(by_cat.items(), key=lambda kv: -kv[1]))
    out.dollars_by_payer = dict(sorted(by_payer.items(), key=lambda kv: -kv[1]))
    out.dollars_by_carc = dict(sorted(by_carc.items(), key=lambda kv: -kv[1]))
    out.appeals = {k: appeals.get(k, 0) for k in ("appealed", "overturned", "upheld",
                                                   "pending")}
    _ar(db, out, period, tz, rows, adjustments)
    return out


def _ar(db: Reader, out: RevenueMetrics, period: Period, tz: ZoneInfo, remits: list[Any],
        adjustments: dict[int, list[tuple[str, str, Decimal]]]) -> None:
    """Insurance A/R at the period's end: charge - paid - write-downs - patient
    responsibility, over remittances received by then; aged from the date of service."""
    claims = db.query("SELECT id, claim_number, total_charge, coalesce(service_date, "
                      "substr(submitted_at, 1, 10), substr(created_at, 1, 10)) FROM claims "
                      "WHERE coalesce(submitted_at, created_at) < ?", (period.bounds[1],))
    out.ar_buckets = {b: Decimal("0") for b in AGING_BUCKETS}
    out.ar_claims = {b: 0 for b in AGING_BUCKETS}
    if not claims:
        out.ar_note = "no claims recorded (A/R needs the practice's claims, e.g. an 837)"
        return
    settled: dict[str, Decimal] = defaultdict(Decimal)
    end = period.bounds[1]
    for rc_id, number, _st, _den, _cat, _payer, _paid_on, _w, _t, received, paid, _sc \
            in remits:
        if received >= end:
            continue
        settled[number] += Decimal(paid) + sum(
            (a for g, c, a in adjustments[rc_id] if g == "PR" or _is_writedown(g, c)),
            Decimal("0"))
    last_day = (period.end - timedelta(microseconds=1)).astimezone(tz).date()
    charges_90 = Decimal("0")
    for _id, number, charge, service in claims:
        served = date.fromisoformat(service)
        if last_day - served < timedelta(days=90):
            charges_90 += Decimal(charge)
        balance = Decimal(charge) - settled.get(number, Decimal("0"))
        if balance <= Decimal("0.005"):
            continue
        bucket = aging_bucket((last_day - served).days)
        out.ar_buckets[bucket] += balance
        out.ar_claims[bucket] += 1
        out.ar_total += balance
    out.days_in_ar = float(out.ar_total / (charges_90 / 90)) if charges_90 else None


# -- eligibility and schedule --------------------------------------------------------------

@dataclass
class EligibilityMetrics:
    available: bool
    note: str = ""
    visits: int = 0
    checked_before: int = 0
    checked_rate: float | None = None
    gaps_found: int = 0


def eligibility_metrics(db: Reader, period: Period, tz: ZoneInfo) -> EligibilityMetrics:
    """A visit counts as checked when a 271 for the patient arrived before its local day."""
    start, end = period.bounds
    visits = db.query("SELECT patient_id, start_at FROM appointments WHERE start_at >= ? AND "
                      "start_at < ? AND status != 'cancelled'", (start, end))
    responses: dict[int, list[str]] = defaultdict(list)
    for pid, received in db.query("SELECT patient_id, received_at FROM eligibility_responses "
                                  "WHERE patient_id IS NOT NULL"):
        responses[int(pid)].append(received)
    gaps = db.query("SELECT count(*) FROM tasks WHERE kind = 'eligibility_gap' AND "
                    "created_at >= ? AND created_at < ?", (start, end))[0][0]
    if not visits:
        return EligibilityMetrics(False, "no visits scheduled in this period", gaps_found=gaps)
    out = EligibilityMetrics(True, visits=len(visits), gaps_found=int(gaps))
    for pid, start_at in visits:
        day = local_day(start_at, tz)
        if any(local_day(r, tz) < day for r in responses.get(int(pid), [])):
            out.checked_before += 1
    out.checked_rate = _rate(out.checked_before, out.visits)
    if not responses:
        out.note = "no eligibility responses (271) imported yet"
    return out


@dataclass
class ScheduleMetrics:
    available: bool
    note: str = ""
    no_show_by_provider: dict[str, tuple[int, int]] = field(default_factory=dict)  # (ns, seen)
    no_show_by_visit_type: dict[str, tuple[int, int]] = field(default_factory=dict)
    refilled_note: str = "no waitlist offers were made in this period"


def schedule_metrics(db: Reader, period: Period) -> ScheduleMetrics:
    """No-show rate = no-shows / (completed + no-shows) among past visits in the period."""
    rows = db.query("SELECT provider, visit_type, status FROM appointments WHERE start_at >= ?"
                    " AND start_at < ? AND status IN ('completed','no_show')", period.bounds)
    # freed slots offered from the waitlist in the period, and how many were booked
    offered, booked = db.query(
        "SELECT count(DISTINCT slot_appointment_id), count(DISTINCT CASE WHEN state = "
        "'accepted' THEN slot_appointment_id END) FROM waitlist_offers WHERE offered_at >= ? "
        "AND offered_at < ?", period.bounds)[0]
    refilled = (f"slots refilled from the waitlist: {booked} of {offered} offered"
                if offered else ScheduleMetrics.refilled_note)
    if not rows:
        return ScheduleMetrics(False, "no completed or missed visits recorded in this period",
                               refilled_note=refilled)
    out = ScheduleMetrics(True, refilled_note=refilled)
    for attr, index in (("no_show_by_provider", 0), ("no_show_by_visit_type", 1)):
        tally: dict[str, list[int]] = defaultdict(lambda: [0, 0])
        for row in rows:
            tally[row[index] or "unassigned"][0] += row[2] == "no_show"
            tally[row[index] or "unassigned"][1] += 1
        setattr(out, attr, {k: (v[0], v[1]) for k, v in sorted(tally.items())})
    return out


# -- queues ---------------------------------------------------------------------------------

QUEUE_AGING = ("0-2", "3-7", "8-14", ">14")
EXCEPTION_KINDS = tuple(k.name for k in KINDS.values() if k.is_notice)


def queue_bucket(days: int) -> str:
    for limit, name in ((2, "0-2"), (7, "3-7"), (14, "8-14")):
        if days <= limit:
            return name
    return ">14"


@dataclass
class QueueMetrics:
    available: bool
    note: str = ""
    created_by_kind: dict[str, int] = field(default_factory=dict)
    done_by_kind: dict[str, int] = field(default_factory=dict)
    open_aging: dict[str, int] = field(default_factory=dict)  # open at the period's end
    median_hours_to_action: float | None = None
    overdue: int = 0
    exceptions: dict[str, int] = field(default_factory=dict)
    done_ids: dict[str, list[int]] = field(default_factory=dict)  # task ids by kind
    overdue_ids: list[int] = field(default_factory=list)


def queue_metrics(db: Reader, period: Period) -> QueueMetrics:
    """Done = reached 'done' in the period; open at the end = created before it and not
    yet done or rejected then; age in whole days since creation."""
    start, end = period.bounds
    tasks = db.query(
        "SELECT t.id, t.kind, t.created_at, t.acted_at, t.due_at, (SELECT min(h.ts) FROM "
        "task_history h WHERE h.task_id = t.id AND h.to_state IN ('done','rejected')), "
        "(SELECT min(h.ts) FROM task_history h WHERE h.task_id = t.id AND h.to_state = "
        "'done' AND h.ts >= ? AND h.ts < ?) FROM tasks t WHERE t.created_at < ?",
        (start, end, end))
    if not tasks:
        return QueueMetrics(False, "no tasks up to the end of this period")
    out = QueueMetrics(True, open_aging={b: 0 for b in QUEUE_AGING})
    created: Counter[str] = Counter()
    done: Counter[str] = Counter()
    exceptions: Counter[str] = Counter()
    hours: list[float] = []
    for task_id, kind_name, created_at, acted, due, closed, done_in in tasks:
        if created_at >= start:
            created[kind_name] += 1
            if kind_name in EXCEPTION_KINDS:
                exceptions[kind_name] += 1
        if done_in is not None:
            done[kind_name] += 1
            out.done_ids.setdefault(kind_name, []).append(int(task_id))
        if acted is not None and start <= acted < end:
            hours.append((clock.parse_iso(acted) - clock.parse_iso(created_at)).total_seconds()
                         / 3600)
        if closed is None or closed >= end:
            age = (period.end - clock.parse_iso(created_at)).days
            out.open_aging[queue_bucket(age)] += 1
            if due is not None and due < end:
                out.overdue += 1
                out.overdue_ids.append(int(task_id))
    out.created_by_kind = dict(sorted(created.items()))
    out.done_by_kind = dict(sorted(done.items()))
    out.exceptions = dict(sorted(exceptions.items()))
    out.median_hours_to_action = _median(hours)
    return out


# -- mode changes ---------------------------------------------------------------------------

def mode_changes(db: Reader, period: Period) -> list[dict[str, Any]]:
    """Each action-mode change in the period, from the audit log: when, kind, before, after."""
    out = []
    for ts, kind_name, actor, details in db.query(
            "SELECT ts, object_id, actor, details FROM audit_log WHERE action = 'mode.set' AND "
            "ts >= ? AND ts < ? ORDER BY id", period.bounds):
        data = json.loads(details)
        out.append({"ts": ts, "kind": kind_name, "by": actor, "before": data.get("before"),
                    "after": data.get("after")})
    return out


# -- staff hours saved ----------------------------------------------------------------------

@dataclass
class HoursSaved:
    available: bool
    note: str = ""
    items: dict[str, tuple[int, float]] = field(default_factory=dict)  # what: (count, min)
    hours: float = 0.0


# What a piece of work the app did would have cost by hand: (label, SQL count, setting).
SAVED_WORK: tuple[tuple[str, str, str], ...] = (
    ("PA status checks at payer portals",
     "SELECT count(*) FROM audit_log WHERE action = 'portal.visit' AND ts >= ? AND ts < ?",
     "minutes_per_pa_check"),
    ("Eligibility responses read (271)",
     "SELECT count(*) FROM eligibility_responses WHERE received_at >= ? AND received_at < ?",
     "minutes_per_eligibility_check"),
    ("Claim statuses read (277)",
     "SELECT count(*) FROM claim_statuses WHERE received_at >= ? AND received_at < ?",
     "minutes_per_claim_status"),
    ("Denials classified with a drafted next step",
     "SELECT count(*) FROM tasks WHERE kind = 'denial_review' AND created_at >= ? AND "
     "created_at < ?", "minutes_per_denial_review"),
    ("Outreach messages drafted and sent",
     "SELECT count(*) FROM tasks WHERE kind = 'outreach' AND state = 'done' AND "
     "shadow_verdict IS NULL AND updated_at >= ? AND updated_at < ?",
     "minutes_per_outreach"),
)


def hours_saved(db: Reader, period: Period, minutes: dict[str, float]) -> HoursSaved:
    """Work done by the app in the period x the practice's minutes per manual task
    (settings, with cited defaults)."""
    out = HoursSaved(True)
    for label, sql, key in SAVED_WORK:
        count = int(db.query(sql, period.bounds)[0][0])
        if count:
            out.items[label] = (count, float(minutes[key]))
    out.hours = sum(c * m for c, m in out.items.values()) / 60
    if not out.items:
        out.available = False
        out.note = "no automated work recorded in this period"
    return out
