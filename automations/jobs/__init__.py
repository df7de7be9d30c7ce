"""APScheduler wiring. The job store lives inside the encrypted vault: a SQLAlchemy engine
whose `creator` opens a second keyed SQLCipher connection to the same file (the app keeps
its own connection; SQLite's WAL lets both work, one writer at a time).

Job defaults: `coalesce` (several missed runs become one), `misfire_grace_time=None`
(a run missed while the scheduler was down still runs, however late) and
`max_instances=1`. Together with the workflow's natural keys, a restart after a crash
catches up on every missed check and creates no duplicate task.

    scheduler = start_scheduler(vault, source_factory, blocking=False)   # GUI / tests
    run_forever(vault, source_factory)                                    # `offhold run`

Both take the vault's scheduler lock first (automations.jobs.lock): while one process runs
the jobs, another's start raises SchedulerBusy, so no job runs twice on one vault.
"""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Callable
from datetime import timedelta, timezone
from typing import Any

from apscheduler.events import EVENT_JOB_ERROR, EVENT_JOB_SUBMITTED, JobExecutionEvent
from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.schedulers.base import BaseScheduler
from apscheduler.schedulers.blocking import BlockingScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger
from sqlalchemy import create_engine
from sqlalchemy.engine import Engine
from sqlalchemy.pool import NullPool

from app import clock
from app.identity import Session
from app.pa.cadence import DEFAULT_CADENCE, Cadence
from app.vault.db import Vault, connect_raw
from automations.jobs import charge_jobs, outbox_jobs, pa_jobs, practice_jobs, report_jobs
from automations.jobs import import_jobs, patient_jobs
from automations.jobs import referral_jobs
from automations.jobs.lock import SchedulerBusy, SchedulerLock
from automations.jobs.runtime import JobRuntime, current, install
from automations.wiring import wire
from automations.workflows.pa_followup import PortalStatusSource, StatusSource

log = logging.getLogger(__name__)

JOB_TABLE = "apscheduler_jobs"

__all__ = ["JobRuntime", "SchedulerBusy", "SchedulerLock", "build_scheduler", "current", "jobstore_engine",
           "portal_source_factory", "run_forever", "start_scheduler", "stop_scheduler"]


def jobstore_engine(vault: Vault) -> Engine:
    """A SQLAlchemy engine on the vault file, keyed like the app's own connection.
    NullPool: each job-store operation opens and closes its own connection, so no
    connection is shared across APScheduler's threads."""
    import sqlcipher3
    path, key = vault.path, vault.key
    return create_engine("sqlite://", creator=lambda: connect_raw(path, key),
                         module=sqlcipher3.dbapi2, poolclass=NullPool)


def portal_source_factory(session: Session) -> StatusSource:
    """The production status source: the portal recipe engine from practice settings."""
    from automations.portal import PortalEngine
    engine = PortalEngine.from_settings(session)
    source = PortalStatusSource(engine)
    setattr(source, "close", engine.close)
    return source


def build_scheduler(vault: Vault,
                    source_factory: Callable[[Session], StatusSource] = portal_source_factory,
                    *, cadence: Cadence = DEFAULT_CADENCE, sweep_seconds: float = 300.0,
                    blocking: bool = False, workers: int = 2) -> BaseScheduler:
    """A scheduler (not started) on the vault's job store, with the runtime installed and
    the sweep queued to run at once (catch-up on every start), then every sweep_seconds."""
    wire()  # jobs approve automatic tasks: the same effects as every other face
    runtime = JobRuntime(vault=vault, source_factory=source_factory, cadence=cadence,
                         sweep_seconds=sweep_seconds)
    cls = BlockingScheduler if blocking else BackgroundScheduler
    scheduler: BaseScheduler = cls(
        jobstores={"default": SQLAlchemyJobStore(engine=jobstore_engine(vault),
                                                 tablename=JOB_TABLE)},
        # The sweep has its own thread so it never queues behind slow portal checks.
        executors={"default": ThreadPoolExecutor(max_workers=workers),
                   "sweep": ThreadPoolExecutor(max_workers=1)},
        job_defaults={"coalesce": True, "misfire_grace_time": None, "max_instances": 1},
        timezone=timezone.utc)
    runtime.scheduler = scheduler
    install(runtime)
    scheduler.add_listener(lambda event: runtime.submitted.add(event.job_id),
                           EVENT_JOB_SUBMITTED)
    scheduler.add_listener(_on_job_error, EVENT_JOB_ERROR)
    utc = timezone.utc
    zone = vault.query_one("SELECT timezone FROM practice WHERE id = 1")[0]
    soon = clock.now()
    jobs: list[tuple[Callable[[], None], Any, str, dict[str, Any]]] = [
        (pa_jobs.sweep, IntervalTrigger(seconds=sweep_seconds, timezone=utc),
         pa_jobs.SWEEP_ID, {"next_run_time": soon + timedelta(milliseconds=10)}),
        (practice_jobs.queue_sweep, IntervalTrigger(seconds=sweep_seconds, timezone=utc),
         practice_jobs.QUEUE_SWEEP_ID, {"next_run_time": soon + timedelta(milliseconds=20)}),
        (practice_jobs.eligibility_previsit,
         CronTrigger(hour=practice_jobs.ELIGIBILITY_LOCAL_HOUR, timezone=zone),
         practice_jobs.ELIGIBILITY_ID, {}),
        (outbox_jobs.outbox_send, IntervalTrigger(minutes=outbox_jobs.OUTBOX_MINUTES, timezone=utc),
         outbox_jobs.OUTBOX_ID, {}),
        (report_jobs.monthly_report,
         CronTrigger(day=report_jobs.MONTHLY_REPORT_DAY,
                     hour=report_jobs.MONTHLY_REPORT_LOCAL_HOUR, timezone=zone),
         report_jobs.MONTHLY_REPORT_ID, {}),
        (referral_jobs.referral_loops,
         CronTrigger(hour=referral_jobs.REFERRAL_LOOPS_LOCAL_HOUR, timezone=zone),
         referral_jobs.REFERRAL_LOOPS_ID, {}),
        (charge_jobs.charge_review,
         CronTrigger(hour=charge_jobs.CHARGE_REVIEW_LOCAL_HOUR, timezone=zone),
         charge_jobs.CHARGE_REVIEW_ID, {}),
        (practice_jobs.vault_check,
         CronTrigger(day_of_week=practice_jobs.VAULT_CHECK_DAY,
                     hour=practice_jobs.VAULT_CHECK_LOCAL_HOUR, timezone=zone),
         practice_jobs.VAULT_CHECK_ID, {}),
        (patient_jobs.schedule_recovery,
         IntervalTrigger(minutes=patient_jobs.SCHEDULE_RECOVERY_MINUTES, timezone=utc),
         patient_jobs.SCHEDULE_RECOVERY_ID, {}),
        (import_jobs.watched_folder,
         IntervalTrigger(minutes=import_jobs.WATCHED_FOLDER_MINUTES, timezone=utc),
         import_jobs.WATCHED_FOLDER_ID, {}),
        (patient_jobs.care_gap_check,
         CronTrigger(hour=patient_jobs.CARE_GAPS_LOCAL_HOUR, timezone=zone),
         patient_jobs.CARE_GAPS_ID, {}),
    ]
    # Every job: its id is its name, a restart replaces the stored one, one sweep thread.
    for func, trigger, job_id, extra in jobs:
        scheduler.add_job(func, trigger, id=job_id, name=job_id, replace_existing=True,
                          executor="sweep", **extra)
    return scheduler


