"""Auto-lock: an idle watcher and the lock screen.

`IdleWatcher` notes the time of every key, mouse and wheel event in the application and
checks on a QTimer; after `limit_seconds` of no input it emits `idle`. The clock is
injectable (`now`, monotonic seconds) so tests fake idle time without waiting.

`LockScreen` replaces the whole window content while locked (the pages are also cleared,
see MainWindow.lock): it shows only the user name and a password field.
"""

from __future__ import annotations

import time
from typing import Callable

from PySide6.QtCore import QEvent, QObject, Qt, QTimer, Signal
from PySide6.QtWidgets import QApplication, QLabel, QLineEdit, QPushButton, QVBoxLayout, QWidget

INPUT_EVENTS = frozenset({
    QEvent.Type.KeyPress, QEvent.Type.MouseButtonPress, QEvent.Type.MouseMove,
    QEvent.Type.Wheel, QEvent.Type.TouchBegin, QEvent.Type.TabletPress,
})


class IdleWatcher(QObject):
    idle = Signal()

    def __init__(self, limit_seconds: float, now: Callable[[], float] = time.monotonic,
                 check_ms: int = 5000, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.limit_seconds = limit_seconds
        self.now = now
        self.last_input = now()
        self.enabled = True
        self.timer = QTimer(self)
        self.timer.setInterval(check_ms)
        self.timer.timeout.connect(self.check)
        app = QApplication.instance()
        if app is not None:
            app.installEventFilter(self)

    def start(self) -> None:
        self.last_input = self.now()
        self.enabled = True
        self.timer.start()

    def stop(self) -> None:
        self.enabled = False
        self.timer.stop()

    def set_limit_minutes(self, minutes: float) -> None:
        self.limit_seconds = max(60.0, float(minutes) * 60)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if event.type() in INPUT_EVENTS:
            self.last_input = self.now()
        return False

    def idle_seconds(self) -> float:
        return self.now() - self.last_input

    def check(self) -> None:
        if self.enabled and self.idle_seconds() >= self.limit_seconds:
            self.enabled = False  # one lock per idle period; start() re-arms it
            self.idle.emit()

    def detach(self) -> None:
        self.stop()
        app = QApplication.instance()
        if app is not None:
            app.removeEventFilter(self)


class LockScreen(QWidget):
    """Emits `unlock_requested(password)`; shows messages from the bridge inline."""

    unlock_requested = Signal(str)
    logout_requested = Signal()

    def __init__(self, username: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("lockScreen")
        self.setAttribute(Qt.WidgetAttribute.WA_StyledBackground, True)
        self.username = username
        title = QLabel("OffHold is locked")
        title.setObjectName("lockTitle")
        self.info = QLabel(f"Locked for {username} after inactivity. Patient information is "
                           "hidden. Enter your password to continue.")
        self.info.setWordWrap(True)
        self.info.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.info.setMinimumHeight(48)  # two wrapped lines inside the fixed-width box
        self.password = QLineEdit()
        self.password.setObjectName("lockPassword")
        self.password.setEchoMode(QLineEdit.EchoMode.Password)
        self.password.setPlaceholderText("Password")
        self.password.setMaximumWidth(320)
        self.password.returnPressed.connect(self._submit)
        self.error = QLabel()
        self.error.setObjectName("loginError")
        self.error.hide()
        self.button = QPushButton("Unlock")
        self.button.clicked.connect(self._submit)
        self.logout = QPushButton("Log out")
        self.logout.setFlat(True)
        self.logout.clicked.connect(self.logout_requested.emit)
        box = QWidget()
        box.setObjectName("lockBox")
        box.setAttribute(Qt.WidgetAttribute.WA_StyledBackground, True)
        box.setFixedWidth(440)
        inner = QVBoxLayout(box)
        inner.setSpacing(10)
        self.password.setMaximumWidth(16777215)
        inner.addWidget(title, alignment=Qt.AlignmentFlag.AlignHCenter)
        for widget in (self.info, self.password, self.error, self.button):
            inner.addWidget(widget)
        inner.addWidget(self.logout, alignment=Qt.AlignmentFlag.AlignHCenter)
        layout = QVBoxLayout(self)
        layout.addStretch(1)
        layout.addWidget(box, alignment=Qt.AlignmentFlag.AlignCenter)
        layout.addStretch(2)

    def reset(self, reason: str = "idle") -> None:
        why = "after inactivity" if reason == "idle" else "on request"
        self.info.setText(f"Locked for {self.username} {why}. Patient information is hidden. "
                          "Enter your password to continue.")
        self.password.clear()
        self.error.hide()
        self.button.setEnabled(True)
        self.password.setFocus()

    def show_error(self, text: str) -> None:
        self.error.setText(text[:1].upper() + text[1:])
        self.error.show()
        self.button.setEnabled(True)
        self.password.clear()
        self.password.setFocus()

    def _submit(self) -> None:
        if not self.password.text():
            self.show_error("Enter your password.")
            return
        self.button.setEnabled(False)
        self.unlock_requested.emit(self.password.text())
