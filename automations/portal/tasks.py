"""Turning a failed portal check into the right visible task: no failure is only a log
line. One task per payer, recipe, failure kind and day: an outage that fails thirty PA
checks shows as one task (refreshed with the latest screenshot), not thirty."""

from __future__ import annotations

from datetime import timedelta

from app import clock, queue
from app.domain import Payer, Task
from app.identity import Session
from app.services import patients
from automations.portal.errors import (
    HumanHandoff,
    LookupIncomplete,
    PortalDisabled,
    PortalFailure,
    RecipeBroken,
)

_WHAT_TO_DO = {
    "portal_failure": "The portal could not be reached or was down. The check will run again "
                      "on schedule; if this keeps happening, check the portal in a browser.",
    "recipe_broken": "The portal's pages no longer match the recipe (a layout change). "
                     "Update the recipe YAML and test it with 'offhold recipe test FILE'. "
                     "The screenshot shows what the bot saw.",
    "human_handoff": "The portal needs a person (CAPTCHA, notice page, MFA or refused "
                     "log-in). Log in yourself, then re-run the check. The bot never tries "
                     "to get past these.",
}


def failure_task(session: Session, payer: Payer | int | str, recipe: str, error: PortalFailure,
                 *, kind: str = "pa_status", subject_type: str = "",
                 subject_id: str | int = "", patient_id: int | None = None) -> Task:
    """Create (or refresh) the portal_failure / recipe_broken / human_handoff task for this
    failure, with the screenshot as evidence. Idempotent per payer, recipe, failure kind and
    day, so an outage makes one task per portal, not one per PA. patient_id is accepted
    for the caller's convenience but the task is about the portal, so it is not linked to a
    patient (a portal outage is not patient work)."""
    del patient_id
    if isinstance(payer, Payer):
        p = payer
    elif isinstance(payer, int):
        p = patients.get_payer(session, payer)
    else:
        p = patients.find_payer(session, payer)
    task_kind = error.task_kind
    day = clock.now().date().isoformat()
    if isinstance(error, RecipeBroken):
        title = f"Portal recipe '{recipe}' no longer matches the {p.name} portal"
        priority, due = queue.PRIORITY_HIGH, timedelta(hours=24)
    elif isinstance(error, HumanHandoff):
        title = f"{p.name} portal needs a person"
        priority, due = queue.PRIORITY_HIGH, timedelta(hours=8)
    elif isinstance(error, LookupIncomplete):
        title = f"{p.name}: portal check needs a value the record lacks"
        priority, due = queue.PRIORITY_NORMAL, timedelta(hours=24)
    elif isinstance(error, PortalDisabled):
        title = f"{p.name}: portal check not run"
        priority, due = queue.PRIORITY_NORMAL, timedelta(hours=24)
    else:
        title = f"{p.name} portal unavailable"
        priority, due = queue.PRIORITY_NORMAL, timedelta(hours=8)
    evidence = []
    if error.screenshot:
        evidence.append(queue.NewEvidence(label=f"Portal screenshot ({error.outcome})",
                                          excerpt=error.reason, blob=error.screenshot,
                                          mime="image/png"))
    what = ("Add the missing value to the patient's or the PA's record (the recipe searches "
            "the portal by it), then check again." if isinstance(error, LookupIncomplete)
            else _WHAT_TO_DO[task_kind])
    draft = f"{error}\n\n{what}"
    key = f"portal:{task_kind}:{p.id}:{recipe or '-'}:{kind}:{day}"
    if isinstance(error, LookupIncomplete):  # the record's to fix: one task per record
        key += f":{subject_type}:{subject_id}"
    task, _created = queue.create_task(
        session, task_kind, key, title,
        draft=draft, due_at=clock.now() + due, priority=priority, subject_type="payer",
        subject_id=p.id, evidence=evidence,
        payload={"payer_id": p.id, "recipe": recipe, "kind": kind, "outcome": error.outcome,
                 "reason": error.reason, "step": error.step, "attempts": error.attempts,
                 "last_subject_type": subject_type, "last_subject_id": str(subject_id)})
    return task
