"""Practice-wide jobs beside the PA checks: the queue sweep (overdue escalation, snoozed
tasks coming back) and the pre-visit eligibility check the day before each visit.
Module-level callables with no arguments, like every job in the vault's job store."""

from __future__ import annotations

import logging
from datetime import timedelta

from app import queue
from app.identity import Session
from app.services import practice
from automations.jobs.runtime import current
from automations.workflows.eligibility import check_upcoming_visits

log = logging.getLogger(__name__)

QUEUE_SWEEP_ID = "queue-sweep"
ELIGIBILITY_ID = "eligibility-previsit"
ELIGIBILITY_LOCAL_HOUR = 6  # before the front desk arrives, in the practice's time zone


def queue_sweep() -> None:
    """Overdue tasks rise in priority and notify their role, then the owner; snoozed tasks
    whose time has come return to their queue."""
    rt = current()
    rt.enter()
    try:
        system = Session.system(rt.vault, QUEUE_SWEEP_ID)
        owner_after = timedelta(hours=int(practice.get_setting(system, "escalate_owner_hours")))
        escalated = queue.escalate_overdue(system, owner_after=owner_after)
        woke = queue.wake_snoozed(system)
        if escalated or woke:
            log.info("queue-sweep: %s escalated, %s woke", escalated, woke)
    finally:
        rt.leave()


def eligibility_previsit() -> None:
    """Check coverage for every visit in the next day; gaps become front-desk tasks."""
    rt = current()
    rt.enter()
    try:
        created = check_upcoming_visits(Session.system(rt.vault, ELIGIBILITY_ID), days_ahead=1)
        log.info("eligibility-previsit: %s gap tasks", len(created))
    finally:
        rt.leave()
