"""The main window: a toolbar of pages (from the registry in `pages`), a banner for
messages and notifications, the page stack, a status bar with background progress, and
the lock screen.

Locking clears every page (`Page.clear_phi`), closes dialogs and swaps the whole content
for the lock screen, so no patient detail stays in any widget, visible or not.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Callable

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QAction, QActionGroup, QCloseEvent, QIcon, QKeySequence
from PySide6.QtWidgets import (
    QDialog,
    QFrame,
    QHBoxLayout,
    QLabel,
    QMainWindow,
    QMenu,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QSizePolicy,
    QStackedWidget,
    QToolBar,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from app.domain.models import ModelHealth, ModelRecord
from app.identity import Session
from app.queue.changes import EVERYTHING, Changes
from app.services import desktop_session, practice
from app.services import models as model_service
from ui.desktop.lock import IdleWatcher, LockScreen
from ui.desktop.messages import MessageBridge
from ui.desktop.notifications import NotificationCenter
from ui.desktop.changes import ChangeHub
from ui.desktop.extensions import PageSpec, load
from ui.desktop.pages import AppContext, Page, load_pages, start_page
from ui.desktop.worker import Worker


class MainWindow(QMainWindow):
    session_ended = Signal()

    def __init__(self, session: Session, worker: Worker, bridge: MessageBridge,
                 vault_dir: Path, *, idle_clock: Callable[[], float] = time.monotonic,
                 idle_check_ms: int = 5000, notify_interval_ms: int = 30000,
                 counts_interval_ms: int = 30000, icon: QIcon | None = None) -> None:
        super().__init__()
        self.session = session
        self.worker = worker
        self.bridge = bridge
        self.locked = False
        self._lock_pending = False
        # One change signal: operations announce what they changed, open pages refresh it.
        self.changes = ChangeHub(self)
        self.changes.changed.connect(self._changed)
        self._marker: int | None = None  # the audit head last seen (change_marker)
        self.ctx = AppContext(session, worker, bridge, Path(vault_dir), navigate=self.show_page,
                              changes=self.changes)
        self.setObjectName("mainWindow")
        self.setWindowTitle("OffHold")
        self.resize(1440, 860)
        self.dialogs: list[QDialog] = []

        # pages
        self.specs: dict[str, PageSpec] = {}
        self.pages: dict[str, Page] = {}
        self.page_stack = QStackedWidget()
        self.toolbar = QToolBar("Pages")
        self.toolbar.setObjectName("pagesToolbar")
        self.toolbar.setMovable(False)
        self.toolbar.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextOnly)
        self.addToolBar(self.toolbar)
        group = QActionGroup(self)
        self.page_actions: dict[str, QAction] = {}
        for spec in load_pages():
            if spec.permission and not session.can(spec.permission):
                continue
            self.specs[spec.key] = spec
            action = QAction(spec.title, self)
            action.setCheckable(True)
            if spec.shortcut:
                action.setShortcut(QKeySequence(spec.shortcut))
                action.setToolTip(f"{spec.title} ({spec.shortcut})")
            action.triggered.connect(lambda _c=False, k=spec.key: self.show_page(k))
            group.addAction(action)
            self.toolbar.addAction(action)
            self.page_actions[spec.key] = action
        spacer = QWidget()
        spacer.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Preferred)
        self.toolbar.addWidget(spacer)
        self.notify_button = QToolButton()
        self.notify_button.setObjectName("notifyButton")
        self.notify_button.setText("Notifications (0)")
        self.notify_button.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        self.notify_menu = QMenu(self.notify_button)
        self.notify_menu.aboutToShow.connect(self._fill_notify_menu)
        self.notify_button.setMenu(self.notify_menu)
        self.toolbar.addWidget(self.notify_button)
        settings_action = QAction("Settings", self)
        settings_action.setShortcut(QKeySequence("Ctrl+,"))
        settings_action.triggered.connect(self.open_settings)
        self.toolbar.addAction(settings_action)
        lock_action = QAction("Lock", self)
        lock_action.setShortcut(QKeySequence("Ctrl+L"))
        lock_action.setToolTip("Lock now (Ctrl+L)")
        lock_action.triggered.connect(lambda: self.lock("manual"))
        self.toolbar.addAction(lock_action)
        refresh_action = QAction("Refresh", self)
        refresh_action.setShortcut(QKeySequence("F5"))
        refresh_action.triggered.connect(self.refresh_current)
        self.addAction(refresh_action)

        # banner: warnings, errors and notifications (the in-app fallback for the tray)
        self.banner = QFrame()
        self.banner.setObjectName("banner")
        self.banner_text = QLabel()
        self.banner_text.setWordWrap(True)
        self.banner_open = QPushButton("Open task")
        self.banner_open.clicked.connect(self._banner_open_task)
        self.banner_close = QPushButton("Dismiss")
        self.banner_close.clicked.connect(self.dismiss_banner)
        banner_layout = QHBoxLayout(self.banner)
        banner_layout.setContentsMargins(10, 4, 6, 4)
        banner_layout.addWidget(self.banner_text, 1)
        banner_layout.addWidget(self.banner_open)
        banner_layout.addWidget(self.banner_close)
        self.banner.hide()
        self._banner_task: int | None = None

        self.content = QWidget()
        content_layout = QVBoxLayout(self.content)
        content_layout.setContentsMargins(0, 0, 0, 0)
        content_layout.setSpacing(0)
        content_layout.addWidget(self.banner)
        content_layout.addWidget(self.page_stack, 1)
        self.lock_screen = LockScreen(session.username)
        self.lock_screen.unlock_requested.connect(self.unlock)
        self.lock_screen.logout_requested.connect(self.logout)
        self.stack = QStackedWidget()
        self.stack.addWidget(self.content)
        self.stack.addWidget(self.lock_screen)
        self.setCentralWidget(self.stack)

        # status bar
        self.user_label = QLabel(f"{session.username} · "
                                 f"{', '.join(sorted(r.value for r in session.roles))}")
        self.practice_label = QLabel()
        self.busy_label = QLabel()
        self.progress = QProgressBar()
        self.progress.setObjectName("workProgress")
        self.progress.setMaximumWidth(180)
        self.progress.setTextVisible(False)
        self.progress.hide()
        self.statusBar().addWidget(self.user_label)
        self.statusBar().addWidget(self.practice_label)
        self.statusBar().addPermanentWidget(self.busy_label)
        self.statusBar().addPermanentWidget(self.progress)
        worker.busy_changed.connect(self._busy)
        worker.progress.connect(self._progress)
        bridge.message.connect(self._message)

        # idle lock, notifications, live counts
        self.idle = IdleWatcher(10 * 60, now=idle_clock, check_ms=idle_check_ms, parent=self)
        self.idle.idle.connect(lambda: self.lock("idle"))
        self.notifications = NotificationCenter(session, worker, icon=icon,
                                                interval_ms=notify_interval_ms, parent=self)
        self.notifications.arrived.connect(self._notified)
        self.notifications.changed.connect(
            lambda n: self.notify_button.setText(f"Notifications ({n})"))
        # Only a backstop for changes by another process; ours are announced as they happen.
        self.counts_timer = QTimer(self)
        self.counts_timer.setInterval(counts_interval_ms)
        self.counts_timer.timeout.connect(self.poll_changes)

    # -- start
    def start(self) -> None:
        """Load settings, show the first page, arm the idle lock and polling."""
        session = self.session

        def loaded(info: tuple[dict[str, Any], int]) -> None:
            details, minutes = info
            demo = " (demo vault)" if details.get("demo") and "DEMO" not in details["name"] \
                else ""
            self.practice_label.setText(f"{details['name']}{demo}")
            self.setWindowTitle(f"OffHold — {details['name']}{demo}")
            self.idle.set_limit_minutes(minutes)

        self.worker.run(lambda: (practice.practice_info(session),
                                 int(practice.get_setting(session, "auto_lock_minutes"))),
                        done=loaded, label="Loading practice", phi=False)
        self.worker.run(lambda: model_service.unhealthy_models(session),
                        done=self.show_model_health, label="Checking models", phi=False)
        first = start_page(self.session.roles, list(self.specs))
        if first is not None:
            self.show_page(first)
        self.idle.start()
        self.notifications.start()
        self.poll_changes()  # the baseline
        self.counts_timer.start()

    def show_scheduler(self, host: Any) -> None:
        """The status bar's scheduled-jobs item: where the vault's jobs run (here, held by
        `offhold run`, stopped); a click lists each job's last run and result."""
        from ui.desktop.scheduler_status import SchedulerButton
        self.scheduler_button = SchedulerButton(host, self)
        self.statusBar().addPermanentWidget(self.scheduler_button)

    def show_model_health(self, unhealthy: list[tuple[ModelRecord, ModelHealth]]) -> None:
        """A slow or broken model: a banner for everyone (their drafts come from the
        templates), with the owner's task one click away for those who work it."""
        if not unhealthy or self.locked:
            return
        rec, health = unhealthy[0]
        task_id = health.task_id if self.session.can("model.manage") else None
        self.show_banner(model_service.health_message(rec.name, health.health, health.reason),
                         "critical", task_id)

    # -- pages
    def page(self, key: str) -> Page:
        if key not in self.pages:
            page = load(self.specs[key].factory)(self.ctx)
            self.pages[key] = page
            self.page_stack.addWidget(page)
        return self.pages[key]

    def current_page(self) -> Page | None:
        widget = self.page_stack.currentWidget()
        return widget if isinstance(widget, Page) else None

    def show_page(self, key: str, arg: Any = None) -> None:
        if self.locked or key not in self.specs:
            return
        page = self.page(key)
        self.page_stack.setCurrentWidget(page)
        self.page_actions[key].setChecked(True)
        page.setFocus()
        if arg is None:
            page.refresh()
        else:
            page.open_item(arg)

    def refresh_current(self) -> None:
        page = self.current_page()
        if page is not None and not self.locked:
            page.refresh()

    def poll_changes(self) -> None:
        """Ask the vault, cheaply, whether another process changed it since the last poll;
        if so, every open page refreshes as after a change of unknown extent."""
        if self.locked:
            return
        session = self.session
        self.worker.run(lambda: desktop_session.change_marker(session),
                        done=self._marker_seen, label="", phi=False)

    def _marker_seen(self, marker: int) -> None:
        previous, self._marker = self._marker, marker
        if previous is not None and marker != previous:
            self.changes.announce(EVERYTHING)

    def _changed(self, changes: Changes, source: object) -> None:
        if self.locked:
            return
        for page in list(self.pages.values()):
            if page is not source:
                page.on_changed(changes)

    # -- dialogs
    def open_settings(self) -> None:
        if self.locked:
            return
        from ui.desktop.settings_dialog import SettingsDialog
        dialog = SettingsDialog(self.ctx, self)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.auto_lock_changed.connect(self.idle.set_limit_minutes)
        dialog.finished.connect(lambda _r, d=dialog: self._forget_dialog(d))
        self.dialogs.append(dialog)
        dialog.open()
        self.settings_dialog = dialog

    def _forget_dialog(self, dialog: QDialog) -> None:
        if dialog in self.dialogs:
            self.dialogs.remove(dialog)

    # -- messages, notifications, progress
    def _message(self, level: str, text: str) -> None:
        if level == "info":
            self.statusBar().showMessage(text, 6000)
        elif not self.locked:
            self.show_banner(text, level)

    def show_banner(self, text: str, level: str = "warning", task_id: int | None = None) -> None:
        self.banner.setProperty("level", level)
        self.banner.style().unpolish(self.banner)
        self.banner.style().polish(self.banner)
        self.banner_text.setText(text)
        self._banner_task = task_id
        self.banner_open.setVisible(task_id is not None)
        self.banner.show()

    def dismiss_banner(self) -> None:
        self.banner.hide()
        self.banner_text.clear()
        self._banner_task = None

    def _banner_open_task(self) -> None:
        if self._banner_task is not None:
            self.show_page("queue", self._banner_task)
        self.dismiss_banner()

    def _notified(self, fresh: list[dict[str, Any]]) -> None:
        if self.locked:
            return
        latest = fresh[-1]
        more = f" (+{len(fresh) - 1} more)" if len(fresh) > 1 else ""
        self.show_banner(f"{latest['message']}{more}", latest.get("level", "info"),
                         latest.get("task_id"))

    def _fill_notify_menu(self) -> None:
        self.notify_menu.clear()
        items = self.notifications.unread
        if not items:
            self.notify_menu.addAction("No new notifications").setEnabled(False)
            return
        for item in items[-20:]:
            task_id = item.get("task_id")
            action = self.notify_menu.addAction(item["message"])
            if task_id is not None:
                action.triggered.connect(lambda _c=False, t=task_id: self.show_page("queue", t))
        self.notify_menu.addSeparator()
        self.notify_menu.addAction("Mark all read", self.notifications.mark_all_read)

    def _busy(self, count: int) -> None:
        if count:
            self.progress.show()
            if self.progress.maximum() != 0 and self.progress.value() >= self.progress.maximum():
                self.progress.setRange(0, 0)
        else:
            self.progress.hide()
            self.progress.setRange(0, 0)
            self.busy_label.clear()

    def _progress(self, label: str, done: int, total: int) -> None:
        self.progress.show()
        self.progress.setRange(0, max(total, 1))
        self.progress.setValue(done)
        self.busy_label.setText(f"{label} {done}/{total}" if label else "")

    # -- lock
    def lock(self, reason: str = "idle") -> None:
        """Hide and drop every patient detail, then record the lock (audited)."""
        if self.locked:
            return
        self.locked = True
        self.worker.locked = True
        for page in self.pages.values():
            page.clear_phi()
        for dialog in list(self.dialogs):
            dialog.reject()
        for box in self.findChildren(QMessageBox):
            box.reject()
        self.dismiss_banner()
        self.notify_menu.clear()
        self.statusBar().clearMessage()
        self.toolbar.hide()
        self.stack.setCurrentWidget(self.lock_screen)
        self.setWindowTitle("OffHold — locked")
        self.idle.stop()
        self.notifications.stop()
        self.counts_timer.stop()
        self.lock_screen.reset(reason)
        self.lock_screen.button.setEnabled(False)
        self._lock_pending = True
        session = self.session

        def recorded(_result: Any) -> None:
            self._lock_pending = False
            self.lock_screen.button.setEnabled(True)

        self.worker.run(lambda: desktop_session.lock(session, reason), done=recorded,
                        failed=lambda _e: recorded(None), label="Locking", phi=False)

    def unlock(self, password: str) -> None:
        if not self.locked or self._lock_pending:
            return
        session = self.session
        self.worker.run(lambda: desktop_session.unlock(session, password), done=self._unlocked,
                        failed=self._unlock_failed, label="Unlocking", phi=False)

    def _unlocked(self, _result: Any) -> None:
        self.locked = False
        self.worker.locked = False
        self.stack.setCurrentWidget(self.content)
        self.toolbar.show()
        self.lock_screen.reset()
        self.setWindowTitle(f"OffHold — {self.practice_label.text()}".rstrip(" —"))
        self.idle.start()
        self.notifications.start()
        self.poll_changes()  # what another process changed while the screen was locked
        self.counts_timer.start()
        page = self.current_page()
        if page is not None:
            page.refresh()

    def _unlock_failed(self, exc: BaseException) -> None:
        if isinstance(exc, desktop_session.SessionEnded):
            self.logout()
            return
        self.lock_screen.show_error(str(exc))

    def logout(self) -> None:
        self.idle.detach()
        self.notifications.stop()
        self.counts_timer.stop()
        for page in self.pages.values():
            page.clear_phi()
        self.session_ended.emit()
        self.close()

    def closeEvent(self, event: QCloseEvent) -> None:
        self.idle.detach()
        self.notifications.stop()
        self.counts_timer.stop()
        super().closeEvent(event)
