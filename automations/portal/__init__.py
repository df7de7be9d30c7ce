"""The portal recipe engine: turns a declarative YAML recipe into Playwright steps against
a payer portal, on one shared system Chromium, with bounded concurrency and a per-portal
rate limit. Evidence (PNG screenshots) comes back in memory; nothing is written to disk.

Public API (other areas code against this; everything else in the package is private):

    from automations.portal import (PortalEngine, PortalQuery, CheckResult, CheckOutcome,
        PortalFailure, PortalUnavailable, RecipeBroken, HumanHandoff, PortalDisabled,
        RecipeInvalid, load_recipes, failure_task, PA_STATUSES)

    with PortalEngine.from_settings(session) as engine:          # one per process is ideal
        result = engine.check(session, payer, "pa_status",       # payer: Payer | id | name
                              PortalQuery(member_id="M123", reference="PA-0001",
                                          subject_type="prior_auth", subject_id=17,
                                          patient_id=4))
        result.status        # normalized, the app's PAStatus values: 'submitted' | 'pending'
                             #   | 'info_requested' | 'approved' | 'partially_approved'
                             #   | 'denied' | 'cancelled' | 'expired'  (None: no such case)
        result.status_text   # the payer's own words, e.g. 'Approved – 12 units through 03/31'
        result.wording       # the text of the recipe's `wording` field (else status_text)
        result.units, result.valid_from, result.valid_through, result.fields
        result.evidence()    # -> app.queue.NewEvidence(blob=<png>, mime='image/png')

    # Several look-ups: grouped per payer, one login per group, groups run concurrently
    # (portal_concurrency). Never raises PortalFailure; each outcome holds a result or error.
    outcomes = engine.check_many(session, [(payer, "pa_status", query), ...])
    for o in outcomes:
        if o.error is not None:
            failure_task(session, o.payer, o.recipe, o.error, subject_type=..., subject_id=...)

Failures (all subclass PortalFailure, a KnownError with a PHI-free message and an optional
`.screenshot` PNG): PortalUnavailable (timeout, HTTP 5xx, maintenance, session that keeps
expiring; retried with backoff first) -> task `portal_failure`; RecipeBroken (a sentinel or
selector missing: the page changed) -> `recipe_broken`; HumanHandoff (CAPTCHA, interstitial,
MFA it cannot pass, refused credentials; never retried, never bypassed) -> `human_handoff`.
PortalDisabled (payers.portal_enabled is off) and LookupIncomplete (the recipe searches by a
value the query lacks, e.g. a DOB) are raised before any visit.
`failure_task(...)` turns any of them into the right visible task with the screenshot as
evidence; call it for every failed check so no failure is silent.

Every look-up is audited as `portal.visit` (payer id, recipe, kind, outcome, normalized
status, attempts; never member IDs or names). Credentials and TOTP seeds come from the vault
(app.services.portal_credentials); the engine reads them itself.

Threading: the engine runs Playwright's async API on its own event-loop thread; `check`
and `check_many` are blocking and safe to call from any thread (GUI worker, APScheduler).
Vault reads and audit writes happen on the caller's thread.
"""

from automations.portal.engine import CheckOutcome, PortalEngine, PortalQuery
from automations.portal.errors import (
    HumanHandoff,
    LookupIncomplete,
    OffSiteRefused,
    PortalDisabled,
    PortalFailure,
    PortalUnavailable,
    RecipeBroken,
    RecipeInvalid,
)
from automations.portal.recipes import (
    CLAIM_STATUSES,
    ELIGIBILITY_STATUSES,
    KIND_STATUSES,
    PA_STATUSES,
    Recipe,
    RecipeBook,
    builtin_recipes_dir,
    load_recipe_file,
    load_recipes,
    origin_of,
    recipe_dirs,
)
from automations.portal.results import CheckResult
from automations.portal.tasks import failure_task

__all__ = [
    "CLAIM_STATUSES", "ELIGIBILITY_STATUSES", "KIND_STATUSES", "PA_STATUSES",
    "CheckOutcome", "CheckResult", "HumanHandoff", "LookupIncomplete", "OffSiteRefused",
    "PortalDisabled",
    "PortalEngine",
    "PortalFailure", "PortalQuery", "PortalUnavailable", "Recipe", "RecipeBook", "RecipeBroken",
    "RecipeInvalid", "builtin_recipes_dir", "failure_task", "load_recipe_file", "load_recipes",
    "origin_of", "recipe_dirs",
]
