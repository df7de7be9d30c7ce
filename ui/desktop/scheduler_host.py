"""The desktop app hosts the vault's scheduled jobs while it is open (issue 12).

The same APScheduler jobs as `offhold run` (automations.jobs), started off the GUI thread
on the worker; the jobs themselves run on APScheduler's own threads, never the GUI's.
Only one scheduler runs a vault's jobs: when `offhold run` (or another app) holds the
vault's scheduler lock, this host leaves the jobs to it and tries again every minute, so
the app takes over when `offhold run` stops. Stopped at logout and when the app closes.

Its state is shown in the main window (the status bar's "Scheduled jobs" item): where
the jobs run (here, held by `offhold run` on a machine since a time, or stopped), and,
while they run here, each job's last run and result and its next run. Results reach the
GUI thread through a queued signal; the job list is read on the worker.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from PySide6.QtCore import QObject, QTimer, Signal

from ui.desktop.worker import Worker

log = logging.getLogger(__name__)

RETRY_MS = 60_000
STOP_SECONDS = 30.0  # running jobs get this long to finish when the app stops hosting

HERE, ELSEWHERE, STOPPED, FAILED = "here", "elsewhere", "stopped", "failed"


@dataclass(frozen=True)
class JobRun:
    """A job's last run in this app (times are aware, UTC) and its result: "ok",
    "missed" (its time passed while nothing ran it) or "failed (ErrorType)"."""

    at: datetime
    result: str


@dataclass(frozen=True)
class JobInfo:
    job_id: str
    next_run: datetime | None  # None: paused
    last: JobRun | None


class SchedulerHost(QObject):
    status_changed = Signal(str)  # the status line, e.g. "Scheduled jobs run here"
    jobs_changed = Signal()  # a job ran here (see `last_runs`)
    _job_event = Signal(str, object, str)  # from APScheduler's threads, queued to ours

    def __init__(self, vault: Any, worker: Worker, *, retry_ms: int = RETRY_MS,
                 start: Callable[[Any], Any] | None = None,
                 stop: Callable[[Any, float], bool | None] | None = None,
                 parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.vault = vault
        self.worker = worker
        self._start_fn = start or _start
        self._stop_fn = stop or _stop
        self.scheduler: Any = None
        self.state = STOPPED
        self.status = "Scheduled jobs: stopped"
        self.holder = ""  # who holds the jobs when they run elsewhere (from the lock file)
        self.last_runs: dict[str, JobRun] = {}
        # Set by the stop when a job outlived its wait: the job still uses the vault
        self.jobs_left_running = False
        self._starting = False
        self._stopped = False
        # Shared with the worker thread that starts it: a stop that comes while the start
        # is still running must still stop it before the vault closes.
        self._guard = threading.Lock()
        self._live: Any = None
        self._heard: Callable[[Any], None] | None = None  # our listener on the scheduler
        self._job_event.connect(self._job_ran)
        self.timer = QTimer(self)
        self.timer.setInterval(retry_ms)
        self.timer.timeout.connect(self.try_start)

    def start(self) -> None:
        self._stopped = False
        self.try_start()
        self.timer.start()

    def try_start(self) -> None:
        if self.scheduler is not None or self._starting or self._stopped:
            return
        self._starting = True
        self.worker.run(self._start_job, done=self._started, failed=self._refused, label="",
                        phi=False)

    def _start_job(self) -> Any:  # on the worker thread
        from automations.jobs import SchedulerBusy
        try:
            scheduler = self._start_fn(self.vault)
        except SchedulerBusy as busy:
            # Returned, not raised: `offhold run` holding the jobs is a normal state, and
            # the worker would show a raised KnownError as an error banner (every minute).
            return busy
        with self._guard:
            if not self._stopped:
                self._live = scheduler
                self._listen(scheduler)
                return scheduler
        self._stop_fn(scheduler, STOP_SECONDS)  # stopped (logout, closing) while starting
        return None

    def _listen(self, scheduler: Any) -> None:
        """Each run's result, as it ends (on APScheduler's thread: only a signal here)."""
        from apscheduler.events import EVENT_JOB_ERROR, EVENT_JOB_EXECUTED, EVENT_JOB_MISSED
        add = getattr(scheduler, "add_listener", None)
        if add is None:  # a stand-in scheduler in tests
            return

        def heard(event: Any) -> None:
            if event.code == EVENT_JOB_MISSED:
                result = "missed"
            elif event.exception is not None:  # the type only: a message may carry PHI
                result = f"failed ({type(event.exception).__name__})"
            else:
                result = "ok"
            self._job_event.emit(str(event.job_id), event.scheduled_run_time, result)

        add(heard, EVENT_JOB_EXECUTED | EVENT_JOB_ERROR | EVENT_JOB_MISSED)
        self._heard = heard

    def _job_ran(self, job_id: str, at: Any, result: str) -> None:
        from app import clock
        when = at if isinstance(at, datetime) else clock.now()
        self.last_runs[job_id] = JobRun(when, result)
        self.jobs_changed.emit()

    def _started(self, scheduler: Any) -> None:
        from automations.jobs import SchedulerBusy
        self._starting = False
        if isinstance(scheduler, SchedulerBusy):  # offhold run has the jobs: try again later
            self.holder = _holder(str(scheduler))
            self._set(ELSEWHERE, f"Scheduled jobs: held by {self.holder}")
            return
        if scheduler is None:
            return
        self.scheduler = scheduler
        self.timer.stop()
        self.holder = ""
        self._set(HERE, "Scheduled jobs run here")

    def _refused(self, error: BaseException) -> None:
        self._starting = False
        log.error("the scheduler could not start in the app (%s)", type(error).__name__)
        self._set(FAILED, "Scheduled jobs: not running (they could not start; see the log)")

    def jobs(self, done: Callable[[list[JobInfo]], None]) -> None:
        """Every job with its next run and its last run here, read on the worker (the job
        store is in the vault); `done` gets [] unless the jobs run here."""
        scheduler, runs = self.scheduler, dict(self.last_runs)
        if scheduler is None:
            done([])
            return

        def read() -> list[JobInfo]:
            return sorted((JobInfo(j.id, getattr(j, "next_run_time", None), runs.get(j.id))
                           for j in scheduler.get_jobs()), key=lambda j: j.job_id)

        self.worker.run(read, done=done, label="", phi=False)

    def stop(self, wait_seconds: float = STOP_SECONDS) -> None:
        """Stop hosting; the stop (which gives running jobs up to `wait_seconds` to
        finish) runs on the worker, so the caller's worker.wait() or shutdown() waits for
        it before the vault closes."""
        with self._guard:
            self._stopped = True
            scheduler, self._live = self._live, None
        self.timer.stop()
        self.scheduler = None
        heard, self._heard = self._heard, None
        if scheduler is not None and heard is not None:
            scheduler.remove_listener(heard)  # no signal to a host that may be gone
        if scheduler is not None:
            wait = max(0.0, wait_seconds)

            def stopping() -> None:  # on the worker: the caller's wait covers it
                if self._stop_fn(scheduler, wait) is False:
                    self.jobs_left_running = True  # the vault must stay open for it

            self.worker.run(stopping, phi=False)
        self._set(STOPPED, "Scheduled jobs: stopped")

    def _set(self, state: str, status: str) -> None:
        self.state = state
        if status != self.status:
            self.status = status
            self.status_changed.emit(status)


def _holder(message: str) -> str:
    """'offhold run, pid 42, on HOST since ...' from SchedulerBusy's message (the lock
    file's line, between the first parentheses)."""
    start, end = message.find("("), message.find(")")
    return message[start + 1:end] if 0 <= start < end else "another process"


def _start(vault: Any) -> Any:
    from automations.jobs import start_scheduler
    return start_scheduler(vault, holder="desktop app")


def _stop(scheduler: Any, wait_seconds: float) -> bool:
    from automations.jobs import stop_scheduler
    return stop_scheduler(scheduler, wait_seconds=wait_seconds)
