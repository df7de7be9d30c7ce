"""Auto-lock after the idle limit (faked clock): no patient name is left in any visible
widget, the page models are emptied, unlocking needs the password, and both are
audited."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt

from app.services.practice import set_setting
from automations.seeds.s10_practice import FIRST, LAST
from tests.gui.conftest import password_of, visible_texts


def _audit_actions(session: Any, user: str) -> list[str]:
    return [r[0] for r in session.vault.query(
        "SELECT action FROM audit_log WHERE actor = ? AND action LIKE 'session.%' ORDER BY id",
        (user,))]


def _phi_on_screen() -> list[str]:
    texts = "\n".join(visible_texts())
    return [name for name in LAST + FIRST if name in texts]


def test_idle_limit_locks_and_hides_every_patient_name(qtbot: Any, open_window: Any,
                                                       fake_clock: Any) -> None:
    window = open_window("manny", idle_check_ms=20)
    page = window.pages["queue"]
    assert window.idle.limit_seconds == 10 * 60  # the default setting
    task = next(t for t in page.model.tasks if t.patient_id is not None)
    page.select_row(page._proxy_row_of(task.id))
    window.show_page("patients", task.patient_id)
    window.show_page("queue")
    assert _phi_on_screen(), "the check must see names before the lock to mean anything"

    fake_clock.advance(9 * 60)
    qtbot.wait(60)
    assert not window.locked
    qtbot.keyClick(page.table, Qt.Key.Key_J)  # input resets the idle time
    fake_clock.advance(9 * 60)
    qtbot.wait(60)
    assert not window.locked
    fake_clock.advance(61)
    qtbot.waitUntil(lambda: window.locked, timeout=2000)

    assert window.stack.currentWidget() is window.lock_screen
    assert not window.content.isVisible() and not window.toolbar.isVisible()
    assert _phi_on_screen() == []
    # Not just covered: the pages dropped their data.
    assert page.model.rowCount() == 0 and page.detail.editor.toPlainText() == ""
    patients = window.pages["patients"]
    assert patients.task_model.rowCount() == 0 and patients.coverage.rowCount() == 0
    assert patients.header.text() == "Search for a patient."
    assert window.session.locked
    assert window.windowTitle() == "OffHold — locked"

    # While locked, a late job result that holds PHI is dropped.
    page.refresh()
    assert page.model.rowCount() == 0

    screen = window.lock_screen
    screen.password.setText("wrong-password-1")
    qtbot.keyClick(screen.password, Qt.Key.Key_Return)
    assert window.locked and screen.error.isVisible()
    assert screen.error.text() == "Wrong password"
    screen.password.setText(password_of("manny"))
    qtbot.keyClick(screen.password, Qt.Key.Key_Return)
    assert not window.locked and not window.session.locked
    assert page.model.rowCount() > 0 and window.toolbar.isVisible()
    assert _audit_actions(window.session, "manny") == [
        "session.lock", "session.unlock_failed", "session.unlock"]
    lock_row = window.session.vault.query_one(
        "SELECT details FROM audit_log WHERE action = 'session.lock'")
    assert '"reason": "idle"' in lock_row[0]


def test_the_limit_comes_from_the_setting(qtbot: Any, open_window: Any, login_as: Any,
                                          fake_clock: Any) -> None:
    set_setting(login_as("olivia"), "auto_lock_minutes", 2)
    window = open_window("frida")
    assert window.idle.limit_seconds == 120
    fake_clock.advance(121)
    window.idle.check()
    assert window.locked


def test_lock_closes_open_dialogs(qtbot: Any, open_window: Any, fake_clock: Any) -> None:
    window = open_window("olivia")
    window.open_settings()
    dialog = window.settings_dialog
    assert dialog.isVisible()
    fake_clock.advance(601)
    window.idle.check()
    assert window.locked and not dialog.isVisible()
    assert _phi_on_screen() == []


def test_too_many_wrong_unlocks_end_the_session(qtbot: Any, open_window: Any) -> None:
    window = open_window("frida")
    window.lock("manual")
    with qtbot.waitSignal(window.session_ended):
        for _ in range(5):
            window.lock_screen.password.setText("nope-nope-nope")
            qtbot.keyClick(window.lock_screen.password, Qt.Key.Key_Return)
    assert "session.end" in _audit_actions(window.session, "frida")


def test_every_page_is_cleared_on_lock(qtbot: Any, open_window: Any, fake_clock: Any) -> None:
    from app.services import prior_auth
    window = open_window("olivia")
    session = window.session
    patient_id, payer_id = session.vault.query_one(
        "SELECT patient_id, payer_id FROM coverages ORDER BY id LIMIT 1")
    prior_auth.add_prior_auth(session, patient_id=patient_id, payer=int(payer_id),
                              cpt_code="72148", units=1, service_date="2030-01-15")
    seen_names = []
    for key in window.specs:
        window.show_page(key)
        seen_names += _phi_on_screen()
    window.show_page("patients", patient_id)
    assert seen_names and _phi_on_screen()
    fake_clock.advance(601)
    window.idle.check()
    assert window.locked and _phi_on_screen() == []
    for page in window.pages.values():  # nothing kept behind the lock screen either
        for model_owner in (getattr(page, "model", None), getattr(page, "task_model", None),
                            getattr(page, "results_model", None)):
            if model_owner is not None:
                assert model_owner.rowCount() == 0, type(page).__name__
    board = window.pages["pa_board"]
    assert all(col.count() == 0 for col in board.columns.values())
