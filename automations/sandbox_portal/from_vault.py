"""Seed the sandbox from a (demo) vault's own PAs, so a check shows real status changes
over simulated days. The scripted outcome is chosen per PA: the caller's rule, or a
stable spread by PA id (the demo wants a mix of approvals, denials and pends). A caller may
also script a fault for chosen PAs (`fault_for`: PA id -> (CASE_FAULTS name or '', the
payer's date it happens on or None for every day)); by default there is none."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Any

from app.identity import Session
from app.services import prior_auth as pa_svc
from automations.sandbox_portal.seed import RECIPE_PORTALS, PaSeedRecord, build_seed

SPREAD = ("approved", "pended", "denied", "info_requested_then_approved",
          "partially_approved", "approved")


def default_outcome(pa_id: int) -> tuple[str, int]:
    """(outcome, decide_after_days) by PA id: stable across runs."""
    return SPREAD[pa_id % len(SPREAD)], 2 + pa_id % 4


FaultRule = Callable[[int], tuple[str, date | None]]


def records_from_vault(session: Session,
                       outcome_for: Callable[[int], tuple[str, int]] | None = None,
                       fault_for: FaultRule | None = None) -> list[PaSeedRecord]:
    """One record per PA whose payer uses a sandbox recipe. Holds member IDs: memory only."""
    rule = outcome_for or default_outcome
    pas = {pa.id: pa for pa in pa_svc.list_prior_auths(session, limit=100000)}
    records = []
    for target in pa_svc.check_targets(session, sorted(pas)):
        if target.portal_recipe not in RECIPE_PORTALS or not target.member_id:
            continue
        outcome, days = rule(target.pa_id)
        fault, fault_on = fault_for(target.pa_id) if fault_for else ("", None)
        pa = pas[target.pa_id]
        records.append(PaSeedRecord(
            member_id=target.member_id, reference=target.payer_ref,
            recipe=target.portal_recipe, submitted=pa.submitted_at.date(), outcome=outcome,
            decide_after_days=days, units=pa.units,
            # every line's code, as a portal lists a multi-service request
            service_code=", ".join(dict.fromkeys(ln.code for ln in pa.services))
            or pa.cpt_code, fault=fault, fault_on=fault_on))
    return records


def seed_from_vault(session: Session,
                    outcome_for: Callable[[int], tuple[str, int]] | None = None,
                    fault_for: FaultRule | None = None) -> dict[str, Any]:
    return build_seed(records_from_vault(session, outcome_for, fault_for))
