"""The work queue: a sidebar of queues with live counts, the queue table (sortable,
filterable, overdue rows marked) and the task detail pane. Keyboard-first:
J/K move, A approve, R reject (reason inline), E edit, S snooze, Ctrl+S save the edit,
Ctrl+Enter approve as edited, / filter, Esc back to the table, Ctrl+Shift+A bulk approve.

This is a controller: it turns requests into `app.queue` / `app.services` calls run by
the worker, and shows what comes back. No business rules live here.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any, Callable

from PySide6.QtCore import QItemSelectionModel, QModelIndex, Qt
from PySide6.QtGui import QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QListView,
    QMessageBox,
    QPushButton,
    QSplitter,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from app import clock, queue
from app.domain import ActionMode, Task, TaskState
from app.queue.changes import Changes
from app.services import desktop_session
from ui.desktop.detail import TaskDetailPane
from ui.desktop.models import TASK_ID_ROLE, QueueListModel, TaskFilterProxy, TaskTableModel
from ui.desktop.pages import AppContext, Page

PAGE_LIMIT = 200


class QueuePage(Page):
    title = "Work queue"

    def __init__(self, ctx: AppContext, parent: QWidget | None = None) -> None:
        super().__init__(ctx, parent)
        self.kind_filter = ""
        self.modes: dict[str, ActionMode] = {}
        self._select_after_load: int | None = None
        self._row_after_load: int | None = None
        self._detail_for: int | None = None
        self._confirm_box: QMessageBox | None = None

        self.sidebar_model = QueueListModel(self)
        self.sidebar = QListView()
        self.sidebar.setObjectName("queueSidebar")
        self.sidebar.setModel(self.sidebar_model)
        self.sidebar.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.sidebar.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.sidebar.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.sidebar.setMinimumWidth(230)
        self.sidebar.selectionModel().currentChanged.connect(self._kind_chosen)
        self.overdue_only = QCheckBox("Overdue only")
        self.overdue_only.toggled.connect(lambda _on: self.refresh())
        left = QWidget()
        left_layout = QVBoxLayout(left)
        left_layout.setContentsMargins(0, 0, 0, 0)
        queues_label = QLabel("Queues")
        queues_label.setObjectName("sectionLabel")
        left_layout.addWidget(queues_label)
        left_layout.addWidget(self.sidebar, 1)
        left_layout.addWidget(self.overdue_only)

        self.model = TaskTableModel(parent=self)
        self.proxy = TaskFilterProxy(self)
        self.proxy.setSourceModel(self.model)
        self.table = QTableView()
        self.table.setObjectName("queueTable")
        self.table.setModel(self.proxy)
        self.table.setSortingEnabled(True)
        self.table.sortByColumn(0, Qt.SortOrder.AscendingOrder)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setAlternatingRowColors(True)
        self.table.setWordWrap(False)
        self.table.verticalHeader().hide()
        self.table.verticalHeader().setDefaultSectionSize(26)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)  # the title takes the rest
        for column, width in ((0, 58), (1, 200), (2, 145), (3, 140), (4, 72), (5, 150),
                              (6, 70)):
            self.table.setColumnWidth(column, width)
        self.table.selectionModel().currentRowChanged.connect(self._current_changed)
        self.table.selectionModel().selectionChanged.connect(
            lambda *_: self._update_bulk_button())

        self.filter_edit = QLineEdit()
        self.filter_edit.setObjectName("queueFilter")
        self.filter_edit.setPlaceholderText("Filter this queue (/)")
        self.filter_edit.setClearButtonEnabled(True)
        self.filter_edit.textChanged.connect(self.proxy.setFilterFixedString)
        self.filter_edit.returnPressed.connect(self.table.setFocus)
        self.bulk_button = QPushButton("Approve selected")
        self.bulk_button.setToolTip("Approve every selected task (approve-each kinds only, "
                                    "Ctrl+Shift+A)")
        self.bulk_button.clicked.connect(self.bulk_approve)
        self.bulk_button.setVisible(ctx.session.can("task.bulk_approve"))
        self.count_label = QLabel()
        bar = QHBoxLayout()
        bar.addWidget(self.filter_edit, 1)
        bar.addWidget(self.count_label)
        bar.addWidget(self.bulk_button)
        middle = QWidget()
        middle_layout = QVBoxLayout(middle)
        middle_layout.setContentsMargins(0, 0, 0, 0)
        middle_layout.addLayout(bar)
        middle_layout.addWidget(self.table, 1)

        self.detail = TaskDetailPane()
        self.detail.can_open_letters = ctx.session.can("claim.manage")
        self.detail.approve_requested.connect(self.approve)
        self.detail.reject_requested.connect(self.reject)
        self.detail.save_requested.connect(self.save_edit)
        self.detail.snooze_requested.connect(self.snooze)
        self.detail.reassign_requested.connect(self.reassign)
        self.detail.escalate_requested.connect(self.escalate)
        self.detail.retry_requested.connect(self.retry)
        self.detail.shadow_requested.connect(self.shadow_verdict)
        self.detail.patient_requested.connect(lambda pid: ctx.navigate("patients", pid))
        self.detail.letter_requested.connect(self.open_letter)
        self.detail.referral_requested.connect(lambda rid: ctx.navigate("referrals", rid))

        self.splitter = QSplitter(Qt.Orientation.Horizontal)
        self.splitter.addWidget(left)
        self.splitter.addWidget(middle)
        self.splitter.addWidget(self.detail)
        self.splitter.setStretchFactor(0, 0)
        self.splitter.setStretchFactor(1, 3)
        self.splitter.setStretchFactor(2, 2)
        self.splitter.setSizes([235, 855, 410])
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.addWidget(self.splitter)

        self.setFocusProxy(self.table)
        self._keys: dict[str, QShortcut] = {}
        for seq, handler in (("J", self.next_task), ("K", self.previous_task),
                             ("A", self.approve_current), ("R", self.detail.begin_reject),
                             ("E", self.edit_current), ("S", lambda: self.snooze(24)),
                             ("Ctrl+S", self.save_current), ("Ctrl+Return", self.approve_current),
                             ("/", self.filter_edit.setFocus), ("Escape", self.back_to_table),
                             ("Ctrl+Shift+A", self.bulk_approve)):
            shortcut = QShortcut(QKeySequence(seq), self)
            shortcut.setContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
            shortcut.activated.connect(handler)
            self._keys[seq] = shortcut

        if ctx.session.can("task.reassign"):
            ctx.worker.run(lambda: desktop_session.assignable_users(ctx.session),
                           done=lambda users: self.detail.set_reassign_choices(users, True),
                           label="Loading users")
        else:
            self.detail.set_reassign_choices([], False)

    # -- loading
    def current_filter(self) -> queue.QueueFilter:
        return queue.QueueFilter(kinds=(self.kind_filter,) if self.kind_filter else (),
                                 overdue_only=self.overdue_only.isChecked())

    def refresh(self) -> None:
        session = self.ctx.session
        flt = self.current_filter()
        self.ctx.worker.run(lambda: desktop_session.queue_view(session, flt, PAGE_LIMIT),
                            done=self._loaded, label="Loading queue")

    def refresh_counts(self) -> None:
        """Update the sidebar counts only (the table and an edit in progress are left
        alone)."""
        session = self.ctx.session
        self.ctx.worker.run(lambda: queue.queue_counts(session),
                            done=self.sidebar_model.set_counts, label="")

    def on_changed(self, changes: Changes) -> None:
        # Another page or process: the counts now; the table reloads when next shown, so
        # an edit in progress is never overwritten.
        self.refresh_counts()

    def _loaded(self, view: desktop_session.QueueView) -> None:
        keep = self._select_after_load or self.current_task_id()
        row_hint = self._row_after_load
        self._select_after_load = self._row_after_load = None
        self.modes = view.modes
        self.sidebar_model.set_counts(view.counts)
        self._select_sidebar_row()
        self.model.set_rows(view.tasks, view.names)
        # The assignee column only when someone is assigned: room for the titles.
        self.table.setColumnHidden(6, not any(t.assignee for t in view.tasks))
        self.count_label.setText(f"{len(view.tasks)} shown"
                                 + (f" (first {PAGE_LIMIT})" if len(view.tasks) >= PAGE_LIMIT
                                    else ""))
        target = self._proxy_row_of(keep) if keep is not None and row_hint is None else -1
        if target < 0 and self.proxy.rowCount():
            target = min(row_hint or 0, self.proxy.rowCount() - 1)
        if target >= 0:
            self.select_row(target)
        else:
            self._detail_for = None
            self.detail.show_task(None)

    def _select_sidebar_row(self) -> None:
        for row in range(self.sidebar_model.rowCount()):
            index = self.sidebar_model.index(row)
            if index.data(QueueListModel.KIND_ROLE) == self.kind_filter:
                if self.sidebar.currentIndex() != index:
                    self.sidebar.blockSignals(True)
                    self.sidebar.selectionModel().blockSignals(True)
                    self.sidebar.setCurrentIndex(index)
                    self.sidebar.selectionModel().blockSignals(False)
                    self.sidebar.blockSignals(False)
                return

    def _kind_chosen(self, index: QModelIndex, _previous: QModelIndex) -> None:
        kind_name = index.data(QueueListModel.KIND_ROLE) if index.isValid() else ""
        if kind_name != self.kind_filter:
            self.kind_filter = kind_name or ""
            self.refresh()

    def open_item(self, arg: Any) -> None:
        """Show one task by id (from a notification or the patient page)."""
        if arg is None:
            return
        self.kind_filter = ""
        self.overdue_only.setChecked(False)
        self.filter_edit.clear()
        self._select_after_load = int(arg)
        self.refresh()

    def _proxy_row_of(self, task_id: int) -> int:
        for row in range(self.proxy.rowCount()):
            if self.proxy.index(row, 0).data(TASK_ID_ROLE) == task_id:
                return row
        return -1

    def select_row(self, row: int) -> None:
        index = self.proxy.index(row, 0)
        self.table.selectionModel().setCurrentIndex(
            index, QItemSelectionModel.SelectionFlag.ClearAndSelect
            | QItemSelectionModel.SelectionFlag.Rows)
        self.table.scrollTo(index)

    def current_task_id(self) -> int | None:
        index = self.table.currentIndex()
        value = index.data(TASK_ID_ROLE) if index.isValid() else None
        return int(value) if value is not None else None

    def current_task(self) -> Task | None:
        task = self.detail.task
        return task if task is not None and task.id == self.current_task_id() else None

    def _current_changed(self, current: QModelIndex, _previous: QModelIndex) -> None:
        task_id = current.data(TASK_ID_ROLE) if current.isValid() else None
        if task_id is None:
            self._detail_for = None
            self.detail.show_task(None)
            return
        self._load_detail(int(task_id))

    def _load_detail(self, task_id: int) -> None:
        self._detail_for = task_id
        session = self.ctx.session

        def shown(task: Task) -> None:
            if self._detail_for != task.id:
                return  # the person moved on while it loaded
            self.detail.show_task(task)
            for item in task.evidence:
                if item.blob_id is not None and item.mime.startswith("image/"):
                    self._load_image(item.blob_id, task.id)

        self.ctx.worker.run(lambda: queue.get_task(session, task_id), done=shown,
                            label="Opening task")

    def _load_image(self, blob_id: int, task_id: int) -> None:
        """Evidence images come from vault blobs into memory and a QPixmap, never a file."""
        session = self.ctx.session

        def fetch() -> tuple[bytes, str]:
            return queue.blob_data(session, blob_id, task_id)

        def show(data: tuple[bytes, str]) -> None:
            self.detail.set_image(blob_id, data[0])

        self.ctx.worker.run(fetch, done=show, label="Loading evidence")

    # -- keyboard navigation
    def next_task(self) -> None:
        self._move(1)

    def previous_task(self) -> None:
        self._move(-1)

    def _move(self, step: int) -> None:
        rows = self.proxy.rowCount()
        if not rows:
            return
        current = self.table.currentIndex().row()
        target = 0 if current < 0 else max(0, min(rows - 1, current + step))
        self.select_row(target)
        self.table.setFocus()

    def edit_current(self) -> None:
        if self.current_task() is not None and not self.detail.editor.isReadOnly():
            self.detail.tabs.setCurrentIndex(0)
            self.detail.editor.setFocus()
            self.detail.editor.moveCursor(self.detail.editor.textCursor().MoveOperation.End)

    def back_to_table(self) -> None:
        self.detail.cancel_reject()
        self.table.setFocus()

    def approve_current(self) -> None:
        self.approve(self.detail.editor.toPlainText())

    def save_current(self) -> None:
        self.save_edit(self.detail.editor.toPlainText())

    # -- actions (each: one service call on the worker, then reload)
    def _act(self, verb: str, call: Callable[[Task], Task]) -> None:
        task = self.current_task()
        if task is None:
            self.ctx.bridge.warning("Select a task first (J / K).")
            return
        row = self.table.currentIndex().row()

        def finished(result: Task) -> None:
            self.ctx.bridge.info(f"Task {result.id} {verb} ({result.state.value}).")
            self._row_after_load = row
            if result.state in queue.ACTIONABLE_STATES:
                self._row_after_load = None
                self._select_after_load = result.id
            self.refresh()
            self.table.setFocus()

        self.ctx.operate(lambda: call(task), done=finished, label=f"Task {task.id}: {verb}",
                         source=self)

    def approve(self, draft: str) -> None:
        task = self.current_task()
        if task is not None and task.state is TaskState.SHADOW:
            self.ctx.bridge.warning(
                f"Task {task.id} is a shadow-mode draft and can never be approved for sending. "
                "Use Would approve / Would change / Would reject.")
            return
        session = self.ctx.session
        self._act("approved", lambda t: queue.approve(
            session, t.id, draft if draft != t.draft else None))

    def reject(self, reason: str) -> None:
        session = self.ctx.session
        self._act("rejected", lambda t: queue.reject(session, t.id, reason))

    def save_edit(self, draft: str) -> None:
        session = self.ctx.session
        self._act("edited", lambda t: queue.edit_draft(session, t.id, draft))

    def snooze(self, hours: int) -> None:
        session = self.ctx.session
        self._act("snoozed", lambda t: queue.snooze(
            session, t.id, clock.now() + timedelta(hours=hours)))

    def reassign(self, user: str) -> None:
        session = self.ctx.session
        self._act("reassigned", lambda t: queue.reassign(session, t.id, user or None))

    def escalate(self) -> None:
        session = self.ctx.session
        self._act("escalated", lambda t: queue.escalate(session, t.id))

    def retry(self) -> None:
        session = self.ctx.session
        self._act("sent back for approval", lambda t: queue.retry(session, t.id))

    def shadow_verdict(self, verdict: str, draft: str, note: str) -> None:
        session = self.ctx.session
        self._act(f"marked {verdict.replace('_', ' ')}", lambda t: queue.shadow_verdict(
            session, t.id, verdict, changed_draft=draft if verdict == "would_change" else None,
            note=note))

    # -- bulk approve
    def selected_tasks(self) -> list[Task]:
        rows = {self.proxy.mapToSource(i).row()
                for i in self.table.selectionModel().selectedRows()}
        return [t for r in sorted(rows) if (t := self.model.task_at(r)) is not None]

    def _update_bulk_button(self) -> None:
        count = len(self.table.selectionModel().selectedRows())
        self.bulk_button.setText(f"Approve selected ({count})" if count > 1 else
                                 "Approve selected")

    def bulk_approve(self) -> None:
        """Only kinds in approve-each mode, only pending/failed tasks, after confirming."""
        if not self.ctx.session.can("task.bulk_approve"):
            self.ctx.bridge.warning("Bulk approve is for office managers and owners.")
            return
        tasks = self.selected_tasks()
        if not tasks:
            self.ctx.bridge.warning("Select tasks to approve (Shift+click or Ctrl+click).")
            return
        blocked = [t for t in tasks if self.modes.get(t.kind) is not ActionMode.APPROVE_EACH
                   or t.state not in (TaskState.PENDING, TaskState.FAILED)]
        if blocked:
            self.ctx.bridge.warning(
                f"Bulk approve works only for pending tasks of kinds in approve-each mode; "
                f"{len(blocked)} of the {len(tasks)} selected are not (e.g. task "
                f"{blocked[0].id}, {self.modes.get(blocked[0].kind, ActionMode.SHADOW).value}"
                " mode).")
            return
        box = QMessageBox(QMessageBox.Icon.Question, "Approve tasks",
                          f"Approve {len(tasks)} tasks? Each one runs its action now.",
                          QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.Cancel,
                          self)
        box.setDefaultButton(QMessageBox.StandardButton.Cancel)
        box.setWindowModality(Qt.WindowModality.WindowModal)
        ids = [t.id for t in tasks]
        box.finished.connect(lambda result: self._bulk_confirmed(result, ids))
        self._confirm_box = box
        box.open()  # asynchronous: no nested event loop

    def _bulk_confirmed(self, result: int, ids: list[int]) -> None:
        box, self._confirm_box = self._confirm_box, None
        if box is not None:
            box.deleteLater()
        if result != QMessageBox.StandardButton.Yes:
            return
        session = self.ctx.session

        def finished(done: list[Task]) -> None:
            self.ctx.bridge.info(f"Approved {len(done)} tasks.")
            self.refresh()

        self.ctx.operate(lambda: desktop_session.bulk_approve(session, ids), done=finished,
                         label=f"Approving {len(ids)} tasks", source=self)

    # -- lock
    def open_letter(self, task_id: int) -> None:
        from ui.desktop.letter_view import LetterDialog
        self.letter_dialog = LetterDialog(self.ctx, task_id, self)
        self.letter_dialog.open()

    def clear_phi(self) -> None:
        if self._confirm_box is not None:
            self._confirm_box.reject()
        dialog = getattr(self, "letter_dialog", None)
        if dialog is not None:  # the letter names the patient
            dialog.document.close()
            dialog.reject()
        self._detail_for = None
        self.detail.clear_phi()
        self.model.clear()
        self.filter_edit.clear()
        self.count_label.clear()
