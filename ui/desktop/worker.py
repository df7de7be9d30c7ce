"""The one worker helper: every service call that may take time runs here, off the GUI
thread, on a QThreadPool (after Picard's util/thread.py and Anki's CollectionOp).

- `run(fn, done=, failed=, label=, progress=)` runs `fn` on the pool. With `progress=True`
  `fn` gets a `progress(done, total)` callback, shown in the status bar's progress bar.
- Results and errors are delivered on the GUI thread through queued signals; a worker
  never touches a widget.
- `KnownError`s go to the message bridge as clear messages; anything else is a bug and
  goes to the bridge's crash report (no PHI). `failed` is called either way so the
  caller can reset its widgets.
- While the app is locked (`locked = True`), results that may hold PHI are dropped on
  delivery, so a job that finishes after an auto-lock cannot refill the screen.
- `synchronous = True` (tests) runs jobs inline: the fake pool.
- `shutdown()` (app exit, test teardown) waits for the pool, then drops every result not
  yet delivered, so no callback reaches widgets that are gone; a job still running after
  the wait is orphaned, its result ignored when it ends.
"""

from __future__ import annotations

import weakref
from typing import Any, Callable

from PySide6.QtCore import QObject, QRunnable, QThreadPool, Signal, Slot

from app.errors import KnownError
from ui.desktop.messages import MessageBridge

Done = Callable[[Any], None]
Failed = Callable[[BaseException], None]
Progress = Callable[[int, int], None]


class _Delivery(QObject):
    """Lives on the GUI thread; its signals are emitted from the pool thread and, being
    connected to its own slots, arrive queued on the GUI thread."""

    finished = Signal(object)
    errored = Signal(object)
    progressed = Signal(int, int)

    def __init__(self, worker: "Worker", label: str, done: Done | None, failed: Failed | None,
                 phi: bool) -> None:
        super().__init__()
        self.worker, self.label, self.done, self.failed, self.phi = (
            worker, label, done, failed, phi)
        self.dropped = False
        self.finished.connect(self._on_finished)
        self.errored.connect(self._on_errored)
        self.progressed.connect(self._on_progress)

    def drop(self) -> None:
        """Forget the callbacks: whatever arrives later is ignored."""
        self.dropped = True
        self.done = self.failed = None

    def _drop_arrival(self) -> bool:
        if not self.dropped:
            return False
        _ORPHANS.discard(self)
        self.deleteLater()
        return True

    @Slot(object)
    def _on_finished(self, result: Any) -> None:
        if self._drop_arrival():
            return
        try:
            if self.done is not None and not (self.phi and self.worker.locked):
                self.done(result)
        except Exception as exc:  # a bug in showing the result: report it, keep running
            self.worker.bridge.crash(exc)
        finally:
            self.worker._job_ended(self)

    @Slot(object)
    def _on_errored(self, exc: BaseException) -> None:
        if self._drop_arrival():
            return
        try:
            self.worker._deliver_error(self, exc)
        finally:
            self.worker._job_ended(self)

    @Slot(int, int)
    def _on_progress(self, done: int, total: int) -> None:
        if not self.dropped:
            self.worker.progress.emit(self.label, done, total)


# Deliveries of jobs that outlived a shutdown: kept alive (their job still emits on them)
# until their result arrives on the GUI thread, where they are deleted.
_ORPHANS: set[_Delivery] = set()


class _Job(QRunnable):
    def __init__(self, fn: Callable[..., Any], delivery: _Delivery, with_progress: bool) -> None:
        super().__init__()
        self.fn, self.delivery, self.with_progress = fn, delivery, with_progress
        self.setAutoDelete(True)

    def run(self) -> None:  # on a pool thread: no widgets here, only signal emission
        try:
            if self.with_progress:
                result = self.fn(progress=self.delivery.progressed.emit)
            else:
                result = self.fn()
        except BaseException as exc:  # delivered as a typed error on the GUI thread
            self.delivery.errored.emit(exc)
        else:
            self.delivery.finished.emit(result)


class Worker(QObject):
    """Runs jobs on a QThreadPool and reports on the GUI thread."""

    busy_changed = Signal(int)  # jobs in flight
    progress = Signal(str, int, int)  # label, done, total
    # Every worker not yet shut down, so test teardown can stop the ones a test left.
    instances: "weakref.WeakSet[Worker]" = weakref.WeakSet()

    def __init__(self, bridge: MessageBridge, pool: QThreadPool | None = None,
                 synchronous: bool = False, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.bridge = bridge
        self.pool = pool or QThreadPool(self)
        self.synchronous = synchronous
        self.locked = False
        self.closed = False
        self._live: set[_Delivery] = set()
        Worker.instances.add(self)

    @property
    def active(self) -> int:
        return len(self._live)

    def run(self, fn: Callable[..., Any], *, done: Done | None = None,
            failed: Failed | None = None, label: str = "", progress: bool = False,
            phi: bool = True) -> None:
        """Run `fn()` (or `fn(progress=cb)`) off the GUI thread. `phi=False` marks results
        that are safe to deliver while the app is locked (unlock, notifications)."""
        if self.closed:  # shut down: nothing would deliver the result
            return
        delivery = _Delivery(self, label, done, failed, phi)
        self._live.add(delivery)
        self.busy_changed.emit(len(self._live))
        if self.synchronous:
            _Job(fn, delivery, progress).run()  # signals fire directly on this thread
        else:
            self.pool.start(_Job(fn, delivery, progress))

    def _deliver_error(self, delivery: _Delivery, exc: BaseException) -> None:
        if isinstance(exc, KnownError):
            if not (delivery.phi and self.locked):
                self.bridge.error(str(exc))
        else:
            self.bridge.crash(exc)
        if delivery.failed is not None:
            delivery.failed(exc)

    def _job_ended(self, delivery: _Delivery) -> None:
        self._live.discard(delivery)
        delivery.deleteLater()
        self.busy_changed.emit(len(self._live))

    def wait(self, msecs: int = 30000) -> bool:
        """Wait for pool threads to finish (shutdown); deliveries still need the loop."""
        return bool(self.pool.waitForDone(msecs))

    def shutdown(self, msecs: int = 30000) -> bool:
        """Refuse new jobs, wait for running ones, and drop every undelivered result;
        returns False when a job outlived the wait (it is orphaned, not killed)."""
        self.closed = True
        Worker.instances.discard(self)
        finished = self.wait(msecs)
        for delivery in list(self._live):
            delivery.drop()
            if finished:
                delivery.deleteLater()  # its queued signals go with it
            else:
                _ORPHANS.add(delivery)  # a job may still emit on it
        self._live.clear()
        self.busy_changed.emit(0)
        return finished