def _on_job_error(event: JobExecutionEvent) -> None:
    try:
        practice_jobs.job_failed(event.job_id, event.exception)
    except Exception:  # the listener must never take the scheduler down with it
        log.exception("could not record the failure of job %s as a task", event.job_id)


def start_scheduler(vault: Vault,
                    source_factory: Callable[[Session], StatusSource] = portal_source_factory,
                    *, cadence: Cadence = DEFAULT_CADENCE, sweep_seconds: float = 300.0,
                    workers: int = 2, holder: str = "desktop app") -> BaseScheduler:
    """A background scheduler (desktop app, tests); stop it with stop_scheduler. Raises
    SchedulerBusy when another process runs this vault's scheduler."""
    lock = SchedulerLock(vault.path.parent, holder)
    lock.acquire()
    try:
        scheduler = build_scheduler(vault, source_factory, cadence=cadence,
                                    sweep_seconds=sweep_seconds, workers=workers)
        current().lock = lock
        log.info("scheduler starting (sweep every %ss)", sweep_seconds)
        scheduler.start()
    except BaseException:
        lock.release()
        raise
    return scheduler


def _stop(scheduler: BaseScheduler, runtime: JobRuntime, wait_seconds: float) -> bool:
    """Stop taking jobs, then let running ones finish. Not shutdown(wait=True): that holds
    the job-store lock while it waits, and a finishing job re-plans itself under it.
    False when a job still runs after the wait."""
    runtime.stopping = True
    if scheduler.running:
        scheduler.shutdown(wait=False)
    if not runtime.wait_idle(wait_seconds):
        log.warning("scheduler stopped with jobs still running after %ss", wait_seconds)
        return False
    return True


def stop_scheduler(scheduler: BaseScheduler, wait_seconds: float = 60.0) -> bool:
    """Stop it; True when no job of it still runs (False: one outlived the wait and still
    uses the vault, which must then stay open)."""
    try:
        runtime = current()
    except RuntimeError:
        if scheduler.running:
            scheduler.shutdown(wait=False)
        return True
    try:
        return _stop(scheduler, runtime, wait_seconds)
    finally:
        runtime.close()
        install(None)


def run_forever(vault: Vault,
                source_factory: Callable[[Session], StatusSource] = portal_source_factory,
                *, cadence: Cadence = DEFAULT_CADENCE, sweep_seconds: float = 300.0,
                on_started: Callable[[], Any] | None = None,
                lock: SchedulerLock | None = None) -> None:
    """`offhold run`: a blocking scheduler that stops cleanly on SIGTERM or Ctrl-C. Raises
    SchedulerBusy when the desktop app or another `offhold run` runs this vault's jobs.
    `lock`: the vault's scheduler lock, already taken by the caller (it is released here)."""
    from apscheduler.events import EVENT_SCHEDULER_STARTED
    lock = lock or SchedulerLock(vault.path.parent, "offhold run")
    lock.acquire()
    try:
        scheduler = build_scheduler(vault, source_factory, cadence=cadence,
                                    sweep_seconds=sweep_seconds, blocking=True)
    except BaseException:
        lock.release()
        raise
    runtime = current()
    runtime.lock = lock

    def stop(signum: int, frame: object) -> None:
        # Not from the signal handler itself: shutdown takes the scheduler's locks.
        threading.Thread(target=_stop, args=(scheduler, runtime, 0.0), daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    if on_started is not None:
        callback = on_started
        scheduler.add_listener(lambda event: callback(), EVENT_SCHEDULER_STARTED)
    try:
        scheduler.start()  # returns after shutdown
    except KeyboardInterrupt:
        _stop(scheduler, runtime, 0.0)
    finally:
        try:
            if not runtime.wait_idle(60.0):
                log.warning("stopping with portal checks still running")
            runtime.close()
        finally:
            install(None)
