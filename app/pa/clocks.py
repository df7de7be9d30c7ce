"""Decision clocks: by when must the payer decide a prior-authorization request?

Rules (ARCHITECTURE.md section 5):
- Medicare Advantage, Medicaid, CHIP (CMS-0057-F, for requests from 2026-01-01): 72 hours
  expedited, 7 calendar days standard. Before 2026-01-01 the earlier rule applied:
  72 hours expedited, 14 calendar days standard (42 CFR 422.572 / 438.210).
- QHP (45 CFR 147.136) and ERISA-type plans (29 CFR 2560.503-1): 72 hours urgent,
  15 calendar days pre-service.
- Commercial: by contract or state law, set per payer (`decision_days_standard`,
  `decision_hours_expedited`); unset values fall back to 15 days / 72 hours (the
  QHP/ERISA norm) and the basis says so.
- Medicare FFS: treated like commercial. Default 14 calendar days standard (about the 10
  business days CMS targets in its FFS prior-authorization programs) and 72 hours
  expedited; a payer row may override both.
For regulated plan types a shorter contract value on the payer wins (the rule is a ceiling).

Units and zones: hour clocks are elapsed hours, counted in UTC, so a 72 h clock across a
DST change still lasts exactly 72 hours (the local wall time shifts by the DST hour).
Calendar-day clocks count days on the practice's wall clock: due at the same local time N
days later, whatever DST does in between. Weekends and holidays never pause either clock.
All inputs and the result are aware UTC datetimes; `tz` is the practice's zone.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

from app.domain import PlanType
from app.domain.pa import Urgency

CMS_0057F_EFFECTIVE = date(2026, 1, 1)
REGULATED_CMS = (PlanType.MEDICARE_ADVANTAGE, PlanType.MEDICAID, PlanType.CHIP)
REGULATED_ACA = (PlanType.QHP, PlanType.ERISA)
COMMERCIAL_DEFAULT_DAYS = 15
COMMERCIAL_DEFAULT_HOURS = 72
MEDICARE_FFS_DEFAULT_DAYS = 14
MEDICARE_FFS_DEFAULT_HOURS = 72


@dataclass(frozen=True)
class DecisionClock:
    """`due_at` is aware UTC. `unit` is 'hours' (elapsed) or 'calendar_days' (wall clock)."""

    due_at: datetime
    amount: int
    unit: str
    basis: str


def _rule(plan: PlanType, urgency: Urgency, submitted_local: date,
          payer_days: int | None, payer_hours: int | None) -> tuple[int, str, str]:
    expedited = urgency is Urgency.EXPEDITED
    if plan in REGULATED_CMS:
        if expedited:
            amount, unit, basis = 72, "hours", "CMS-0057-F expedited (72 h)"
        elif submitted_local >= CMS_0057F_EFFECTIVE:
            amount, unit, basis = 7, "calendar_days", "CMS-0057-F standard (7 calendar days)"
        else:
            amount, unit, basis = 14, "calendar_days", "pre-2026 CMS standard (14 calendar days)"
    elif plan in REGULATED_ACA:
        cite = "45 CFR 147.136" if plan is PlanType.QHP else "29 CFR 2560.503-1"
        if expedited:
            amount, unit, basis = 72, "hours", f"{cite} urgent (72 h)"
        else:
            amount, unit, basis = 15, "calendar_days", f"{cite} pre-service (15 days)"
    else:
        label = "commercial" if plan is PlanType.COMMERCIAL else "Medicare FFS"
        default_days = (COMMERCIAL_DEFAULT_DAYS if plan is PlanType.COMMERCIAL
                        else MEDICARE_FFS_DEFAULT_DAYS)
        default_hours = (COMMERCIAL_DEFAULT_HOURS if plan is PlanType.COMMERCIAL
                         else MEDICARE_FFS_DEFAULT_HOURS)
        if expedited:
            if payer_hours:
                return payer_hours, "hours", f"{label}: payer contract ({payer_hours} h)"
            return default_hours, "hours", f"{label}: default {default_hours} h (payer has none)"
        if payer_days:
            return payer_days, "calendar_days", f"{label}: payer contract ({payer_days} days)"
        return (default_days, "calendar_days",
                f"{label}: default {default_days} days (payer has none)")
    # Regulated: the regulation is a ceiling; a stricter contract value wins.
    if unit == "hours" and payer_hours and payer_hours < amount:
        return payer_hours, "hours", f"payer contract ({payer_hours} h, stricter than rule)"
    if unit == "calendar_days" and payer_days and payer_days < amount:
        return (payer_days, "calendar_days",
                f"payer contract ({payer_days} days, stricter than rule)")
    return amount, unit, basis


def decision_clock(plan_type: PlanType | str, urgency: Urgency | str, submitted_at: datetime,
                   tz: ZoneInfo, *, payer_days_standard: int | None = None,
                   payer_hours_expedited: int | None = None) -> DecisionClock:
    """The payer's decision deadline for a request received at `submitted_at` (aware)."""
    if submitted_at.tzinfo is None:
        raise ValueError("submitted_at must be timezone-aware")
    plan = PlanType(plan_type)
    urg = Urgency(urgency)
    submitted_wall = submitted_at.astimezone(tz)
    amount, unit, basis = _rule(plan, urg, submitted_wall.date(), payer_days_standard,
                                payer_hours_expedited)
    if unit == "hours":
        due = submitted_at.astimezone(timezone.utc) + timedelta(hours=amount)
    else:
        # Wall-clock arithmetic: add days to the naive local time, then re-attach the zone
        # so zoneinfo picks the offset in force on the due day.
        naive = submitted_wall.replace(tzinfo=None) + timedelta(days=amount)
        due = naive.replace(tzinfo=tz).astimezone(timezone.utc)
    return DecisionClock(due_at=due, amount=amount, unit=unit, basis=basis)
