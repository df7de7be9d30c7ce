"""Practice-wide jobs beside the PA checks: the queue sweep (overdue escalation, snoozed
tasks coming back) and the pre-visit eligibility check the day before each visit.
Module-level callables with no arguments, like every job in the vault's job store."""

from __future__ import annotations

import logging
from datetime import timedelta

from app import clock, queue
from app.identity import Session
from app.services import practice, vault_health
from automations.jobs.runtime import current, running
from automations.workflows.eligibility import check_upcoming_visits

log = logging.getLogger(__name__)

QUEUE_SWEEP_ID = "queue-sweep"
ELIGIBILITY_ID = "eligibility-previsit"
VAULT_CHECK_ID = "vault-check"
VAULT_CHECK_DAY, VAULT_CHECK_LOCAL_HOUR = "sun", 3  # weekly, when nobody is working
ELIGIBILITY_LOCAL_HOUR = 6  # before the front desk arrives, in the practice's time zone


def job_failed(job_id: str, error: BaseException) -> None:
    """A scheduled job raised: a visible task for the office manager, never only a log
    line. One task per job and day; the text names the job and the error type only (an
    error message could carry PHI)."""
    rt = current()
    system = Session.system(rt.vault, "scheduler")
    name = type(error).__name__
    task, created = queue.create_task(
        system, "automation_failure", f"job-error:{job_id}:{clock.now().date().isoformat()}",
        f"Scheduled job failed: {job_id}", priority=queue.PRIORITY_HIGH,
        subject_type="job", subject_id=job_id,
        draft=(f"The scheduled job {job_id} stopped with {name}. It will run again at its "
               "next time; if this repeats, check the job's inputs and the log (no patient "
               "data is logged)."),
        payload={"job_id": job_id, "error_type": name})
    if created:
        with rt.vault.write() as conn:
            queue.notify(conn, f"Scheduled job {job_id} failed ({name})", role="office_manager",
                         task_id=task.id, level="critical")


def queue_sweep() -> None:
    """Overdue tasks rise in priority and notify their role, then the owner; snoozed tasks
    whose time has come return to their queue."""
    with running() as rt:
        system = Session.system(rt.vault, QUEUE_SWEEP_ID)
        owner_after = timedelta(hours=int(practice.get_setting(system, "escalate_owner_hours")))
        escalated = queue.escalate_overdue(system, owner_after=owner_after)
        woke = queue.wake_snoozed(system)
        if escalated or woke:
            log.info("queue-sweep: %s escalated, %s woke", escalated, woke)


def eligibility_previsit() -> None:
    """Check coverage for every visit in the next day; gaps become front-desk tasks."""
    with running() as rt:
        created = check_upcoming_visits(Session.system(rt.vault, ELIGIBILITY_ID), days_ahead=1)
        log.info("eligibility-previsit: %s gap tasks", len(created))


def vault_check() -> None:
    """The weekly full integrity check. Its result is on the dashboard; a damaged vault
    also becomes a task for the owner, since corruption in a page nobody reads would
    otherwise go unnoticed until a backup is needed."""
    with running() as rt:
        system = Session.system(rt.vault, VAULT_CHECK_ID)
        result = vault_health.check_vault(system)
        if not result["ok"]:
            queue.create_task(
                system, "automation_failure", f"vault-check:{clock.now().date().isoformat()}",
                "The vault failed its weekly integrity check", priority=queue.PRIORITY_HIGH,
                role="owner", subject_type="job", subject_id=VAULT_CHECK_ID,
                draft=("The weekly integrity check found damage: " +
                       "; ".join(result["problems"][:3]) + ". Make no backup over a good "
                       "one; run 'offhold restore --drill' and restore the latest good backup."),
                payload={"job_id": VAULT_CHECK_ID, "problems": result["problems"][:5]})
