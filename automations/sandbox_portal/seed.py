"""The sandbox portal's data: a JSON-able structure of cases, members and claims, each
with a status timeline in simulated days. Built from PA records so the demo and the tests
can seed it from the vault's own PAs. Nothing here touches disk."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

# recipe name -> (portal, payer inside the portal); the clearing portal serves two payers.
RECIPE_PORTALS: dict[str, tuple[str, str]] = {
    "clearinghouse_summit": ("clearing", "summit"),
    "clearinghouse_harbor": ("clearing", "harbor"),
    "northwind": ("northwind", ""),
    "bluestem_medicaid": ("bluestem", ""),
}
CLEARING_PAYERS = {"summit": "Summit Medicare Advantage", "harbor": "Harbor Marketplace QHP"}

# Sandbox-only log-ins (the demo seed stores these in the demo vault). Not real secrets.
SANDBOX_ACCOUNTS: dict[str, dict[str, str]] = {
    "clearing": {"username": "maplefm-clearing", "password": "sandbox-clearing-pw"},
    "northwind": {"username": "maplefm", "password": "sandbox-northwind-pw",
                  "totp_seed": "NORTHWINDSANDBOXMFASEED2345ABCD"},
    "bluestem": {"username": "MFM00417", "password": "sandbox-bluestem-pw"},
}

# Scripted outcomes: how a PA moves over simulated days after submission.
OUTCOMES = ("approved", "partially_approved", "denied", "info_requested_then_approved",
            "pended", "cancelled", "expired", "submitted")
# Faults scripted for one case (a search that finds it): the portal errors (HTTP 500), its
# results page has a new layout, or it asks for a person (CAPTCHA). The portal-wide
# switches (server.FAULTS) hit every search; these let a demo PA fail while the rest pass.
CASE_FAULTS = ("http_500", "layout_changed", "captcha")


@dataclass(frozen=True)
class PaSeedRecord:
    """One PA as the sandbox should show it. `decide_after_days` is when the payer decides
    (simulated days after `submitted`). `fault` (one of CASE_FAULTS) hits every search
    that finds this case, on the payer's date `fault_on` only (None: every day)."""

    member_id: str
    reference: str
    recipe: str
    submitted: date
    outcome: str = "approved"
    decide_after_days: int = 3
    units: int = 12
    service_code: str = "97110"
    valid_days: int = 120
    fault: str = ""
    fault_on: date | None = None


@dataclass(frozen=True)
class MemberSeed:
    member_id: str
    recipe: str
    active: bool = True
    plan: str = "Standard"
    effective: date | None = None
    terminated: date | None = None


@dataclass(frozen=True)
class ClaimSeed:
    member_id: str
    claim_number: str
    recipe: str
    service_date: date
    outcome: str = "paid"  # paid | denied | partially_paid | pended
    billed: str = "150.00"
    paid: str = "112.40"
    decide_after_days: int = 10


def _portal(recipe: str) -> tuple[str, str]:
    try:
        return RECIPE_PORTALS[recipe]
    except KeyError as exc:
        raise ValueError(f"the sandbox has no portal for recipe {recipe!r}; one of: "
                         + ", ".join(RECIPE_PORTALS)) from exc


def _event(day: int, status: str, **extra: Any) -> dict[str, Any]:
    return {"day": day, "status": status, **extra}


