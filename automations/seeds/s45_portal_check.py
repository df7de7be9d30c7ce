"""Demo seed: yesterday's scheduled PA check, run for real: the PA follow-up workflow
(`run_checks`, as the scheduler runs it) through the portal engine and the system
Chromium against an in-process sandbox portal seeded from this vault, with the sandbox's
clock one day back (the PAs' statuses are yesterday's, see s40, so the demo's first
"Check now" still shows today's changes).

Three PAs have a fault scripted on that day, one per failure the engine reports: the
Harbor portal errors (HTTP 500, retried, then `portal_failure`), Bluestem's results page
has a new layout (the recipe's selectors are gone: `recipe_broken`) and Northwind asks
for a person (a CAPTCHA: `human_handoff`). Each is the last open PA of its payer, so the
payer's other look-ups in the same portal session are done first. The run ends with the
PA time rules, as every check does (s42 ran them already: nothing new comes of them).

Measured on two shared cores: 6.6 s for the whole check (one Chromium, 4 portals, 8
look-ups), 10 s with five other jobs running; under the 15 s a demo build may spend on
it, so the demo starts with these tasks rather than waiting for its first "Check now".
Without Chromium the engine reports every portal unavailable: the build still finishes,
with a `portal_failure` task per portal in place of the three scripted ones.
"""

from __future__ import annotations

import random
from datetime import date, timedelta

from app import clock
from app.identity import Session
from app.services import patients
from app.services import prior_auth as pa_svc
from automations.portal import PortalEngine
from automations.sandbox_portal import SandboxPortal
from automations.sandbox_portal.from_vault import seed_from_vault
from automations.seeds.s30_portal import SANDBOX_BASE, store_logins
from automations.workflows.pa_followup import SYSTEM_ACTOR, PortalStatusSource, run_checks

ORDER = 45

# recipe -> the scripted fault on its payer's last open PA
DEMO_FAULTS = {"clearinghouse_harbor": "http_500", "bluestem_medicaid": "layout_changed",
               "northwind": "captcha"}


def seed(session: Session, rng: random.Random) -> None:
    del rng
    now = clock.now()
    yesterday = now.date() - timedelta(days=1)  # the sandbox counts days in UTC
    faults = _faulted(session)

    def fault_for(pa_id: int) -> tuple[str, date | None]:
        return (faults[pa_id], yesterday) if pa_id in faults else ("", None)

    seed_data = seed_from_vault(session, fault_for=fault_for)
    system = Session.system(session.vault, SYSTEM_ACTOR)
    with SandboxPortal(seed_data) as sandbox:
        sandbox.set_date(yesterday)
        store_logins(session, sandbox.url)
        try:
            # No pause between look-ups (the sandbox is local) and short waits for a
            # changed page; everything else as the practice's settings say.
            with PortalEngine.from_settings(session, min_interval_seconds=0,
                                            backoff_seconds=0.2,
                                            selector_timeout_seconds=1.5) as engine:
                run_checks(system, PortalStatusSource(engine))
        finally:
            store_logins(session, SANDBOX_BASE)


def _faulted(session: Session) -> dict[int, str]:
    """PA id -> fault: each DEMO_FAULTS payer's last open PA."""
    by_recipe = {p.portal_recipe: p.id for p in patients.list_payers(session)
                 if p.portal_recipe in DEMO_FAULTS}
    last: dict[int, int] = {}
    for pa_id in pa_svc.open_pa_ids(session):
        pa = pa_svc.get_prior_auth_unchecked(session, pa_id)
        last[pa.payer_id] = pa_id
    return {last[payer_id]: DEMO_FAULTS[recipe] for recipe, payer_id in by_recipe.items()
            if payer_id in last}
