"""What job functions need at run time (the open vault, the status source, the cadence).

APScheduler pickles a job's callable reference and arguments into the job store, so jobs
are module-level functions taking IDs only; everything else lives here, installed once by
the process that runs the scheduler."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from app.identity import Session
from app.pa.cadence import DEFAULT_CADENCE, Cadence
from app.vault.db import Vault
from automations.workflows.pa_followup import SYSTEM_ACTOR, StatusSource


@dataclass
class JobRuntime:
    vault: Vault
    source_factory: Callable[[Session], StatusSource]
    cadence: Cadence = DEFAULT_CADENCE
    sweep_seconds: float = 300.0
    scheduler: Any = None  # the running APScheduler scheduler
    lock: Any = None  # automations.jobs.lock.SchedulerLock, released by close()
    stopping: bool = False
    swept: bool = False  # the first sweep after a start catches up missed checks
    submitted: set[str] = field(default_factory=set)  # job ids run since this start
    _source: StatusSource | None = field(default=None, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _idle: threading.Condition = field(default_factory=threading.Condition, repr=False)
    _inflight: int = 0
    _release_when_idle: bool = False  # closed while jobs ran: the last one frees the lock

    def enter(self) -> None:
        with self._idle:
            self._inflight += 1

    def leave(self) -> None:
        with self._idle:
            self._inflight -= 1
            self._idle.notify_all()
            if self._inflight == 0 and self._release_when_idle:
                self._release_when_idle = False
                self._release_lock()

    def wait_idle(self, timeout: float) -> bool:
        """Wait for running jobs to finish (they may be mid portal visit)."""
        with self._idle:
            return self._idle.wait_for(lambda: self._inflight == 0, timeout)

    def system(self) -> Session:
        return Session.system(self.vault, SYSTEM_ACTOR)

    def source(self) -> StatusSource:
        """Built on first use (the portal engine starts Chromium), then shared."""
        with self._lock:
            if self._source is None:
                self._source = self.source_factory(self.system())
            return self._source

    def close(self) -> None:
        with self._lock:
            try:
                closer = getattr(self._source, "close", None)
                if callable(closer):
                    closer()
                self._source = None
            finally:
                # Last, and only once no job of ours runs: a stop whose wait ran out
                # leaves a job running, and while it runs no other scheduler (offhold run,
                # the app after a re-login) may take the vault's jobs. The last job out
                # releases the lock then.
                with self._idle:
                    if self._inflight:
                        self._release_when_idle = True
                    else:
                        self._release_lock()

    def _release_lock(self) -> None:
        lock, self.lock = self.lock, None
        if lock is not None:
            lock.release()


_current: JobRuntime | None = None


def install(runtime: JobRuntime | None) -> None:
    global _current
    _current = runtime


def current() -> JobRuntime:
    if _current is None:
        raise RuntimeError("no job runtime installed (start the scheduler through "
                           "automations.jobs.start_scheduler)")
    return _current


@contextmanager
def running() -> Iterator[JobRuntime]:
    """The runtime, counted as in flight while the job's body runs (stop waits for it)."""
    rt = current()
    rt.enter()
    try:
        yield rt
    finally:
        rt.leave()
