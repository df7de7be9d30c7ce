"""The worker helper: results and typed errors arrive on the GUI thread; known errors
become clear messages through the bridge; bugs become PHI-free crash reports; progress
reaches the status bar."""

from __future__ import annotations

import threading
from typing import Any

from PySide6.QtCore import QThread

from app.errors import ValidationError
from ui.desktop.worker import Worker


def test_results_arrive_on_the_gui_thread(qtbot: Any, bridge: Any) -> None:
    worker = Worker(bridge)  # the real pool
    seen: dict[str, Any] = {}

    def job() -> str:
        seen["job_thread"] = threading.get_ident()
        return "ok"

    def done(result: str) -> None:
        seen["result"] = result
        seen["done_on_gui"] = QThread.currentThread() is qtbot_app_thread()

    worker.run(job, done=done)
    qtbot.waitUntil(lambda: "result" in seen and worker.active == 0)
    assert seen["job_thread"] != threading.get_ident()
    assert seen["done_on_gui"] and seen["result"] == "ok"
    worker.wait()


def qtbot_app_thread() -> Any:
    from PySide6.QtWidgets import QApplication
    app = QApplication.instance()
    assert app is not None
    return app.thread()


def test_known_errors_become_messages(qtbot: Any, bridge: Any) -> None:
    worker = Worker(bridge)
    failures: list[BaseException] = []
    worker.run(lambda: (_ for _ in ()).throw(ValidationError("file is malformed at line 3")),
               failed=failures.append)
    qtbot.waitUntil(lambda: worker.active == 0)
    assert bridge.texts("error") == ["file is malformed at line 3"]
    assert isinstance(failures[0], ValidationError)
    worker.wait()


def test_bugs_become_crash_reports_without_phi(qtbot: Any, bridge: Any) -> None:
    worker = Worker(bridge, synchronous=True)

    def buggy() -> None:
        raise KeyError("Zzyzxquell, Quintessa DOB 1975-04-12")

    worker.run(buggy)
    assert len(bridge.crashes) == 1
    report = bridge.crashes[0]
    assert report.error_type == "KeyError" and "buggy" in report.where
    assert "Zzyzxquell" not in report.text + report.where
    bridge.crashes.clear()  # expected here; the fixture fails on unexpected ones


def test_progress_reaches_the_status_bar(qtbot: Any, open_window: Any) -> None:
    window = open_window("manny")
    steps: list[tuple[int, int]] = []
    window.worker.progress.connect(lambda label, d, t: steps.append((d, t)))

    bar: list[tuple[int, int, str, bool]] = []

    def job(progress: Any) -> int:
        for i in range(1, 4):
            progress(i, 3)
            bar.append((window.progress.value(), window.progress.maximum(),
                        window.busy_label.text(), window.progress.isVisible()))
        return 3

    window.worker.run(job, progress=True, label="Importing")
    assert steps == [(1, 3), (2, 3), (3, 3)]
    assert bar[1] == (2, 3, "Importing 2/3", True)
    assert not window.progress.isVisible()  # hidden again when idle


def test_a_bug_in_a_result_callback_is_a_crash_report(qtbot: Any, bridge: Any) -> None:
    worker = Worker(bridge, synchronous=True)

    def show(_result: Any) -> None:
        raise ValueError("Zzyzxquell")

    worker.run(lambda: 1, done=show)
    assert [c.error_type for c in bridge.crashes] == ["ValueError"]
    assert worker.active == 0
    bridge.crashes.clear()


def test_shutdown_drops_results_of_a_job_that_outlives_it(qtbot: Any, bridge: Any) -> None:
    """A test that fails with a job still running must leave the process healthy: the
    job's result, arriving later, reaches no callback (and no deleted widget)."""
    from PySide6.QtCore import QCoreApplication
    worker = Worker(bridge)
    release = threading.Event()
    delivered: list[Any] = []
    worker.run(lambda: release.wait(10) and "late", done=delivered.append,
               failed=delivered.append)
    worker.run(lambda: "quick", done=delivered.append)
    qtbot.waitUntil(lambda: delivered == ["quick"])
    assert worker.shutdown(50) is False  # the slow job outlived the wait
    assert worker.active == 0 and worker.closed
    worker.run(lambda: "refused", done=delivered.append)  # closed: nothing runs
    release.set()
    assert worker.wait(5000)
    for _ in range(3):
        QCoreApplication.processEvents()
    assert delivered == ["quick"]
