"""Portal checks: a shared browser with reused log-in sessions and bounded concurrency,
against launching a browser per check, both against the sandbox portal in one run.

The sandbox runs with no faults (no slow pages) and the rate limit is off on both sides.
The per-launch side runs PER_LAUNCH checks one after another (the naive script) and its
per-check time is extrapolated to 100, to keep the run near a minute; the output says so.
"""

from __future__ import annotations

import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

from _common import report  # noqa: E402  (adds the repo root to sys.path)

from app.identity import init_vault
from app.services import patients
from app.services import portal_credentials as pc
from automations.portal import PortalEngine, PortalQuery
from automations.sandbox_portal import (
    RECIPE_PORTALS,
    SANDBOX_ACCOUNTS,
    PaSeedRecord,
    SandboxPortal,
    build_seed,
)

CHECKS = 100
PER_LAUNCH = 10
PAYERS = [("Summit Medicare Advantage", "medicare_advantage", "clearinghouse_summit"),
          ("Northwind National Health", "commercial", "northwind"),
          ("Bluestem State Medicaid", "medicaid", "bluestem_medicaid"),
          ("Harbor Marketplace QHP", "qhp", "clearinghouse_harbor")]


def main() -> int:
    today = date.today()
    records = [PaSeedRecord(f"BM{i:06d}", f"REF-{i:05d}", PAYERS[i % 4][2],
                            today - timedelta(days=i % 9), ("approved", "pended", "denied")[i % 3])
               for i in range(CHECKS)]
    with tempfile.TemporaryDirectory() as tmp, SandboxPortal(build_seed(records)) as sandbox:
        session, _ = init_vault(Path(tmp) / "vault", "Bench Practice", "owner",
                                "bench-password-1")
        for name, plan, recipe in PAYERS:
            payer = patients.add_payer(session, name, plan, portal_recipe=recipe,
                                       portal_enabled=True)
            acct = SANDBOX_ACCOUNTS[RECIPE_PORTALS[recipe][0]]
            pc.set_credentials(session, payer.id, url=sandbox.portal_url(recipe),
                               username=acct["username"], password=acct["password"],
                               totp_seed=acct.get("totp_seed"))
        requests = [(PAYERS[i % 4][0], "pa_status",
                     PortalQuery(r.member_id, r.reference)) for i, r in enumerate(records)]

        start = time.perf_counter()
        with PortalEngine(min_interval_seconds=0, concurrency=3) as shared:
            outcomes = shared.check_many(session, requests)
            launches = shared.launches
        shared_s = time.perf_counter() - start
        ok = sum(1 for o in outcomes if o.result is not None and o.result.found)
        if ok != CHECKS:
            print(f"shared run: only {ok}/{CHECKS} checks succeeded", file=sys.stderr)
            return 1

        start = time.perf_counter()
        with PortalEngine(min_interval_seconds=0, concurrency=1, shared_browser=False,
                          lookups_per_session=1) as naive:
            naive_outcomes = naive.check_many(session, requests[:PER_LAUNCH])
            naive_launches = naive.launches
        per_check = (time.perf_counter() - start) / PER_LAUNCH
        if not all(o.result is not None for o in naive_outcomes):
            print("per-launch run had failures", file=sys.stderr)
            return 1
        per_launch_s = per_check * CHECKS
        session.vault.close()
    print(f"shared: {CHECKS} checks in {shared_s:.1f}s ({launches} browser launch); "
          f"per-launch: {PER_LAUNCH} checks ({naive_launches} launches) at "
          f"{per_check:.2f}s each, extrapolated to {per_launch_s:.1f}s for {CHECKS}",
          flush=True)
    report("portal_shared_vs_per_launch", per_launch_s / shared_s, ">=", 4,
           f"per-launch side measured on {PER_LAUNCH} checks and extrapolated")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
