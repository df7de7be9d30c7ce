"""Claim classification: group + CARC + RARC (and the claim's status) -> denial category
and next action, from the declarative rules in resources/denials/*.yaml; appeal
deadlines. Dates are calendar dates (the payer's notice date)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

from app.denials.codes import RESOURCES
from app.domain.revenue import (
    Adjustment,
    ClaimPayment,
    Classification,
    DenialCategory,
    NextAction,
)

RULES_DIR = RESOURCES / "denials"
MEDICARE_FILING = frozenset({"MA", "MB"})  # CLP06 claim filing indicator
MEDICARE_REDETERMINATION_DAYS = 120
DEFAULT_APPEAL_DAYS = 90


@dataclass(frozen=True)
class Rule:
    id: str
    priority: int
    category: DenialCategory
    action: NextAction
    appealable: bool
    denial: bool
    why: str
    status: frozenset[str] = frozenset()
    groups: frozenset[str] = frozenset()
    carcs: frozenset[str] = frozenset()
    rarc_any: frozenset[str] = frozenset()
    has_rarc: bool | None = None
    medicare: bool | None = None

    def matches(self, adj: Adjustment | None, status: str, remarks: list[str],
                medicare: bool) -> bool:
        if self.status and status not in self.status:
            return False
        if self.groups or self.carcs:
            if adj is None:
                return False
            if self.groups and adj.group not in self.groups:
                return False
            if self.carcs and adj.reason not in self.carcs:
                return False
        if self.rarc_any and not self.rarc_any.intersection(remarks):
            return False
        if self.has_rarc is not None and self.has_rarc != bool(remarks):
            return False
        if self.medicare is not None and self.medicare != medicare:
            return False
        return True


def _rule(raw: dict[str, Any], source: str) -> Rule:
    when = raw.get("when") or {}
    unknown = set(when) - {"status", "group", "carc", "rarc_any", "has_rarc", "medicare"}
    if unknown:
        raise ValueError(f"{source}: rule {raw.get('id')}: unknown condition(s) {unknown}")
    return Rule(
        id=str(raw["id"]), priority=int(raw["priority"]),
        category=DenialCategory(raw["category"]), action=NextAction(raw["action"]),
        appealable=bool(raw.get("appealable", True)), denial=bool(raw.get("denial", True)),
        why=str(raw.get("why", "")),
        status=frozenset(str(s) for s in when.get("status", [])),
        groups=frozenset(str(s) for s in when.get("group", [])),
        carcs=frozenset(str(s) for s in when.get("carc", [])),
        rarc_any=frozenset(str(s) for s in when.get("rarc_any", [])),
        has_rarc=when.get("has_rarc"), medicare=when.get("medicare"))


@lru_cache(maxsize=4)
def load_rules(directory: Path = RULES_DIR) -> tuple[Rule, ...]:
    """All rules from *.yaml in the directory, in priority order; ids must be unique."""
    rules: list[Rule] = []
    for path in sorted(Path(directory).glob("*.yaml")):
        doc = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        rules.extend(_rule(r, path.name) for r in doc.get("rules", []))
    ids = [r.id for r in rules]
    if len(set(ids)) != len(ids):
        raise ValueError(f"duplicate denial rule ids in {directory}")
    return tuple(sorted(rules, key=lambda r: r.priority))


NO_ADJUSTMENT = Classification("paid_as_billed", DenialCategory.OTHER, NextAction.NO_ACTION,
                               True, False, "Paid with no adjustments.", "")


def is_medicare(claim: ClaimPayment, plan_type: str | None) -> bool:
    return plan_type == "medicare_ffs" or claim.filing_indicator in MEDICARE_FILING


def classify(claim: ClaimPayment, *, medicare: bool = False,
             rules: tuple[Rule, ...] | None = None) -> Classification:
    """The claim's category and next action: the most important rule any of its
    adjustments (or its status) matches. A denied claim (CLP02 4) only takes denial
    rules, so a denial is never filed as a routine write-down."""
    rules = rules if rules is not None else load_rules()
    remarks = claim.all_remarks()
    denied = claim.status_code == "4"
    best: Rule | None = None
    trigger = ""
    candidates: list[Adjustment | None] = [*claim.all_adjustments(), None]
    for adj in candidates:
        if adj is not None and adj.amount == 0:
            continue  # zero-amount CAS carry no money and decide nothing
        for rule in rules:
            if best is not None and rule.priority >= best.priority:
                break
            if denied and not rule.denial:
                continue
            if rule.matches(adj, claim.status_code, remarks, medicare):
                best = rule
                trigger = f"{adj.group}-{adj.reason}" if adj is not None \
                    else f"CLP02 {claim.status_code}"
                break
    if best is None:
        return NO_ADJUSTMENT
    return Classification(best.id, best.category, best.action, best.appealable,
                          best.denial, best.why, trigger)


def appeal_deadline(base: date, window_days: int | None, medicare: bool,
                    default_days: int = DEFAULT_APPEAL_DAYS) -> date:
    """The payer's appeal window; Medicare redetermination is 120 days from receipt."""
    if window_days:
        return base + timedelta(days=window_days)
    return base + timedelta(days=MEDICARE_REDETERMINATION_DAYS if medicare else default_days)


def first_service_date(claim: ClaimPayment) -> date | None:
    dates = [ln.service_date for ln in claim.lines if ln.service_date]
    return min(dates) if dates else None


def claim_status(claim: ClaimPayment, cls: Classification) -> str:
    """The practice's claim status after this 835 (claims.status)."""
    if claim.status_code == "22":
        return "reversed"
    if cls.is_denial:
        return "denied"
    return "paid" if claim.paid != 0 else "adjudicated"
