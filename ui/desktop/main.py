"""`offhold gui`: start the desktop app. The login dialog comes first; after a login the
main window opens; a logout (or too many wrong passwords on the lock screen) closes the
vault and shows the login again.

`--autologin ROLE` logs in as the demo user with that role, on demo vaults only.
"""

from __future__ import annotations

import gc
import logging
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, Qt
from PySide6.QtWidgets import QApplication, QMessageBox

from ui.desktop.login import LoginDialog
from ui.desktop.messages import CrashReport, MessageBridge
from ui.desktop.worker import Worker

log = logging.getLogger(__name__)

# Closing the app (or logging out) waits at most this long in all: the scheduler's running
# jobs get it less a margin, and the worker (which runs the scheduler's stop) the rest, so
# a slow stop can no longer outlive the worker's wait and meet a closed vault.
SHUTDOWN_SECONDS = 30.0
SHUTDOWN_MARGIN = 2.0  # for the worker's other jobs and the scheduler's own shutdown


class AppController(QObject):
    """Owns the bridge, the worker, the login dialog and the main window."""

    def __init__(self, vault_dir: Path, bridge: MessageBridge, worker: Worker, *,
                 host_scheduler: bool = False) -> None:
        super().__init__()
        self.vault_dir = Path(vault_dir)
        self.bridge = bridge
        self.worker = worker
        self.host_scheduler = host_scheduler  # the app runs the vault's jobs (run_gui)
        self.scheduler_host: Any = None
        self.login: LoginDialog | None = None
        self.wizard: Any = None
        self.window: Any = None
        self.session: Any = None

    def show_login(self, user: str = "", password: str = "") -> LoginDialog:
        dialog = LoginDialog(self.vault_dir, self.worker, self.bridge,
                             practice_label=f"Vault: {self.vault_dir.name}")
        dialog.logged_in.connect(self.open_main)
        dialog.rejected.connect(self._login_cancelled)
        dialog.user.setText(user)
        dialog.password.setText(password)
        (dialog.password if user else dialog.user).setFocus()
        self.login = dialog
        dialog.show()
        if user and password:
            dialog.attempt()
        return dialog

    def show_first_run(self) -> Any:
        from ui.desktop.first_run import FirstRunWizard
        wizard = FirstRunWizard(self.vault_dir, self.worker, self.bridge)
        wizard.completed.connect(self.open_main)
        wizard.rejected.connect(self._first_run_cancelled)
        self.wizard = wizard
        wizard.show()
        return wizard

    def _first_run_cancelled(self) -> None:
        """Cancelled after the vault was made: close it (the next start shows the login),
        but only once the worker is idle: the set-up may still be writing to it."""
        wizard = self.wizard
        if wizard is not None and wizard.session is not None:
            self.worker.wait()
            wizard.session.vault.close()
        self._login_cancelled()

    def _login_cancelled(self) -> None:
        if self.window is None:
            QApplication.quit()

    def open_main(self, session: Any) -> None:
        from ui.desktop.mainwindow import MainWindow  # after login: keeps startup light
        from ui.desktop.style import app_icon, apply_stylesheet
        app = QApplication.instance()
        if isinstance(app, QApplication):
            apply_stylesheet(app)
        self.session = session
        icon = app_icon()
        window = MainWindow(session, self.worker, self.bridge, self.vault_dir, icon=icon)
        window.setWindowIcon(icon)
        window.session_ended.connect(self.logged_out)
        self.window = window
        window.show()
        window.start()
        if self.host_scheduler:
            from ui.desktop.scheduler_host import SchedulerHost
            self.scheduler_host = SchedulerHost(session.vault, self.worker, parent=self)
            window.show_scheduler(self.scheduler_host)
            self.scheduler_host.start()
        for warning in session.vault.warnings:  # repairs and tamper found at open
            self.bridge.warning(warning)
        # Startup objects live for the whole session: keep the cyclic collector from
        # re-walking them on every full collection (fewer GUI-thread pauses).
        gc.collect()
        gc.freeze()

    def _stop_hosting(self, wait_seconds: float) -> None:
        host, self.scheduler_host = self.scheduler_host, None
        if host is not None:
            host.stop(wait_seconds)  # queued on the worker: waited for before the vault closes

    def _wind_down(self, seconds: float, clock: Callable[[], float],
                   finish: Callable[[int], bool]) -> bool:
        """In order, under one deadline: the scheduler stops taking jobs and its running
        ones get `seconds` less a margin (the stop runs on the worker), then `finish`
        waits for the worker with what is left. True when everything ended in time."""
        deadline = clock() + seconds
        host = self.scheduler_host
        self._stop_hosting(max(0.0, seconds - SHUTDOWN_MARGIN))
        ended = finish(max(0, int((deadline - clock()) * 1000)))
        # The stop itself ends in time, but a job that outlived its wait still runs on the
        # scheduler's own thread: the vault stays open for it (_close_vault).
        return ended and not (host is not None and host.jobs_left_running)

    def _close_vault(self, session: Any, finished: bool) -> None:
        if finished:
            session.vault.close()
            return
        # A job still uses the vault: closing it under the job could lose its write. The
        # process exit closes it; the job's own transaction keeps the vault consistent.
        log.warning("the vault was left open: background work was still running when the "
                    "shutdown deadline passed")

    def logged_out(self, seconds: float = SHUTDOWN_SECONDS,
                   clock: Callable[[], float] = time.monotonic) -> None:
        session, self.session, self.window = self.session, None, None
        finished = self._wind_down(seconds, clock, self.worker.wait)
        if session is not None:
            self._close_vault(session, finished)
        self.show_login()

    def shutdown(self, seconds: float = SHUTDOWN_SECONDS,
                 clock: Callable[[], float] = time.monotonic) -> bool:
        """Stop the scheduler, then the worker (results still in flight are dropped,
        never delivered), then close the vault: at most `seconds` in all."""
        finished = self._wind_down(seconds, clock, self.worker.shutdown)
        if self.session is not None:
            self._close_vault(self.session, finished)
            self.session = None
        return finished


