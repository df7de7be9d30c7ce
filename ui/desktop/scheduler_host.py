"""The desktop app hosts the vault's scheduled jobs while it is open (issue 12).

The same APScheduler jobs as `offhold run` (automations.jobs), started off the GUI thread
on the worker; the jobs themselves run on APScheduler's own threads, never the GUI's.
Only one scheduler runs a vault's jobs: when `offhold run` (or another app) holds the
vault's scheduler lock, this host leaves the jobs to it and tries again every minute, so
the app takes over when `offhold run` stops. Stopped at logout and when the app closes.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, QTimer, Signal

from ui.desktop.worker import Worker

log = logging.getLogger(__name__)

RETRY_MS = 60_000


class SchedulerHost(QObject):
    status_changed = Signal(str)  # "running here" | "run by offhold run, pid 42" | "stopped"

    def __init__(self, vault: Any, worker: Worker, *, retry_ms: int = RETRY_MS,
                 start: Callable[[Any], Any] | None = None,
                 stop: Callable[[Any], None] | None = None,
                 parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.vault = vault
        self.worker = worker
        self._start_fn = start or _start
        self._stop_fn = stop or _stop
        self.scheduler: Any = None
        self.status = "stopped"
        self._starting = False
        self._stopped = False
        # Shared with the worker thread that starts it: a stop that comes while the start
        # is still running must still stop it before the vault closes.
        self._guard = threading.Lock()
        self._live: Any = None
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
        scheduler = self._start_fn(self.vault)
        with self._guard:
            if not self._stopped:
                self._live = scheduler
                return scheduler
        self._stop_fn(scheduler)  # stopped (logout, closing) while it was starting
        return None

    def _started(self, scheduler: Any) -> None:
        self._starting = False
        if scheduler is None:
            return
        self.scheduler = scheduler
        self.timer.stop()
        self._set("running here")

    def _refused(self, error: BaseException) -> None:
        from automations.jobs import SchedulerBusy
        self._starting = False
        if isinstance(error, SchedulerBusy):  # offhold run has the jobs: try again later
            self._set(str(error))
            return
        log.error("the scheduler could not start in the app (%s)", type(error).__name__)
        self._set("not running (it could not start; see the log)")

    def stop(self) -> None:
        """Stop hosting; the stop (which lets running jobs finish) runs on the worker, so
        the caller's worker.wait() or shutdown() waits for it before the vault closes."""
        with self._guard:
            self._stopped = True
            scheduler, self._live = self._live, None
        self.timer.stop()
        self.scheduler = None
        if scheduler is not None:
            self.worker.run(lambda: self._stop_fn(scheduler), phi=False)
        self._set("stopped")

    def _set(self, status: str) -> None:
        if status != self.status:
            self.status = status
            self.status_changed.emit(status)


def _start(vault: Any) -> Any:
    from automations.jobs import start_scheduler
    return start_scheduler(vault, holder="desktop app")


def _stop(scheduler: Any) -> None:
    from automations.jobs import stop_scheduler
    stop_scheduler(scheduler, wait_seconds=30.0)
