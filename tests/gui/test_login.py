"""The login dialog: a good login, a wrong password, a lockout, and TOTP."""

from __future__ import annotations

from typing import Any

import pyotp
import pytest
from PySide6.QtCore import Qt

from tests.gui.conftest import password_of
from ui.desktop.login import LoginDialog


@pytest.fixture
def dialog(qtbot: Any, demo_vault: Any, worker: Any, bridge: Any) -> LoginDialog:
    d = LoginDialog(demo_vault, worker, bridge)
    qtbot.addWidget(d)
    d.show()
    qtbot.waitExposed(d)
    return d


def _login(qtbot: Any, d: LoginDialog, user: str, password: str) -> None:
    d.user.setText(user)
    d.password.setText(password)
    qtbot.mouseClick(d.button, Qt.MouseButton.LeftButton)


def test_good_login_emits_a_session(qtbot: Any, dialog: LoginDialog) -> None:
    with qtbot.waitSignal(dialog.logged_in) as blocker:
        _login(qtbot, dialog, "frida", password_of("frida"))
    session = blocker.args[0]
    try:
        assert session.username == "frida"
        assert {r.value for r in session.roles} == {"front_desk"}
        assert dialog.result() == LoginDialog.DialogCode.Accepted
        assert dialog.password.text() == ""  # the password does not linger in the widget
    finally:
        session.vault.close()


def test_wrong_password_gives_a_clear_message(qtbot: Any, dialog: LoginDialog,
                                              bridge: Any) -> None:
    _login(qtbot, dialog, "frida", "not-her-password")
    assert dialog.isVisible() and dialog.session is None
    assert dialog.error.isVisible()
    assert dialog.error.text() == "Wrong user name or password"
    assert bridge.texts("error") == ["wrong user name or password"]
    assert dialog.button.isEnabled() and dialog.password.text() == ""


def test_lockout_is_shown_and_holds_against_the_right_password(
        qtbot: Any, dialog: LoginDialog, bridge: Any) -> None:
    for _ in range(5):
        _login(qtbot, dialog, "billie", "wrong-password-x")
    assert "locked out" in dialog.error.text()
    assert dialog.error.property("lockedOut") is True
    _login(qtbot, dialog, "billie", password_of("billie"))
    assert dialog.session is None
    assert "locked out" in dialog.error.text() and "try again in" in dialog.error.text()
    assert any("locked out" in t for t in bridge.texts("error"))


def test_totp_is_asked_when_enabled(qtbot: Any, dialog: LoginDialog, login_as: Any) -> None:
    from app.services import users
    owner = login_as("olivia")
    uri = users.enable_mfa(owner, "manny")
    secret = pyotp.parse_uri(uri).secret
    assert not dialog.totp.isVisible()
    _login(qtbot, dialog, "manny", password_of("manny"))
    assert dialog.totp.isVisible() and dialog.session is None
    assert "6-digit code" in dialog.error.text()
    dialog.totp.setText("000000" if pyotp.TOTP(secret).now() != "000000" else "111111")
    _login(qtbot, dialog, "manny", password_of("manny"))
    assert dialog.session is None and dialog.error.text() == "Wrong TOTP code"
    dialog.totp.setText(pyotp.TOTP(secret).now())
    with qtbot.waitSignal(dialog.logged_in) as blocker:
        _login(qtbot, dialog, "manny", password_of("manny"))
    blocker.args[0].vault.close()


def test_forgot_password_uses_the_recovery_key(qtbot: Any, dialog: LoginDialog,
                                               demo_vault: Any, bridge: Any) -> None:
    """Issue 10 #5: from a lost owner password to a session, through the login window;
    the recovery key rotates and the new one is shown once."""
    from app.identity import unlock
    owner = unlock(demo_vault, "olivia", password_of("olivia"))
    recovery = owner.vault.envelope.set_recovery(owner.vault.key, owner.vault.signing_key)
    owner.vault.envelope.save()
    owner.vault.close()
    qtbot.mouseClick(dialog.forgot, Qt.MouseButton.LeftButton)
    assert dialog.recovery_form.isVisible() and not dialog.login_form.isVisible()
    qtbot.mouseClick(dialog.rec_back, Qt.MouseButton.LeftButton)
    assert dialog.login_form.isVisible() and not dialog.recovery_form.isVisible()
    qtbot.mouseClick(dialog.forgot, Qt.MouseButton.LeftButton)
    dialog.rec_user.setText("olivia")
    dialog.rec_key.setText("AAAA-" * 7 + "AAAA")
    dialog.rec_new.setText("olivia-new-pass")
    dialog.rec_again.setText("olivia-new-pass")
    qtbot.mouseClick(dialog.rec_button, Qt.MouseButton.LeftButton)
    assert dialog.error.text() == "Wrong recovery key" and dialog.session is None
    dialog.rec_key.setText(recovery)
    dialog.rec_new.setText("olivia-new-pass")
    dialog.rec_again.setText("olivia-new-pass")
    qtbot.mouseClick(dialog.rec_button, Qt.MouseButton.LeftButton)
    new_key = dialog.new_key.text()
    assert dialog.new_key.isVisible() and new_key and new_key != recovery
    assert dialog.rec_new.text() == "" and dialog.rec_key.text() == ""
    with qtbot.waitSignal(dialog.logged_in) as blocker:
        qtbot.mouseClick(dialog.rec_done, Qt.MouseButton.LeftButton)
    blocker.args[0].vault.close()
    assert dialog.new_key.text() == ""
    unlock(demo_vault, "olivia", "olivia-new-pass").vault.close()
