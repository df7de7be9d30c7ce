"""The sandbox payer portal: a real local web server (stdlib ThreadingHTTPServer, real
HTML) imitating three payer portals, so recipes and the engine are tested through the
production code path. Everything is in memory; nothing is written to disk.

Portals (one server, one path prefix each):
  /clearing/   multi-payer clearing portal: login, payer picker, then searches
               (Summit Medicare Advantage, Harbor Marketplace QHP)
  /northwind/  Northwind National Health: login + TOTP MFA, a results table
  /bluestem/   Bluestem State Medicaid: a plain form, a case detail page

Public API:
    from automations.sandbox_portal import (SandboxPortal, PaSeedRecord, MemberSeed,
        ClaimSeed, build_seed, SANDBOX_ACCOUNTS, FAULTS)
    seed = build_seed([PaSeedRecord(member_id, reference, recipe, submitted, outcome)])
    with SandboxPortal(seed, port=0, faults=["slow"]) as sandbox:   # thread, free port
        sandbox.url                  # 'http://127.0.0.1:PORT'
        sandbox.portal_url(recipe)   # base URL for a recipe's portal (store as credential)
        sandbox.set_fault("http_500", on=True, count=1, portal="northwind")
        sandbox.set_day(5)           # simulated today = real/app-clock today + 5 days
        sandbox.load_seed(seed); sandbox.reset()
    PaSeedRecord(..., fault="captcha", fault_on=day)  # one case's search fails (CASE_FAULTS)

Admin URLs (what the CLI-started server offers to other processes):
    /__admin/fault?name=NAME&on=1[&count=N][&seconds=S][&portal=P]
    /__admin/reset    /__admin/state
    /__admin/clock?day=N[&hours=H] | ?date=YYYY-MM-DD   (simulated offset from app.clock)
    POST /__admin/seed  with form field seed=<JSON from build_seed>
"""

from automations.sandbox_portal.seed import (
    CASE_FAULTS,
    CLEARING_PAYERS,
    OUTCOMES,
    RECIPE_PORTALS,
    SANDBOX_ACCOUNTS,
    ClaimSeed,
    MemberSeed,
    PaSeedRecord,
    build_seed,
)
from automations.sandbox_portal.server import FAULTS, SandboxPortal

__all__ = ["CASE_FAULTS", "CLEARING_PAYERS", "FAULTS", "OUTCOMES", "RECIPE_PORTALS", "SANDBOX_ACCOUNTS",
           "ClaimSeed", "MemberSeed", "PaSeedRecord", "SandboxPortal", "build_seed"]
