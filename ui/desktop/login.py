"""The login dialog: user and password, then a TOTP code when the user has one.

Kept light on imports (the core is imported when the person presses Log in) so the
window appears fast. Errors come back through the worker as typed errors and are shown
inline from the message bridge: wrong password, lockout, TOTP required or wrong.
"Forgot password? Use the recovery key" swaps the form for the recovery one: an owner's
name, the recovery key and a new password; the new recovery key is shown once.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QColor, QFont, QPalette
from PySide6.QtWidgets import (
    QDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from ui.desktop.messages import MessageBridge
from ui.desktop.worker import Worker


def _unlock(vault_dir: Path, user: str, password: str, code: str | None) -> Any:
    from app.identity import unlock
    return unlock(vault_dir, user, password, code)


def _recover(vault_dir: Path, user: str, key: str, password: str) -> Any:
    from app.identity import recover
    return recover(vault_dir, user, key, password)


def _color(label: QLabel, color: str) -> None:
    palette = label.palette()
    palette.setColor(QPalette.ColorRole.WindowText, QColor(color))
    label.setPalette(palette)


class LoginDialog(QDialog):
    """Emits `logged_in(session)` on success; stays open, with a clear message, otherwise."""

    logged_in = Signal(object)

    def __init__(self, vault_dir: Path, worker: Worker, bridge: MessageBridge,
                 practice_label: str = "", parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.vault_dir = Path(vault_dir)
        self.worker = worker
        self.bridge = bridge
        self.session: Any = None
        self.setWindowTitle("OffHold — log in")
        self.setObjectName("loginDialog")
        self.setMinimumWidth(380)
        heading = QLabel("OffHold")
        heading.setObjectName("loginHeading")
        # Styled directly (not by the app stylesheet, which loads after login).
        font = QFont(heading.font())
        font.setPointSize(font.pointSize() + 8)
        font.setBold(True)
        heading.setFont(font)
        _color(heading, "#1f3a5f")
        sub = QLabel(practice_label or "Log in to the practice vault")
        sub.setObjectName("loginSub")
        sub.setWordWrap(True)
        self.user = QLineEdit()
        self.user.setObjectName("loginUser")
        self.password = QLineEdit()
        self.password.setObjectName("loginPassword")
        self.password.setEchoMode(QLineEdit.EchoMode.Password)
        self.totp = QLineEdit()
        self.totp.setObjectName("loginTotp")
        self.totp.setPlaceholderText("6-digit code from your authenticator app")
        self.totp.setMaxLength(8)
        self.totp_label = QLabel("Code")
        form = QFormLayout()
        form.addRow("User", self.user)
        form.addRow("Password", self.password)
        form.addRow(self.totp_label, self.totp)
        self.totp.hide()
        self.totp_label.hide()
        self.error = QLabel()
        self.error.setObjectName("loginError")
        self.error.setWordWrap(True)
        bold = QFont(self.error.font())
        bold.setBold(True)
        self.error.setFont(bold)
        _color(self.error, "#a4161a")
        self.error.hide()
        self.button = QPushButton("Log in")
        self.button.setDefault(True)
        self.button.clicked.connect(self.attempt)
        self.forgot = QPushButton("Forgot password? Use the recovery key")
        self.forgot.setObjectName("loginForgot")
        self.forgot.setFlat(True)
        self.forgot.clicked.connect(self.show_recovery)
        self.login_form = QWidget()
        login_layout = QVBoxLayout(self.login_form)
        login_layout.setContentsMargins(0, 0, 0, 0)
        login_layout.addLayout(form)
        self.recovery_form = self._build_recovery_form()
        self.recovery_form.hide()
        layout = QVBoxLayout(self)
        layout.addWidget(heading)
        layout.addWidget(sub)
        layout.addWidget(self.login_form)
        layout.addWidget(self.recovery_form)
        layout.addWidget(self.error)
        layout.addWidget(self.button, alignment=Qt.AlignmentFlag.AlignRight)
        layout.addWidget(self.forgot, alignment=Qt.AlignmentFlag.AlignLeft)
        bridge.message.connect(self._message)

    def _build_recovery_form(self) -> QWidget:
        box = QWidget()
        self.rec_user = QLineEdit()
        self.rec_user.setObjectName("recoveryUser")
        self.rec_key = QLineEdit()
        self.rec_key.setObjectName("recoveryKey")
        self.rec_key.setPlaceholderText("XXXX-XXXX-… (from the sheet printed at setup)")
        self.rec_new = QLineEdit()
        self.rec_new.setObjectName("recoveryNewPassword")
        self.rec_new.setEchoMode(QLineEdit.EchoMode.Password)
        self.rec_again = QLineEdit()
        self.rec_again.setEchoMode(QLineEdit.EchoMode.Password)
        self.new_key = QLineEdit()
        self.new_key.setObjectName("recoveryNewKey")
        self.new_key.setReadOnly(True)
        self.new_key_label = QLabel("New recovery key — store it offline now; it is shown "
                                    "only once and the old one no longer works:")
        self.new_key_label.setWordWrap(True)
        self.rec_button = QPushButton("Set new password")
        self.rec_button.clicked.connect(self.attempt_recovery)
        self.rec_done = QPushButton("I have stored the new key — continue")
        self.rec_done.clicked.connect(self._finish_recovery)
        self.rec_back = QPushButton("Back to log in")
        self.rec_back.setFlat(True)
        self.rec_back.clicked.connect(self.show_login_form)
        form = QFormLayout()
        form.addRow("Owner", self.rec_user)
        form.addRow("Recovery key", self.rec_key)
        form.addRow("New password", self.rec_new)
        form.addRow("Again", self.rec_again)
        layout = QVBoxLayout(box)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(form)
        buttons = QHBoxLayout()
        buttons.addWidget(self.rec_back)
        buttons.addStretch(1)
        buttons.addWidget(self.rec_button)
        layout.addLayout(buttons)
        layout.addWidget(self.new_key_label)
        layout.addWidget(self.new_key)
        layout.addWidget(self.rec_done, alignment=Qt.AlignmentFlag.AlignRight)
        for w in (self.new_key_label, self.new_key, self.rec_done):
            w.hide()
        return box

    def show_recovery(self) -> None:
        self.login_form.hide()
        self.button.hide()
        self.forgot.hide()
        self.error.hide()
        self.rec_user.setText(self.user.text())
        self.recovery_form.show()
        self.rec_key.setFocus()

    def show_login_form(self) -> None:
        self.recovery_form.hide()
        self.error.hide()
        for w in (self.rec_key, self.rec_new, self.rec_again):
            w.clear()
        self.login_form.show()
        self.button.show()
        self.forgot.show()
        self.password.setFocus()

    def attempt_recovery(self) -> None:
        user, key = self.rec_user.text().strip(), self.rec_key.text().strip()
        password = self.rec_new.text()
        if not user or not key or not password:
            self.show_error("Enter the owner's user name, the recovery key and a new password.")
            return
        if password != self.rec_again.text():
            self.show_error("The two new passwords differ.")
            return
        self.rec_button.setEnabled(False)
        self.worker.run(lambda: _recover(self.vault_dir, user, key, password),
                        done=self._recovered, failed=self._recovery_failed,
                        label="Recovering", phi=False)

    def _recovered(self, result: Any) -> None:
        self.session, new_key = result
        for w in (self.rec_new, self.rec_again, self.rec_key):
            w.clear()
        self.error.hide()
        self.new_key.setText(new_key)
        for shown in (self.new_key_label, self.new_key, self.rec_done):
            shown.show()
        self.rec_button.hide()
        self.rec_back.hide()

    def _recovery_failed(self, exc: BaseException) -> None:
        self.rec_button.setEnabled(True)
        self.rec_key.setFocus()

    def _finish_recovery(self) -> None:
        self.new_key.clear()
        self.logged_in.emit(self.session)
        self.accept()

    def _message(self, level: str, text: str) -> None:
        if self.isVisible() and level in ("error", "warning"):
            self.show_error(text)

    def show_error(self, text: str) -> None:
        self.error.setText(text[:1].upper() + text[1:])
        self.error.show()

    def attempt(self) -> None:
        user = self.user.text().strip()
        password = self.password.text()
        if not user or not password:
            self.show_error("Enter your user name and password.")
            return
        code = self.totp.text().strip() or None if self.totp.isVisible() else None
        self.button.setEnabled(False)
        self.button.setText("Checking…")
        self.worker.run(lambda: _unlock(self.vault_dir, user, password, code),
                        done=self._succeeded, failed=self._failed, label="Logging in",
                        phi=False)

    def _succeeded(self, session: Any) -> None:
        self.session = session
        self.password.clear()
        self.totp.clear()
        self.logged_in.emit(session)
        self.accept()

    def _failed(self, exc: BaseException) -> None:
        from app.errors import LockedOut, MfaRequired, WrongMfaCode
        self.button.setEnabled(True)
        self.button.setText("Log in")
        if isinstance(exc, MfaRequired):
            self.totp_label.show()
            self.totp.show()
            self.totp.setFocus()
            self.show_error("Enter the 6-digit code from your authenticator app.")
        elif isinstance(exc, WrongMfaCode):
            self.totp.clear()
            self.totp.setFocus()
        elif isinstance(exc, LockedOut):
            self.password.clear()
            self.error.setProperty("lockedOut", True)
        else:
            self.password.clear()
            self.password.setFocus()
