"""The prior-auth jobs. Module-level callables with ID-only arguments (they are pickled
into the vault's job store); PHI never enters a job's arguments or id.

- `sweep()` every few minutes: time rules (stalls, missed deadlines, weak approvals), then
  make sure every open PA has a `pa-check:{id}` job at its planned `next_check_at`, and
  none is left for a closed one.
- `check_pa(pa_id)`: look one PA up and act on it; the workflow plans the next check
  (risk-based cadence, business hours) and the job re-adds itself for that time.

Re-adding from inside the job is race-free: APScheduler removes a spent date job while
holding its job-store lock, and add_job waits for that lock. If the process dies between
the two, the sweep at the next start re-creates the job from the vault's next_check_at,
which is then in the past, so the missed check runs at once.
"""

from __future__ import annotations

import logging
from datetime import datetime, timezone

from apscheduler.triggers.date import DateTrigger

from app import clock
from app.services import prior_auth as pa_svc
from automations.jobs.runtime import current
from automations.workflows.pa_followup import evaluate_time_rules, run_checks

log = logging.getLogger(__name__)

CHECK_PREFIX = "pa-check:"
SWEEP_ID = "pa-sweep"


def check_job_id(pa_id: int) -> str:
    return f"{CHECK_PREFIX}{pa_id}"


def check_pa(pa_id: int) -> None:
    rt = current()
    system = rt.system()
    rt.running.add(pa_id)
    try:
        summary = run_checks(system, rt.source(), pa_ids=[pa_id], cadence=rt.cadence)
    finally:
        rt.running.discard(pa_id)
    log.info("pa-check %s: %s", pa_id, summary.line())
    if rt.scheduler is not None:
        pa = pa_svc.get_prior_auth_unchecked(system, pa_id)
        if pa.next_check_at is not None and not pa.status.is_terminal:
            schedule_check(rt.scheduler, pa_id, pa.next_check_at)


def schedule_check(scheduler: object, pa_id: int, when: datetime) -> None:
    """Upsert the PA's date job. A run time in the past (missed while the scheduler was
    down) runs at once."""
    from apscheduler.schedulers.base import BaseScheduler
    assert isinstance(scheduler, BaseScheduler)
    job_id = check_job_id(pa_id)
    scheduler.add_job(check_pa, DateTrigger(run_date=when, timezone=timezone.utc),
                      args=[pa_id], id=job_id, name=job_id, replace_existing=True)


def sweep() -> None:
    rt = current()
    system = rt.system()
    summary = evaluate_time_rules(system)
    if summary.tasks_created:
        log.info("pa-sweep: %s time-rule tasks", summary.tasks_created)
    if rt.scheduler is not None:
        sync_check_jobs(rt.scheduler)


def sync_check_jobs(scheduler: object) -> int:
    """Reconcile the job store with the vault; returns how many jobs were added/moved."""
    from apscheduler.schedulers.base import BaseScheduler
    assert isinstance(scheduler, BaseScheduler)
    rt = current()
    system = rt.system()
    now = clock.now()
    wanted: dict[str, datetime] = {}
    for pa_id in pa_svc.open_pa_ids(system):
        pa = pa_svc.get_prior_auth_unchecked(system, pa_id)
        wanted[check_job_id(pa_id)] = pa.next_check_at or now
    touched = 0
    existing = {job.id: job for job in scheduler.get_jobs() if job.id.startswith(CHECK_PREFIX)}
    for job_id, job in existing.items():
        if job_id not in wanted:
            scheduler.remove_job(job_id)
    for job_id, when in wanted.items():
        if int(job_id[len(CHECK_PREFIX):]) in rt.running:
            continue  # its job re-adds itself when the check finishes
        job = existing.get(job_id)
        if job is not None and job.next_run_time is not None and \
                job.next_run_time.astimezone(timezone.utc) == when:
            continue
        schedule_check(scheduler, int(job_id[len(CHECK_PREFIX):]), when)
        touched += 1
    return touched
