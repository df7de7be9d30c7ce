"""A slow or broken model in the app: a banner for everyone, a red status with the reason
in Settings > Models, the owner's task one click away; and a model worker that dies of a
segmentation fault during a GUI operation leaves this process healthy for what follows."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt

from app.services import models as model_service
from automations.workflows import models as flow
from local_models.runtime import ModelRuntime
from tests.gui.conftest import settings_tab


def _break_bundled(session: Any, reason: str = "the test generation timed out") -> Any:
    rec = flow.ensure_bundled(session)
    return model_service.record_health(session, rec, flow.runtime_id(), "broken", reason, 0.0)


def test_a_broken_model_shows_a_banner_and_a_red_status(qtbot: Any, open_window: Any,
                                                        login_as: Any) -> None:
    health = _break_bundled(login_as("olivia"))
    window = open_window("olivia")
    assert window.banner.isVisible()
    text = window.banner_text.text()
    assert "is broken (the test generation timed out)" in text
    assert "Drafts use the templates until the owner re-tests it" in text
    assert window.banner.property("level") == "critical"
    assert window.banner_open.isVisible() and window._banner_task == health.task_id
    tab = settings_tab(window, "Models")
    status = tab.table.item(0, 1)
    assert status.text().startswith("BROKEN: the test generation timed out")
    assert "re-test" in status.text()
    assert status.foreground().color().name() == "#b3261e"
    assert tab.health_note.isVisible()  # the whole reason and what to do, below the table
    assert "the test generation timed out. What to do: re-test it" in tab.health_note.text()


def test_front_desk_sees_the_banner_without_the_owners_task(qtbot: Any, open_window: Any,
                                                            login_as: Any) -> None:
    _break_bundled(login_as("olivia"))
    window = open_window("frida")
    assert window.banner.isVisible() and "is broken" in window.banner_text.text()
    assert not window.banner_open.isVisible()


def test_owner_re_test_clears_the_status(qtbot: Any, open_window: Any, login_as: Any) -> None:
    _break_bundled(login_as("olivia"))
    window = open_window("olivia")
    tab = settings_tab(window, "Models")
    qtbot.mouseClick(tab.verify_button, Qt.MouseButton.LeftButton)
    assert tab.table.item(0, 1).text().startswith("healthy (")
    assert not tab.health_note.isVisible()
    assert model_service.unhealthy_models(window.session) == []


def test_a_segfaulting_worker_fails_one_call_in_the_app(qtbot: Any, open_window: Any,
                                                        bridge: Any) -> None:
    window = open_window("olivia")
    crashing = ModelRuntime(worker_entry="tests.support.faulty_worker:serve_crash")
    verdicts: list[Any] = []
    try:
        rec = flow.ensure_bundled(window.session)
        window.worker.run(lambda: flow.self_test(window.session, rec, crashing),
                          done=verdicts.append, phi=False)
        qtbot.waitUntil(lambda: bool(verdicts), timeout=60_000)
    finally:
        crashing.close()
    assert verdicts[0].health == "broken" and "stopped unexpectedly" in verdicts[0].reason
    assert not bridge.crashes  # a known outcome, not a crash of the app


def test_the_process_is_healthy_after_a_worker_segfault(qtbot: Any, open_window: Any) -> None:
    """Runs after the test above (file order): this process still drives the GUI and the
    real model through a fresh worker."""
    window = open_window("olivia")
    runtime = ModelRuntime()
    try:
        rec = flow.ensure_bundled(window.session)
        out: list[Any] = []
        window.worker.run(lambda: flow.self_test(window.session, rec, runtime),
                          done=out.append, phi=False)
        qtbot.waitUntil(lambda: bool(out), timeout=120_000)
    finally:
        runtime.close()
    # slow is possible on a loaded machine; broken would mean the process or runtime suffered
    assert out[0].health != "broken", out[0].reason
    assert window.isVisible()