_open_crash_dialogs: list[QMessageBox] = []  # parentless dialogs live while shown


def show_crash(report: CrashReport) -> None:
    """A non-modal crash dialog with code locations only (no PHI)."""
    box = QMessageBox(QMessageBox.Icon.Critical, "OffHold — unexpected problem", report.text)
    box.setDetailedText(f"{report.error_type}\n{report.where}")
    box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
    _open_crash_dialogs.append(box)
    box.finished.connect(lambda _r: _open_crash_dialogs.remove(box))
    box.show()


def run_gui(vault_dir: Path, autologin_role: str | None = None,
            argv: list[str] | None = None) -> int:
    """Open the app on `vault_dir`; returns the process exit code."""
    vault_dir = Path(vault_dir)
    user = password = ""
    if autologin_role:
        from automations.demo import demo_user_for_role, is_demo_vault
        if not is_demo_vault(vault_dir):
            print(f"offhold: --autologin works on demo vaults only; {vault_dir} is not a demo "
                  "vault. Log in with your user name and password.", file=sys.stderr)
            return 1
        entry = demo_user_for_role(autologin_role)
        user, password = str(entry["user"]), str(entry["password"])
    from app.vault.db import db_path, keys_path
    first_run = not db_path(vault_dir).exists() and not keys_path(vault_dir).exists()
    if not db_path(vault_dir).exists() and not first_run:
        print(f"offhold: {vault_dir} has a key file but no vault; restore a backup there "
              "or choose another folder", file=sys.stderr)
        return 1
    from automations.wiring import wire
    wire()  # what approving a task does: the same composition root as the CLI and tests
    app = QApplication.instance() or QApplication(argv or sys.argv[:1])
    assert isinstance(app, QApplication)
    app.setApplicationName("OffHold")
    from ui.desktop.style import apply_style
    apply_style(app)
    app.setQuitOnLastWindowClosed(True)
    bridge = MessageBridge()
    bridge.crash_handler = show_crash
    worker = Worker(bridge)
    controller = AppController(vault_dir, bridge, worker, host_scheduler=True)
    if first_run:  # no vault yet: the set-up wizard, then the app with the owner logged in
        controller.show_first_run()
    else:
        controller.show_login(user, password)
    from ui.desktop.style import app_icon
    app.setWindowIcon(app_icon())  # after the login is up: it is not needed to show it
    try:
        return int(app.exec())
    finally:
        controller.shutdown()
