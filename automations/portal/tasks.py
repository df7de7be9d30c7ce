"""Turning a failed portal check into the right visible task."""

from __future__ import annotations

from app.domain import Payer, Task
from app.identity import Session
from automations.portal.errors import PortalFailure


def failure_task(session: Session, payer: Payer | int | str, recipe: str, error: PortalFailure,
                 *, kind: str = "pa_status", subject_type: str = "",
                 subject_id: str | int = "", patient_id: int | None = None) -> Task:
    """Create (or refresh) the portal_failure / recipe_broken / human_handoff task for this
    failure, with the screenshot as evidence. Idempotent per payer, recipe, failure kind and
    day, so an outage makes one task per portal, not one per PA."""
    raise NotImplementedError
