"""The one message bridge: every user-facing notice (info, warning, error, crash) goes
through it, so widgets show them consistently and tests can assert on what was said.

Messages carry no PHI: service errors are `KnownError`s with PHI-free text, and crash
reports hold only the exception type and code locations (never its message or locals).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from PySide6.QtCore import QObject, Signal


@dataclass(frozen=True)
class Message:
    level: str  # "info" | "warning" | "error"
    text: str


@dataclass(frozen=True)
class CrashReport:
    error_type: str
    where: str  # "file:line in function" frames, no values

    @property
    def text(self) -> str:
        return (f"OffHold hit an unexpected problem ({self.error_type}) and stopped that "
                "action. Nothing was half-saved. The report below names only code locations "
                "and holds no patient data.")


def crash_report(exc: BaseException) -> CrashReport:
    import traceback  # only when something went wrong: keeps startup light
    frames = traceback.extract_tb(exc.__traceback__)
    where = "\n".join(f"{f.filename.rsplit('/', 2)[-1]}:{f.lineno} in {f.name}"
                      for f in frames[-12:])
    return CrashReport(type(exc).__name__, where)


class MessageBridge(QObject):
    """Emits `message(level, text)` and `crashed(report)`; keeps a history for tests."""

    message = Signal(str, str)
    crashed = Signal(object)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.history: list[Message] = []
        self.crashes: list[CrashReport] = []
        # Replaced in tests; by default a non-modal crash dialog (never a nested loop).
        self.crash_handler: Callable[[CrashReport], None] | None = None

    def info(self, text: str) -> None:
        self._say("info", text)

    def warning(self, text: str) -> None:
        self._say("warning", text)

    def error(self, text: str) -> None:
        self._say("error", text)

    def _say(self, level: str, text: str) -> None:
        self.history.append(Message(level, text))
        self.message.emit(level, text)

    def crash(self, exc: BaseException) -> None:
        report = crash_report(exc)
        self.crashes.append(report)
        self.crashed.emit(report)
        if self.crash_handler is not None:
            self.crash_handler(report)

    def texts(self, level: str | None = None) -> list[str]:
        return [m.text for m in self.history if level is None or m.level == level]
