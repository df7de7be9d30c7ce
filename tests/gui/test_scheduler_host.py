"""The app hosts the vault's scheduled jobs while it is open, unless `offhold run` holds
the vault's scheduler lock; it tries again and takes over when that stops (issue 12). Its
state and each job's last run are shown; closing the app is bounded and ordered."""

from __future__ import annotations

import socket
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from app.identity import Session
from automations.jobs import SchedulerBusy
from automations.jobs.lock import SchedulerLock


def test_the_app_leaves_the_jobs_to_offhold_run_then_takes_over(
        qtbot: Any, worker: Any, bridge: Any, owner_session: Session, vault_dir: Path) -> None:
    from ui.desktop.scheduler_host import SchedulerHost
    headless = SchedulerLock(vault_dir, "offhold run")
    headless.acquire()  # `offhold run` is running on this vault
    host = SchedulerHost(owner_session.vault, worker, retry_ms=50)
    seen: list[str] = []
    host.status_changed.connect(seen.append)
    try:
        host.start()
        assert host.scheduler is None and host.state == "elsewhere"
        assert bridge.texts("error") == []  # a normal state, not an error banner
        assert host.status.startswith("Scheduled jobs: held by offhold run, pid ")
        assert f"on {socket.gethostname()[:64]} since 20" in host.status
        assert host.timer.isActive()  # it will look again
        from ui.desktop.scheduler_status import SchedulerDialog
        dialog = SchedulerDialog(host)
        qtbot.addWidget(dialog)
        dialog.show()
        assert "Another process runs them" in dialog.status.text()
        assert not dialog.table.isVisible()  # its runs are known to it, not to us
        headless.release()  # `offhold run` stops
        qtbot.waitUntil(lambda: host.scheduler is not None, timeout=10_000)
        assert host.status == "Scheduled jobs run here" and host.scheduler.running
        assert dialog.table.isVisible() and "runs them while it is open" in dialog.status.text()
        dialog.reject()
        assert not host.timer.isActive()
        with pytest.raises(SchedulerBusy, match="desktop app"):
            SchedulerLock(vault_dir, "offhold run").acquire()  # now `offhold run` waits
    finally:
        host.stop()
        worker.wait()
    assert host.status == "Scheduled jobs: stopped"
    assert seen[-2:] == ["Scheduled jobs run here", "Scheduled jobs: stopped"]
    after = SchedulerLock(vault_dir, "offhold run")
    after.acquire()  # the app let go of the jobs when it stopped
    after.release()


def test_the_app_controller_hosts_and_stops_the_scheduler(
        qtbot: Any, worker: Any, bridge: Any, demo_vault: Path, login_as: Any,
        monkeypatch: pytest.MonkeyPatch) -> None:
    from ui.desktop import scheduler_host
    from ui.desktop.main import AppController
    calls: list[str] = []
    monkeypatch.setattr(scheduler_host, "_start",
                        lambda vault: calls.append("start") or _FakeScheduler())
    monkeypatch.setattr(scheduler_host, "_stop", lambda s, wait: calls.append("stop"))
    controller = AppController(demo_vault, bridge, worker, host_scheduler=True)
    session = login_as("manny")
    controller.open_main(session)
    qtbot.addWidget(controller.window)
    assert calls == ["start"] and controller.scheduler_host.status == "Scheduled jobs run here"
    button = controller.window.scheduler_button  # the status bar says so
    assert button.text() == "Scheduled jobs run here" and button.isVisible()
    controller._stop_hosting(1.0)  # what logout and closing the app do first
    worker.wait()
    assert calls == ["start", "stop"] and controller.scheduler_host is None
    plain = AppController(demo_vault, bridge, worker)  # tests and tools: no scheduler
    assert plain.host_scheduler is False


class _FakeScheduler:
    running = True



def test_each_job_run_here_is_listed_with_its_result(
        qtbot: Any, worker: Any, owner_session: Session) -> None:
    """The real scheduler: its first sweeps run at once; their results reach the GUI
    thread and the jobs dialog lists every job with its last run and next run."""
    from ui.desktop.scheduler_host import SchedulerHost
    from ui.desktop.scheduler_status import SchedulerButton
    host = SchedulerHost(owner_session.vault, worker)
    button = SchedulerButton(host)
    qtbot.addWidget(button)
    try:
        host.start()
        qtbot.waitUntil(lambda: host.scheduler is not None, timeout=10_000)
        assert button.text() == "Scheduled jobs run here"
        qtbot.waitUntil(lambda: "pa-sweep" in host.last_runs, timeout=10_000)
        assert host.last_runs["pa-sweep"].result == "ok"
        button.click()
        dialog = button.dialog
        assert dialog is not None and dialog.isVisible()
        rows = {dialog.table.item(r, 0).text(): [dialog.table.item(r, c).text()
                                                   for c in range(1, 4)]
                for r in range(dialog.table.rowCount())}
        assert "pa sweep" in rows and rows["pa sweep"][1] == "ok"
        assert len(rows) >= 10  # every job, run or not
        assert any(r[1] == "not run since the app started" for r in rows.values())
        assert "runs them while it is open" in dialog.status.text()
        dialog.reject()
        from shiboken6 import isValid
        qtbot.waitUntil(lambda: not isValid(dialog), timeout=2000)  # closed dialogs go
    finally:
        host.stop(5.0)
        worker.wait()
    assert button.text() == "Scheduled jobs: stopped"


