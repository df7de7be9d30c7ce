"""Typed portal failures. Messages are PHI-free (payer, recipe, step, reason), so they may
be logged, shown and put in task titles."""

from __future__ import annotations

from app.errors import KnownError


class PortalFailure(KnownError):
    """A failed look-up. `task_kind` names the visible task it becomes (see tasks.py)."""

    task_kind = "portal_failure"
    outcome = "failed"

    def __init__(self, reason: str, *, screenshot: bytes | None = None, step: str = "",
                 attempts: int = 1) -> None:
        super().__init__(reason + (f" (at step {step})" if step else ""))
        self.reason = reason
        self.screenshot = screenshot
        self.step = step
        self.attempts = attempts


class PortalUnavailable(PortalFailure):
    """Timeout, HTTP 5xx, maintenance notice, or a session that keeps expiring."""

    task_kind = "portal_failure"
    outcome = "portal_unavailable"


class RecipeBroken(PortalFailure):
    """The page is not the one the recipe expects: a sentinel or selector is missing."""

    task_kind = "recipe_broken"
    outcome = "recipe_broken"


class HumanHandoff(PortalFailure):
    """A CAPTCHA, an interstitial, MFA the bot cannot pass, or refused credentials.
    The bot never tries to defeat these; a person takes over."""

    task_kind = "human_handoff"
    outcome = "human_handoff"


class PortalDisabled(PortalFailure):
    """Portal checks are switched off for this payer (payers.portal_enabled), or it has no
    recipe or credentials; raised before any visit."""

    task_kind = "portal_failure"
    outcome = "disabled"


class LookupIncomplete(PortalFailure):
    """The recipe looks the case up by a value this query lacks (a DOB, an NPI...); said
    before any visit, so a missing value never reads as "no such case"."""

    task_kind = "portal_failure"
    outcome = "missing_lookup_value"


class OffSiteRefused(PortalFailure):
    """The visit would have left the payer's own origin: the recipe or its file does not
    match the payer's portal address, or the page tried to navigate to another site (the
    browser blocked it). Never retried; the recipe or the portal needs a person's look."""

    task_kind = "recipe_broken"
    outcome = "off_site_blocked"


class RecipeInvalid(KnownError):
    """A recipe file failed validation; the message names the file and the key."""

    def __init__(self, source: str, key: str, problem: str) -> None:
        super().__init__(f"{source}: {key}: {problem}" if key else f"{source}: {problem}")
        self.source = source
        self.key = key
        self.problem = problem
