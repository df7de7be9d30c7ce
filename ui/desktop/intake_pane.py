"""The intake review pane: a tab in the task detail pane for `intake_review` tasks.

The source text is shown with every extracted value's span highlighted (green when the
value was found in the source, amber when it was not, red for flags such as suspected
prompt injection) beside editable fields and the flags. Editing a field rewrites the
task's draft (the fields as JSON, see app.services.intake), so Save edit and Approve
carry exactly what the person sees through the queue's audited path.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QTextCharFormat, QTextCursor
from PySide6.QtWidgets import (
    QFormLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QScrollArea,
    QSplitter,
    QTextEdit,
    QVBoxLayout,
    QWidget,
)

from app.domain import Task
from app.domain.intake import FIELDS, LIST_FIELDS, IntakeResult
from app.errors import ValidationError
from app.services import intake
from ui.desktop.detail import TaskDetailPane

GROUNDED = QColor("#d6f5d6")
UNGROUNDED = QColor("#ffe9a8")
FLAGGED = QColor("#f9c6c3")
FOCUSED = QColor("#9cc3f5")


class IntakeReviewTab(QWidget):
    def __init__(self, pane: TaskDetailPane) -> None:
        super().__init__()
        self.pane = pane
        self.result: IntakeResult | None = None
        self.highlights: list[intake.Highlight] = []
        self.source = QTextEdit()
        self.source.setObjectName("intakeSource")
        self.source.setReadOnly(True)
        self.summary = QLabel()
        self.summary.setWordWrap(True)
        self.flags = QListWidget()
        self.flags.setObjectName("intakeFlags")
        self.flags.setMaximumHeight(90)
        self.flags.setWordWrap(True)
        self.edits: dict[str, QLineEdit] = {}
        form_box = QWidget()
        form = QFormLayout(form_box)
        for name, (label, _kind) in FIELDS.items():
            edit = QLineEdit()
            edit.setObjectName(f"intake_{name}")
            if name in LIST_FIELDS:
                edit.setPlaceholderText("items separated by ;")
            edit.textEdited.connect(lambda _t: self._sync_draft())
            edit.installEventFilter(self)
            self.edits[name] = edit
            form.addRow(label, edit)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setWidget(form_box)
        right = QWidget()
        right_layout = QVBoxLayout(right)
        right_layout.setContentsMargins(0, 0, 0, 0)
        right_layout.addWidget(self.summary)
        right_layout.addWidget(QLabel("Flags"))
        right_layout.addWidget(self.flags)
        right_layout.addWidget(scroll, 1)
        # Stacked (source above the fields): the detail pane is narrower than it is tall.
        splitter = QSplitter(Qt.Orientation.Vertical)
        splitter.addWidget(self.source)
        splitter.addWidget(right)
        splitter.setSizes([260, 420])
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(splitter)

    @staticmethod
    def accepts(task: Task) -> bool:
        """Only tasks made by the intake workflow carry an IntakeResult payload."""
        return isinstance(task.payload, dict) and "source_kind" in task.payload

    def show_task(self, task: Task) -> None:
        self.result = IntakeResult.from_json(task.payload)
        try:
            fields = intake.draft_to_fields(task.draft, check_dates=False)
        except ValidationError:
            fields = {}
        self.highlights = intake.highlights(self.result)
        self.source.setPlainText(self.result.source_text or "(no text: enter the fields "
                                                            "from the stored form)")
        self._paint()
        for name, edit in self.edits.items():
            value = fields.get(name, "")
            edit.setText("; ".join(value) if isinstance(value, list) else str(value))
        self.summary.setText(self.result.summary)
        self.flags.clear()
        for flag in self.result.flags:
            item = QListWidgetItem(f"[{flag.severity}] {flag.message}")
            if flag.severity == "critical":
                item.setBackground(FLAGGED)
            self.flags.addItem(item)
        for d in self.result.discrepancies:
            self.flags.addItem(f"[record] {FIELDS.get(d.field, (d.field,))[0]}: {d.kind} "
                               f"(record: {d.vault_value or '-'}; form: {d.form_value or '-'})")

    def _paint(self, focus_field: str = "") -> None:
        cursor = QTextCursor(self.source.document())
        cursor.select(QTextCursor.SelectionType.Document)
        cursor.setCharFormat(QTextCharFormat())
        length = len(self.source.toPlainText())
        for h in self.highlights:
            if not (0 <= h.start < h.end <= length):
                continue
            fmt = QTextCharFormat()
            if h.field == focus_field:
                fmt.setBackground(FOCUSED)
            elif h.field.startswith("flag:"):
                fmt.setBackground(FLAGGED)
            else:
                fmt.setBackground(GROUNDED if h.grounded else UNGROUNDED)
            if not h.field.startswith("flag:"):  # a flag keeps its value's tip
                where = f" (read by OCR, scan page {h.boxes[0][0]})" if h.boxes else ""
                fmt.setToolTip(FIELDS.get(h.field, (h.field,))[0] + where)
            cursor.setPosition(h.start)
            cursor.setPosition(h.end, QTextCursor.MoveMode.KeepAnchor)
            cursor.mergeCharFormat(fmt)

    def focus_field(self, name: str) -> None:
        """Show where a field's value came from in the source."""
        self._paint(name)
        spans = [h for h in self.highlights if h.field == name]
        if spans:
            cursor = self.source.textCursor()
            cursor.setPosition(spans[0].start)
            self.source.setTextCursor(cursor)
            self.source.ensureCursorVisible()

    def eventFilter(self, watched: Any, event: Any) -> bool:
        from PySide6.QtCore import QEvent
        if event.type() == QEvent.Type.FocusIn:
            for name, edit in self.edits.items():
                if edit is watched:
                    self.focus_field(name)
        return False

    def fields(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for name, edit in self.edits.items():
            text = edit.text().strip()
            if name in LIST_FIELDS:
                items = [p.strip() for p in text.split(";") if p.strip()]
                if items:
                    out[name] = items
            elif text:
                out[name] = text
        return out

    def _sync_draft(self) -> None:
        self.pane.editor.setPlainText(intake.fields_to_draft(self.fields()))
