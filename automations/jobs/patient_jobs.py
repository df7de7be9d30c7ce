"""Jobs that look after patients' visits: no-show and cancellation recovery with the
waitlist (every few minutes, so a freed slot is offered while it can still be filled) and
the nightly preventive care-gap check. Module-level callables with no arguments, like
every job in the vault's job store."""

from __future__ import annotations

import logging

from app.identity import Session
from automations.jobs.runtime import running
from automations.workflows import care_gaps
from automations.workflows.no_show import SYSTEM_ACTOR, run_recovery

log = logging.getLogger(__name__)

SCHEDULE_RECOVERY_ID = "schedule-recovery"
SCHEDULE_RECOVERY_MINUTES = 15
CARE_GAPS_ID = "care-gaps"
CARE_GAPS_LOCAL_HOUR = 2  # overnight: after the day's imports, before anyone reviews


def schedule_recovery() -> None:
    """Rebook drafts for missed visits and late cancellations; slot offers for freed slots;
    expired holds move to the next candidate."""
    with running() as rt:
        summary = run_recovery(Session.system(rt.vault, SYSTEM_ACTOR))
        if summary.rebooks_created or summary.offers_created:
            log.info("schedule-recovery: %d rebook drafts, %d slot offers",
                     summary.rebooks_created, summary.offers_created)


def care_gap_check() -> None:
    """Open gaps become care_gap tasks with a reminder draft; met ones close."""
    with running() as rt:
        summary = care_gaps.run_care_gaps(Session.system(rt.vault, care_gaps.SYSTEM_ACTOR))
        log.info("care-gaps: %d tasks created, %d closed", summary.tasks_created,
                 summary.tasks_closed)