class _SlowStop:
    """A scheduler stop that overruns the wait it was given (a job that will not end)."""

    def __init__(self) -> None:
        self.release = threading.Event()
        self.waits: list[float] = []
        self.ended: list[float] = []

    def __call__(self, scheduler: Any, wait_seconds: float) -> None:
        self.waits.append(wait_seconds)
        self.release.wait(30)
        self.ended.append(time.monotonic())


def _controller_hosting(qtbot: Any, bridge: Any, vault_dir: Path, session: Session,
                        stop: Any) -> Any:
    from ui.desktop.main import AppController
    from ui.desktop.scheduler_host import SchedulerHost
    from ui.desktop.worker import Worker
    real = Worker(bridge)  # the real pool: the stop runs beside the GUI thread
    controller = AppController(vault_dir, bridge, real)
    controller.session = session
    host = SchedulerHost(session.vault, real, start=lambda vault: _FakeScheduler(),
                         stop=stop)
    controller.scheduler_host = host
    host.start()
    qtbot.waitUntil(lambda: host.scheduler is not None, timeout=5000)
    return controller


@pytest.mark.expected_logs("the vault was left open")
def test_shutdown_has_one_deadline_even_when_the_scheduler_stop_overruns(
        qtbot: Any, bridge: Any, owner_session: Session, vault_dir: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    stop = _SlowStop()
    controller = _controller_hosting(qtbot, bridge, vault_dir, owner_session, stop)
    closed: list[float] = []
    monkeypatch.setattr(owner_session.vault, "close", lambda: closed.append(time.monotonic()))
    began = time.monotonic()
    try:
        assert controller.shutdown(seconds=2.5) is False
        took = time.monotonic() - began
        assert took < 3.5, took  # not the scheduler's wait plus the worker's
        assert stop.waits == [0.5]  # the jobs got the deadline less the margin
        assert closed == []  # never closed under the stop still running
    finally:
        stop.release.set()
        controller.worker.pool.waitForDone(5000)


def test_shutdown_stops_the_scheduler_then_the_worker_then_closes_the_vault(
        qtbot: Any, bridge: Any, owner_session: Session, vault_dir: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    stop = _SlowStop()
    stop.release.set()  # this stop ends at once
    controller = _controller_hosting(qtbot, bridge, vault_dir, owner_session, stop)
    closed: list[float] = []
    real_close = owner_session.vault.close
    monkeypatch.setattr(owner_session.vault, "close",
                        lambda: (closed.append(time.monotonic()), real_close()))
    assert controller.shutdown(seconds=5.0) is True
    assert stop.waits == [3.0] and len(stop.ended) == 1 and len(closed) == 1
    assert stop.ended[0] <= closed[0] and controller.session is None


def test_logout_stops_the_scheduler_under_the_deadline_before_the_vault_closes(
        qtbot: Any, bridge: Any, owner_session: Session, vault_dir: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    stop = _SlowStop()
    stop.release.set()
    controller = _controller_hosting(qtbot, bridge, vault_dir, owner_session, stop)
    closed: list[float] = []
    real_close = owner_session.vault.close
    monkeypatch.setattr(owner_session.vault, "close",
                        lambda: (closed.append(time.monotonic()), real_close()))
    shown: list[bool] = []
    monkeypatch.setattr(controller, "show_login", lambda: shown.append(True))
    controller.logged_out(seconds=4.0)
    assert stop.waits == [2.0] and len(closed) == 1 and stop.ended[0] <= closed[0]
    assert shown == [True] and controller.scheduler_host is None


@pytest.mark.expected_logs("the vault was left open")
def test_a_job_that_outlives_the_stop_keeps_the_vault_open(
        qtbot: Any, bridge: Any, owner_session: Session, vault_dir: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """stop_scheduler returns after its wait even when a job (a portal visit) still runs on
    the scheduler's thread; it says so, and the vault is not closed under that job."""
    controller = _controller_hosting(qtbot, bridge, vault_dir, owner_session,
                                     lambda scheduler, wait: False)
    closed: list[bool] = []
    monkeypatch.setattr(owner_session.vault, "close", lambda: closed.append(True))
    assert controller.shutdown(seconds=2.0) is False
    assert closed == []
