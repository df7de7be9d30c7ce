"""The prior-auth jobs. Module-level callables with ID-only arguments (they are pickled
into the vault's job store); PHI never enters a job's arguments or id.

- `check_pa(pa_id)`, job `pa-check:{id}`: look one PA up and act on it. The workflow plans
  the next check (risk-based cadence, business hours); the job then moves its own
  `next_run_time` there. It also checks the same payer's PAs due within 15 minutes (one
  portal log-in); their own jobs then only re-plan. Its trigger is an interval (the
  cadence's slowest step, at least an hour) only as a backstop, so the job is never "spent": it stays in the job store while it runs or waits
  in the pool, and a crash leaves it there with its planned time, which a restart then
  finds missed and runs (misfire_grace_time=None, coalesce).
- `sweep()`, every few minutes: the time rules (stalls, missed deadlines, weak approvals),
  a job for every open PA that lacks one (new PAs, or added by another process), and no
  job for a closed PA. The first sweep after a start also pulls any job whose check was
  cut off by a crash back to the vault's (missed) next_check_at.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta, timezone

from apscheduler.triggers.interval import IntervalTrigger

from app import clock
from app.identity import Session
from app.services import prior_auth as pa_svc
from automations.jobs.runtime import JobRuntime, current, running
from automations.workflows.pa_followup import evaluate_time_rules, run_checks

log = logging.getLogger(__name__)

CHECK_PREFIX = "pa-check:"
BATCH_AHEAD = timedelta(minutes=15)  # same-payer PAs due this soon join a check
SWEEP_ID = "pa-sweep"


def check_job_id(pa_id: int) -> str:
    return f"{CHECK_PREFIX}{pa_id}"


def check_pa(pa_id: int) -> None:
    with running() as rt:
        _check(rt, rt.system(), pa_id)


def _check(rt: JobRuntime, system: Session, pa_id: int) -> None:
    """Check the PA, batched with the same payer's PAs that are due soon (one portal
    log-in for all of them instead of one each)."""
    now = clock.now()
    batch = [pa_id]
    try:
        pa = pa_svc.get_prior_auth_unchecked(system, pa_id)
        if pa.status.is_terminal:
            return
        if pa.next_check_at is not None and pa.next_check_at > now + timedelta(seconds=1):
            return  # another PA's batch already checked it; the finally moves this job
        ahead = min(BATCH_AHEAD, rt.cadence.beyond)
        for other in pa_svc.open_pa_ids(system, due_by=now + ahead):
            if other != pa_id and pa_svc.get_prior_auth_unchecked(
                    system, other).payer_id == pa.payer_id:
                batch.append(other)
        summary = run_checks(system, rt.source(), pa_ids=batch, cadence=rt.cadence)
        log.info("pa-check %s (+%s batched): %s", pa_id, len(batch) - 1, summary.line())
    finally:
        # Never touch the scheduler once it is stopping: shutdown(wait=True) would hold
        # the job-store lock while waiting for this very job (a deadlock).
        if rt.scheduler is not None and not rt.stopping:
            for checked in batch:
                done = pa_svc.get_prior_auth_unchecked(system, checked)
                if done.status.is_terminal or done.next_check_at is None:
                    unschedule_check(rt.scheduler, checked)
                else:
                    schedule_check(rt.scheduler, checked, done.next_check_at)


def _fallback_seconds() -> float:
    """The trigger's own interval: a backstop only (each run re-plans its job), long
    enough never to fire while a check is still running."""
    return max(3600.0, current().cadence.beyond.total_seconds())


def schedule_check(scheduler: object, pa_id: int, when: datetime) -> None:
    """Move the PA's job to `when`, creating it if needed. A time in the past (missed while
    the scheduler was down) runs at once. Safe from inside a running job: APScheduler
    updates a job's store row under its job-store lock, and this waits for that lock."""
    from apscheduler.jobstores.base import JobLookupError
    from apscheduler.schedulers.base import BaseScheduler
    assert isinstance(scheduler, BaseScheduler)
    job_id = check_job_id(pa_id)
    if scheduler.get_job(job_id) is not None:
        try:
            scheduler.modify_job(job_id, next_run_time=when)
            return
        except JobLookupError:
            pass  # removed meanwhile (the PA closed); add it back below only if open
    scheduler.add_job(check_pa, IntervalTrigger(seconds=_fallback_seconds(),
                                                timezone=timezone.utc),
                      args=[pa_id], id=job_id, name=job_id, next_run_time=when,
                      replace_existing=True)


def unschedule_check(scheduler: object, pa_id: int) -> None:
    from apscheduler.jobstores.base import JobLookupError
    from apscheduler.schedulers.base import BaseScheduler
    assert isinstance(scheduler, BaseScheduler)
    try:
        scheduler.remove_job(check_job_id(pa_id))
    except JobLookupError:
        pass


def sweep() -> None:
    with running() as rt:
        summary = evaluate_time_rules(rt.system())
        if summary.tasks_created:
            log.info("pa-sweep: %s time-rule tasks", summary.tasks_created)
        if rt.scheduler is not None and not rt.stopping:
            sync_check_jobs(rt.scheduler, catch_up=not rt.swept)
            rt.swept = True


def sync_check_jobs(scheduler: object, *, catch_up: bool = False) -> int:
    """Give every open PA a job and drop the jobs of closed ones; returns jobs added or
    moved. Existing jobs are left where their own runs put them, except with `catch_up`
    (the first sweep after a start): a check that was running when the process died never
    re-planned its job, so the vault's earlier, missed next_check_at wins."""
    from apscheduler.schedulers.base import BaseScheduler
    assert isinstance(scheduler, BaseScheduler)
    system = current().system()
    now = clock.now()
    open_ids = set(pa_svc.open_pa_ids(system))
    existing = {job.id for job in scheduler.get_jobs() if job.id.startswith(CHECK_PREFIX)}
    for job_id in existing:
        if int(job_id[len(CHECK_PREFIX):]) not in open_ids:
            unschedule_check(scheduler, int(job_id[len(CHECK_PREFIX):]))
    added = 0
    for pa_id in sorted(open_ids):
        job_id = check_job_id(pa_id)
        if job_id in existing and not catch_up:
            continue
        pa = pa_svc.get_prior_auth_unchecked(system, pa_id)
        planned = pa.next_check_at or now
        if job_id in existing:
            if job_id in current().submitted:
                continue  # already run (or running) since this start: it re-plans itself
            job = scheduler.get_job(job_id)
            if job is None or job.next_run_time is None or job.next_run_time <= planned:
                continue
        schedule_check(scheduler, pa_id, planned)
        added += 1
    return added