def pa_timeline(rec: PaSeedRecord) -> list[dict[str, Any]]:
    """Normalized statuses by simulated day since submission; the portal words them."""
    if rec.outcome not in OUTCOMES:
        raise ValueError(f"unknown scripted outcome {rec.outcome!r}; one of: "
                         + ", ".join(OUTCOMES))
    d = max(1, rec.decide_after_days)
    start = rec.submitted
    def approved(day: int, units: int, status: str = "approved") -> dict[str, Any]:
        decided = start + timedelta(days=day)
        return _event(day, status, units=units, requested=rec.units,
                      valid_from=decided.isoformat(),
                      valid_through=(decided + timedelta(days=rec.valid_days)).isoformat())
    events = [_event(0, "submitted")]
    if rec.outcome == "submitted":
        return events
    events.append(_event(min(1, d - 1) if d > 1 else 0, "pended"))
    if rec.outcome == "pended":
        return events
    if rec.outcome == "approved":
        events.append(approved(d, rec.units))
    elif rec.outcome == "partially_approved":
        events.append(approved(d, max(1, rec.units // 2), "partially_approved"))
    elif rec.outcome == "denied":
        events.append(_event(d, "denied", reason="not medically necessary"))
    elif rec.outcome == "info_requested_then_approved":
        events.append(_event(d, "additional_info_requested"))
        events.append(approved(d + 3, rec.units))
    elif rec.outcome == "cancelled":
        events.append(_event(d, "cancelled"))
    elif rec.outcome == "expired":
        events.append(approved(d, rec.units))
        events.append(_event(d + rec.valid_days + 1, "expired"))
    return events


def build_seed(pas: list[PaSeedRecord], members: list[MemberSeed] | None = None,
               claims: list[ClaimSeed] | None = None) -> dict[str, Any]:
    """The sandbox's data as a JSON-able dict. Every PA's member also gets an active
    eligibility record unless `members` says otherwise."""
    cases = []
    seen_members: dict[tuple[str, str], dict[str, Any]] = {}
    for rec in pas:
        portal, payer = _portal(rec.recipe)
        case = {"member_id": rec.member_id, "reference": rec.reference, "portal": portal,
                "payer": payer, "submitted": rec.submitted.isoformat(),
                "service_code": rec.service_code, "requested_units": rec.units,
                "timeline": pa_timeline(rec)}
        if rec.fault:
            if rec.fault not in CASE_FAULTS:
                raise ValueError(f"unknown case fault {rec.fault!r}; one of: "
                                 + ", ".join(CASE_FAULTS))
            case["fault"] = {"name": rec.fault,
                             "on": rec.fault_on.isoformat() if rec.fault_on else None}
        cases.append(case)
        seen_members.setdefault((rec.recipe, rec.member_id), {
            "member_id": rec.member_id, "portal": portal, "payer": payer, "active": True,
            "plan": "Standard", "effective": (rec.submitted - timedelta(days=365)).isoformat(),
            "terminated": None})
    for m in members or []:
        portal, payer = _portal(m.recipe)
        seen_members[(m.recipe, m.member_id)] = {
            "member_id": m.member_id, "portal": portal, "payer": payer, "active": m.active,
            "plan": m.plan, "effective": m.effective.isoformat() if m.effective else None,
            "terminated": m.terminated.isoformat() if m.terminated else None}
    claim_rows = []
    for c in claims or []:
        portal, payer = _portal(c.recipe)
        timeline = [_event(0, "received"), _event(2, "in_process")]
        final: dict[str, Any] = {"paid": c.paid}
        if c.outcome == "denied":
            final = {"paid": "0.00", "reason": "CO-50"}
        if c.outcome != "pended":
            timeline.append(_event(c.decide_after_days, c.outcome, **final))
        else:
            timeline.append(_event(c.decide_after_days, "pended"))
        claim_rows.append({"member_id": c.member_id, "claim_number": c.claim_number,
                           "portal": portal, "payer": payer,
                           "service_date": c.service_date.isoformat(), "billed": c.billed,
                           "submitted": c.service_date.isoformat(), "timeline": timeline})
    return {"accounts": {k: dict(v) for k, v in SANDBOX_ACCOUNTS.items()}, "cases": cases,
            "members": list(seen_members.values()), "claims": claim_rows}


def status_on(timeline: list[dict[str, Any]], submitted: date, today: date
              ) -> dict[str, Any] | None:
    """The timeline entry in force on `today`, or None before submission."""
    days = (today - submitted).days
    if days < 0:
        return None
    current = None
    for event in timeline:
        if int(event["day"]) <= days:
            current = event
    return current
