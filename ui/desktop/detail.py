"""The task detail pane: the draft in an editor, the evidence (source excerpts and images
from vault blobs, shown from memory, never written to disk), the history, and the action
buttons. It only emits requests; the queue page runs them through the worker.

Kind-specific tabs (the intake review with highlighted spans) are declared in `DETAIL_TABS`
(ui/desktop/extensions.py): a QWidget class built with this pane, with show_task(task).
"""

from __future__ import annotations

from functools import partial
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QPixmap
from PySide6.QtWidgets import (
    QFrame,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QMenu,
    QPlainTextEdit,
    QPushButton,
    QScrollArea,
    QTabWidget,
    QToolButton,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from app.domain import ACTIONABLE_STATES, Task, TaskState
from ui.desktop.extensions import DETAIL_TABS, load
from ui.desktop.models import STATE_TEXT, kind_label, local_time

# A factory may have `accepts(task) -> bool` to skip tasks it cannot show.

SNOOZE_CHOICES = (("1 hour", 1), ("4 hours", 4), ("Tomorrow (24 h)", 24), ("Next week", 168))


class TaskDetailPane(QWidget):
    approve_requested = Signal(str)          # the draft as shown
    reject_requested = Signal(str)           # reason
    save_requested = Signal(str)             # edited draft
    snooze_requested = Signal(int)           # hours
    reassign_requested = Signal(str)         # user name ("" = unassigned)
    escalate_requested = Signal()
    retry_requested = Signal()
    shadow_requested = Signal(str, str, str)  # verdict, draft, note
    patient_requested = Signal(int)
    letter_requested = Signal(int)           # task id (its latest letter PDF)
    referral_requested = Signal(int)         # referral id (the Referrals page's one view)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.task: Task | None = None
        # opening a letter needs claim.manage (checked by the service); the page says
        # whether its user has it, so nobody is shown a button that only refuses
        self.can_open_letters = True
        self.setObjectName("detailPane")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(8, 4, 4, 4)

        self.title = QLabel()
        self.title.setObjectName("detailTitle")
        self.title.setWordWrap(True)
        self.meta = QLabel()
        self.meta.setWordWrap(True)
        self.meta.setObjectName("detailMeta")
        self.patient_button = QPushButton("Open patient")
        self.patient_button.setToolTip("Open this patient's page (audited as a view)")
        self.patient_button.clicked.connect(self._open_patient)
        self.referral_button = QPushButton("Open referral")
        self.referral_button.setObjectName("openReferral")
        self.referral_button.setToolTip("What happened to this referral, in one view")
        self.referral_button.clicked.connect(self._open_referral)
        head = QHBoxLayout()
        head.addWidget(self.meta, 1)
        head.addWidget(self.referral_button)
        head.addWidget(self.patient_button)
        self.shadow_banner = QLabel(
            "SHADOW MODE: this draft is for review only and will never be sent. "
            "Record what you would have done; it builds the trust figures for this kind.")
        self.shadow_banner.setObjectName("shadowBanner")
        self.shadow_banner.setWordWrap(True)
        self.shadow_banner.hide()
        layout.addWidget(self.title)
        layout.addLayout(head)
        layout.addWidget(self.shadow_banner)

        self.tabs = QTabWidget()
        self.editor = QPlainTextEdit()
        self.editor.setObjectName("draftEditor")
        self.editor.setPlaceholderText("No draft for this task.")
        self.editor.setTabChangesFocus(True)
        self.tabs.addTab(self.editor, "Draft")
        self.evidence_box = QWidget()
        self.evidence_layout = QVBoxLayout(self.evidence_box)
        self.evidence_layout.setAlignment(Qt.AlignmentFlag.AlignTop)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setWidget(self.evidence_box)
        self.tabs.addTab(scroll, "Evidence")
        self.history = QTreeWidget()
        self.history.setHeaderLabels(["When", "Who", "What", "Note"])
        self.history.setRootIsDecorated(False)
        self.history.setColumnWidth(0, 110)
        self.history.setColumnWidth(1, 80)
        self.history.setColumnWidth(2, 120)
        self.tabs.addTab(self.history, "History")
        self._extension_tabs: list[QWidget] = []
        layout.addWidget(self.tabs, 1)

        # The reject reason is asked inline (no nested dialog loop), keyboard-first.
        self.reject_row = QFrame()
        reject_layout = QHBoxLayout(self.reject_row)
        reject_layout.setContentsMargins(0, 0, 0, 0)
        self.reject_reason = QLineEdit()
        self.reject_reason.setPlaceholderText("Why reject? (required, Enter to confirm, Esc "
                                              "to cancel)")
        self.reject_reason.returnPressed.connect(self._confirm_reject)
        confirm = QPushButton("Confirm reject")
        confirm.clicked.connect(self._confirm_reject)
        cancel = QPushButton("Cancel")
        cancel.clicked.connect(self.cancel_reject)
        reject_layout.addWidget(self.reject_reason, 1)
        reject_layout.addWidget(confirm)
        reject_layout.addWidget(cancel)
        self.reject_row.hide()
        layout.addWidget(self.reject_row)

        self.buttons = QWidget()
        row = QHBoxLayout(self.buttons)
        row.setContentsMargins(0, 0, 0, 0)
        self.approve_button = QPushButton("Approve (A)")
        self.approve_button.setObjectName("approveButton")
        self.approve_button.clicked.connect(
            lambda: self.approve_requested.emit(self.editor.toPlainText()))
        self.reject_button = QPushButton("Reject (R)")
        self.reject_button.clicked.connect(self.begin_reject)
        self.save_button = QPushButton("Save edit")
        self.save_button.setToolTip("Save the edited draft (Ctrl+S)")
        self.save_button.clicked.connect(
            lambda: self.save_requested.emit(self.editor.toPlainText()))
        self.snooze_button = QToolButton()
        self.snooze_button.setText("Snooze (S)")
        self.snooze_button.setPopupMode(QToolButton.ToolButtonPopupMode.MenuButtonPopup)
        snooze_menu = QMenu(self.snooze_button)
        for text, hours in SNOOZE_CHOICES:
            snooze_menu.addAction(text, partial(self.snooze_requested.emit, hours))
        self.snooze_button.setMenu(snooze_menu)
        self.snooze_button.clicked.connect(lambda: self.snooze_requested.emit(24))
        self.reassign_button = QToolButton()
        self.reassign_button.setText("Reassign")
        self.reassign_button.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        self.reassign_menu = QMenu(self.reassign_button)
        self.reassign_button.setMenu(self.reassign_menu)
        self.escalate_button = QPushButton("Escalate")
        self.escalate_button.clicked.connect(self.escalate_requested.emit)
        self.retry_button = QPushButton("Retry")
        self.retry_button.clicked.connect(self.retry_requested.emit)
        first_row: tuple[QWidget, ...] = (self.approve_button, self.reject_button,
                                          self.save_button)
        for widget in first_row:
            row.addWidget(widget)
        row.addStretch(1)
        layout.addWidget(self.buttons)
        self.more_buttons = QWidget()
        row2 = QHBoxLayout(self.more_buttons)
        row2.setContentsMargins(0, 0, 0, 0)
        second_row: tuple[QWidget, ...] = (self.snooze_button, self.reassign_button,
                                           self.escalate_button, self.retry_button)
        for other in second_row:
            row2.addWidget(other)
        row2.addStretch(1)
        layout.addWidget(self.more_buttons)

        self.shadow_buttons = QWidget()
        srow = QHBoxLayout(self.shadow_buttons)
        srow.setContentsMargins(0, 0, 0, 0)
        srow.addWidget(QLabel("Shadow verdict:"))
        self.would_approve = QPushButton("Would approve")
        self.would_change = QPushButton("Would change (as edited)")
        self.would_reject = QPushButton("Would reject")
        self.would_approve.clicked.connect(lambda: self._verdict("would_approve"))
        self.would_change.clicked.connect(lambda: self._verdict("would_change"))
        self.would_reject.clicked.connect(lambda: self._verdict("would_reject"))
        for widget in (self.would_approve, self.would_change, self.would_reject):
            srow.addWidget(widget)
        srow.addStretch(1)
        self.shadow_buttons.hide()
        layout.addWidget(self.shadow_buttons)
        self.show_task(None)

    # -- showing
    def set_reassign_choices(self, users: list[str], enabled: bool) -> None:
        self.reassign_menu.clear()
        self.reassign_menu.addAction("Unassigned", lambda: self.reassign_requested.emit(""))
        for user in users:
            self.reassign_menu.addAction(user, partial(self.reassign_requested.emit, user))
        self.reassign_button.setEnabled(enabled and self.task is not None)
        self._reassign_allowed = enabled

    def show_task(self, task: Task | None) -> None:
        """Show a task (with evidence and history loaded), or nothing."""
        self.task = task
        self.cancel_reject()
        self._clear_evidence()
        self.history.clear()
        for tab in self._extension_tabs:
            self.tabs.removeTab(self.tabs.indexOf(tab))
            tab.deleteLater()
        self._extension_tabs = []
        if task is None:
            self.title.setText("Select a task")
            self.meta.setText("Use J / K to move, A approve, R reject, E edit, S snooze.")
            self.editor.setPlainText("")
            self.editor.setReadOnly(True)
            self.shadow_banner.hide()
            self.shadow_buttons.hide()
            self.patient_button.hide()
            self.referral_button.hide()
            for button in self._action_buttons():
                button.setEnabled(False)
            return
        shadow = task.state is TaskState.SHADOW
        actionable = task.state in ACTIONABLE_STATES
        self.title.setText(task.title)
        due = local_time(task.due_at) or "no due time"
        overdue = " (OVERDUE)" if task.due_at and task.is_overdue(_now()) else ""
        self.meta.setText(f"#{task.id} · {kind_label(task.kind)} · "
                          f"{STATE_TEXT.get(task.state.value, task.state.value)}"
                          f"{' (never sent)' if shadow else ''} · due {due}"
                          f"{overdue} · works it: {task.role}"
                          + (f" · assigned to {task.assignee}" if task.assignee else ""))
        self.patient_button.setVisible(task.patient_id is not None)
        self.referral_button.setVisible(_referral_id(task) is not None)
        self.editor.setPlainText(task.draft)
        self.editor.setReadOnly(not actionable)
        self.shadow_banner.setVisible(shadow)
        self.shadow_buttons.setVisible(shadow and actionable)
        self.approve_button.setEnabled(actionable and not shadow)
        self.approve_button.setToolTip("Shadow-mode drafts can never be approved for sending"
                                       if shadow else "Approve and run (A)")
        self.reject_button.setEnabled(actionable)
        self.save_button.setEnabled(actionable)
        self.snooze_button.setEnabled(actionable)
        self.escalate_button.setEnabled(actionable)
        self.retry_button.setVisible(task.state is TaskState.FAILED)
        self.retry_button.setEnabled(task.state is TaskState.FAILED)
        self.reassign_button.setEnabled(getattr(self, "_reassign_allowed", False))
        for item in task.evidence:
            header = QLabel(f"<b>{_escape(item.label)}</b>")
            self.evidence_layout.addWidget(header)
            if item.excerpt:
                excerpt = QLabel(item.excerpt)
                excerpt.setWordWrap(True)
                excerpt.setObjectName("evidenceExcerpt")
                excerpt.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
                self.evidence_layout.addWidget(excerpt)
            if item.blob_id is not None and item.mime.startswith("image/"):
                image = QLabel("Loading image…")
                image.setObjectName(f"evidenceImage{item.blob_id}")
                image.setProperty("blob_id", item.blob_id)
                self.evidence_layout.addWidget(image)
        if self.can_open_letters and task.kind == "denial_review" and any(
                e.blob_id is not None and e.mime == "application/pdf" for e in task.evidence):
            letter = QPushButton("Open letter…")  # preview, save, print (ui/desktop/letter_view)
            letter.setObjectName("openLetter")
            letter.clicked.connect(lambda _c=False, t=task.id: self.letter_requested.emit(t))
            self.evidence_layout.addWidget(letter)
        if not task.evidence:
            self.evidence_layout.addWidget(QLabel("No evidence attached."))
        for entry in task.history:
            moved = f"{entry.from_state or ''} → {entry.to_state or ''}" if (
                entry.from_state != entry.to_state) else ""
            QTreeWidgetItem(self.history, [local_time(entry.ts), entry.actor,
                                           f"{entry.action} {moved}".strip(), entry.note])
        path = DETAIL_TABS.get(task.kind)
        factory = load(path) if path is not None else None
        if factory is not None and getattr(factory, "accepts", lambda _t: True)(task):
            tab = factory(self)
            getattr(tab, "show_task")(task)
            self._extension_tabs.append(tab)
            self.tabs.addTab(tab, kind_label(task.kind))
            self.tabs.setCurrentWidget(tab)
        elif self.tabs.currentIndex() >= 3:
            self.tabs.setCurrentIndex(0)

    def image_labels(self) -> list[QLabel]:
        return [w for w in self.evidence_box.findChildren(QLabel)
                if w.property("blob_id") is not None]

    def set_image(self, blob_id: int, data: bytes) -> None:
        """Show an evidence image from bytes held in memory (never a file)."""
        for label in self.image_labels():
            if label.property("blob_id") == blob_id:
                pixmap = QPixmap()
                if pixmap.loadFromData(data):
                    label.setPixmap(pixmap.scaledToWidth(
                        min(pixmap.width(), 520),
                        Qt.TransformationMode.SmoothTransformation))
                else:
                    label.setText("This image could not be shown.")

    def _clear_evidence(self) -> None:
        while self.evidence_layout.count():
            item = self.evidence_layout.takeAt(0)
            widget = item.widget() if item is not None else None
            if widget is not None:
                widget.hide()
                widget.deleteLater()

    def _action_buttons(self) -> list[QWidget]:
        return [self.approve_button, self.reject_button, self.save_button, self.snooze_button,
                self.reassign_button, self.escalate_button, self.retry_button]

    # -- inline reject
    def begin_reject(self) -> None:
        if self.task is None or not self.reject_button.isEnabled():
            return
        self.reject_row.show()
        self.reject_reason.clear()
        self.reject_reason.setFocus()

    def cancel_reject(self) -> None:
        self.reject_row.hide()
        self.reject_reason.clear()

    def _confirm_reject(self) -> None:
        reason = self.reject_reason.text().strip()
        if not reason:
            self.reject_reason.setPlaceholderText("A reason is required to reject")
            return
        if self.task is not None and self.task.state is TaskState.SHADOW:
            self.shadow_requested.emit("would_reject", self.editor.toPlainText(), reason)
        else:
            self.reject_requested.emit(reason)
        self.reject_row.hide()

    def _verdict(self, verdict: str) -> None:
        self.shadow_requested.emit(verdict, self.editor.toPlainText(), "")

    def _open_patient(self) -> None:
        if self.task is not None and self.task.patient_id is not None:
            self.patient_requested.emit(self.task.patient_id)

    def _open_referral(self) -> None:
        referral_id = _referral_id(self.task) if self.task is not None else None
        if referral_id is not None:
            self.referral_requested.emit(referral_id)

    def clear_phi(self) -> None:
        self.show_task(None)


def _referral_id(task: Task) -> int | None:
    """The referral a referral task is about (its payload names it), else None."""
    value = task.payload.get("referral_id") if isinstance(task.payload, dict) else None
    return int(value) if task.kind.startswith("referral_") and value else None


def _now() -> Any:
    from app import clock
    return clock.now()


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
