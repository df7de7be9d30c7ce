"""The app hosts the vault's scheduled jobs while it is open, unless `offhold run` holds
the vault's scheduler lock; it tries again and takes over when that stops (issue 12)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from app.identity import Session
from automations.jobs import SchedulerBusy
from automations.jobs.lock import SchedulerLock


def test_the_app_leaves_the_jobs_to_offhold_run_then_takes_over(
        qtbot: Any, worker: Any, owner_session: Session, vault_dir: Path) -> None:
    from ui.desktop.scheduler_host import SchedulerHost
    headless = SchedulerLock(vault_dir, "offhold run")
    headless.acquire()  # `offhold run` is running on this vault
    host = SchedulerHost(owner_session.vault, worker, retry_ms=50)
    seen: list[str] = []
    host.status_changed.connect(seen.append)
    try:
        host.start()
        assert host.scheduler is None and "offhold run, pid" in host.status
        assert host.timer.isActive()  # it will look again
        headless.release()  # `offhold run` stops
        qtbot.waitUntil(lambda: host.scheduler is not None, timeout=10_000)
        assert host.status == "running here" and host.scheduler.running
        assert not host.timer.isActive()
        with pytest.raises(SchedulerBusy, match="desktop app"):
            SchedulerLock(vault_dir, "offhold run").acquire()  # now `offhold run` waits
    finally:
        host.stop()
        worker.wait()
    assert host.status == "stopped" and seen[-2:] == ["running here", "stopped"]
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
    monkeypatch.setattr(scheduler_host, "_stop", lambda s: calls.append("stop"))
    controller = AppController(demo_vault, bridge, worker, host_scheduler=True)
    session = login_as("manny")
    controller.open_main(session)
    qtbot.addWidget(controller.window)
    assert calls == ["start"] and controller.scheduler_host.status == "running here"
    controller._stop_hosting()  # what logout and closing the app do first
    worker.wait()
    assert calls == ["start", "stop"] and controller.scheduler_host is None
    plain = AppController(demo_vault, bridge, worker)  # tests and tools: no scheduler
    assert plain.host_scheduler is False


class _FakeScheduler:
    running = True
