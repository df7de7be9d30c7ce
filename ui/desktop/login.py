"""The login dialog: user and password, then a TOTP code when the user has one.

Kept light on imports (the core is imported when the person presses Log in) so the
window appears fast. Errors come back through the worker as typed errors and are shown
inline from the message bridge: wrong password, lockout, TOTP required or wrong.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QColor, QFont, QPalette
from PySide6.QtWidgets import (
    QDialog,
    QFormLayout,
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
        layout = QVBoxLayout(self)
        layout.addWidget(heading)
        layout.addWidget(sub)
        layout.addLayout(form)
        layout.addWidget(self.error)
        layout.addWidget(self.button, alignment=Qt.AlignmentFlag.AlignRight)
        bridge.message.connect(self._message)

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
