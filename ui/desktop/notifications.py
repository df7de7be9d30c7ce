"""Notifications for escalations and failed automations: polled on a QTimer through the
worker, shown in the system tray when there is one, and always in the in-app list and
banner (the tray is missing offscreen and on some desktops). Messages carry task ids and
kinds only, never PHI."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QObject, QTimer, Signal
from PySide6.QtGui import QIcon
from PySide6.QtWidgets import QSystemTrayIcon

from app import queue
from app.identity import Session
from ui.desktop.worker import Worker


class NotificationCenter(QObject):
    """Emits `arrived(list_of_new)` and `changed(unread_count)`."""

    arrived = Signal(list)
    changed = Signal(int)

    def __init__(self, session: Session, worker: Worker, icon: QIcon | None = None,
                 interval_ms: int = 30000, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.session = session
        self.worker = worker
        self.unread: list[dict[str, Any]] = []
        self._seen: set[int] = set()
        self.timer = QTimer(self)
        self.timer.setInterval(interval_ms)
        self.timer.timeout.connect(self.poll)
        self.tray: QSystemTrayIcon | None = None
        if QSystemTrayIcon.isSystemTrayAvailable() and icon is not None:
            self.tray = QSystemTrayIcon(icon, self)
            self.tray.setToolTip("OffHold")
            self.tray.show()

    def start(self) -> None:
        self.poll()
        self.timer.start()

    def stop(self) -> None:
        self.timer.stop()

    def poll(self) -> None:
        session = self.session
        self.worker.run(lambda: queue.unread_notifications(session), done=self._polled,
                        label="", phi=False)

    def _polled(self, items: list[dict[str, Any]]) -> None:
        fresh = [n for n in items if n["id"] not in self._seen]
        self._seen.update(n["id"] for n in items)
        self.unread = items
        if fresh:
            if self.tray is not None:
                text = fresh[-1]["message"] if len(fresh) == 1 else \
                    f"{len(fresh)} new notifications: {fresh[-1]['message']}"
                self.tray.showMessage("OffHold", text, QSystemTrayIcon.MessageIcon.Warning)
            self.arrived.emit(fresh)
        self.changed.emit(len(items))

    def mark_all_read(self) -> None:
        ids = [int(n["id"]) for n in self.unread]
        session = self.session
        self.unread = []
        self.changed.emit(0)
        self.worker.run(lambda: queue.mark_notifications_read(session, ids),
                        label="", phi=False)


