"""Where the vault's scheduled jobs run, shown in the main window: a status-bar button
with the host's status line ("Scheduled jobs run here", "... held by offhold run, pid 42,
on frontdesk-2 since ...", "... stopped") that opens a list of the jobs with their last
run here, its result and their next run. Nothing here touches the vault: the list comes
from SchedulerHost.jobs() on the worker."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QAbstractItemView,
    QDialog,
    QDialogButtonBox,
    QHeaderView,
    QLabel,
    QTableWidget,
    QTableWidgetItem,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from shiboken6 import isValid

from ui.desktop.scheduler_host import ELSEWHERE, FAILED, HERE, JobInfo, SchedulerHost

STATE_STYLE = {HERE: "color: #1b7a3a;", ELSEWHERE: "color: #5f6368;",
               FAILED: "color: #b3261e;"}


def _when(value: Any, zone: Any) -> str:
    return "–" if value is None else f"{value.astimezone(zone):%Y-%m-%d %H:%M}"


class SchedulerButton(QToolButton):
    """The status bar's item; a click opens the jobs dialog."""

    def __init__(self, host: SchedulerHost, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.host = host
        self.setObjectName("schedulerStatus")
        self.setAutoRaise(True)
        self.dialog: SchedulerDialog | None = None
        host.status_changed.connect(lambda _s: self.update_status())
        self.clicked.connect(self.open_dialog)
        self.update_status()

    def update_status(self) -> None:
        self.setText(self.host.status)
        self.setStyleSheet(STATE_STYLE.get(self.host.state, ""))
        self.setToolTip("Where the practice's scheduled jobs (PA checks, the outbox, "
                        "reminders, reports) run; click for each job's last run.")

    def open_dialog(self) -> None:
        if self.dialog is not None and isValid(self.dialog) and self.dialog.isVisible():
            self.dialog.raise_()
            return
        self.dialog = SchedulerDialog(self.host, self.window())
        self.dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)  # no dialog piles up
        self.dialog.open()


class SchedulerDialog(QDialog):
    COLUMNS = ("Job", "Last run here", "Result", "Next run")

    def __init__(self, host: SchedulerHost, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.host = host
        self.setObjectName("schedulerDialog")
        self.setWindowTitle("Scheduled jobs")
        self.status = QLabel()
        self.status.setObjectName("schedulerDialogStatus")
        self.status.setWordWrap(True)
        self.table = QTableWidget(0, len(self.COLUMNS))
        self.table.setObjectName("schedulerJobs")
        self.table.setHorizontalHeaderLabels(list(self.COLUMNS))
        self.table.verticalHeader().hide()
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.horizontalHeader().setSectionResizeMode(
            0, QHeaderView.ResizeMode.Stretch)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(self.status)
        layout.addWidget(self.table, 1)
        layout.addWidget(buttons)
        self.resize(640, 420 if host.state == HERE else 120)
        # Bound methods: Qt drops these connections when the dialog is deleted.
        host.status_changed.connect(self._status_changed)
        host.jobs_changed.connect(self.reload)
        self.reload()

    def _status_changed(self, _status: str) -> None:
        self.reload()

    def reload(self) -> None:
        explain = {HERE: "This app runs them while it is open; they stop when it closes "
                         "(unless `offhold run` then takes over).",
                   ELSEWHERE: "Another process runs them, so their runs are in its log; "
                              "this app takes over within a minute after it stops."}
        self.status.setText(f"{self.host.status}. {explain.get(self.host.state, '')}".strip())
        self.table.setVisible(self.host.state == HERE)  # only here are the runs known
        self.host.jobs(self.show_jobs)

    def show_jobs(self, jobs: list[JobInfo]) -> None:
        from datetime import datetime
        if not isValid(self):  # closed while the list was read
            return
        zone = datetime.now().astimezone().tzinfo  # the machine's clock, like the status bar
        self.table.setRowCount(len(jobs))
        for row, job in enumerate(jobs):
            last = job.last
            values = (job.job_id.replace("-", " ").replace("_", " "), _when(last.at if last else None, zone),
                      last.result if last else "not run since the app started",
                      _when(job.next_run, zone) if job.next_run else "paused")
            for col, value in enumerate(values):
                self.table.setItem(row, col, QTableWidgetItem(value))
        self.table.resizeColumnsToContents()
