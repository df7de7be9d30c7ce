"""The engine (public surface; implementation follows in this module)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from app.domain import Payer
from app.identity import Session
from automations.portal.errors import PortalFailure
from automations.portal.recipes import RecipeBook
from automations.portal.results import CheckResult


@dataclass(frozen=True)
class PortalQuery:
    """What to look up. member_id/reference are used only inside the browser, never logged.
    subject_type/subject_id/patient_id tie the audit row to the caller's record."""

    member_id: str
    reference: str = ""
    dob: date | None = None
    claim_number: str = ""
    service_date: date | None = None
    subject_type: str = ""
    subject_id: str | int = ""
    patient_id: int | None = None


@dataclass
class CheckOutcome:
    """One look-up in check_many: exactly one of result / error is set."""

    payer_id: int
    payer: Payer | None
    recipe: str
    kind: str
    query: PortalQuery
    result: CheckResult | None = None
    error: PortalFailure | None = None


class PortalEngine:
    """One shared headless Chromium, a fresh context per portal session.

    concurrency: portal sessions at once (setting portal_concurrency);
    min_interval_seconds: gap between look-ups on the same portal (0 turns it off);
    shared_browser=False launches a browser per portal session (for the bench only);
    attempts / backoff_seconds: retries of PortalUnavailable (backoff doubles);
    timeout_seconds / selector_timeout_seconds override the recipe's when given (tests).
    """

    def __init__(self, *, recipes: RecipeBook | None = None, chromium_path: str | None = None,
                 concurrency: int = 3, min_interval_seconds: float = 2.0,
                 shared_browser: bool = True, attempts: int = 3, backoff_seconds: float = 1.0,
                 timeout_seconds: float | None = None,
                 selector_timeout_seconds: float | None = None,
                 lookups_per_session: int = 10) -> None:
        raise NotImplementedError

    @classmethod
    def from_settings(cls, session: Session, **overrides: Any) -> "PortalEngine":
        """Build from practice settings (chromium_path, portal_concurrency,
        portal_min_interval_seconds, recipes_dir)."""
        raise NotImplementedError

    def __enter__(self) -> "PortalEngine":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def check(self, session: Session, payer: Payer | int | str, kind: str,
              query: PortalQuery) -> CheckResult:
        """One look-up; raises a PortalFailure subclass on failure (audited either way)."""
        raise NotImplementedError

    def check_many(self, session: Session,
                   requests: list[tuple[Payer | int | str, str, PortalQuery]]
                   ) -> list[CheckOutcome]:
        """Many look-ups, in input order; failures are returned, not raised."""
        raise NotImplementedError

    def close(self) -> None:
        """Close the browser and the engine thread; idempotent."""
        raise NotImplementedError
