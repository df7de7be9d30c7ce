"""The referral summary pane: a tab in the task detail pane for `referral_triage` tasks.
The summary from the extracted fields, the model's summary as kept (with what was checked
and every dropped sentence and why), and the source text with each span highlighted:
green where a kept model claim was found, blue where an extracted fact was. Everything
comes from the task (its payload and its source-text evidence); the pane reads nothing
else."""

from __future__ import annotations

from html import escape as _e

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QTextCharFormat, QTextCursor
from PySide6.QtWidgets import QLabel, QTextEdit, QVBoxLayout, QWidget

from app.domain import Task
from ui.desktop.detail import TaskDetailPane

CLAIM = QColor("#d6f5d6")
FACT = QColor("#dbe8fb")
SOURCE_LABEL = "Reason for referral (source text)"


class ReferralSummaryTab(QWidget):
    def __init__(self, pane: TaskDetailPane) -> None:
        super().__init__()
        self.pane = pane
        self.summary = QLabel()
        self.summary.setObjectName("referralSummary")
        self.summary.setWordWrap(True)
        self.checks = QLabel()
        self.checks.setObjectName("referralChecks")
        # the model's dropped sentences, written from a letter anyone may send: shown as
        # text, never as the rich text Qt would guess from a tag in them
        self.checks.setTextFormat(Qt.TextFormat.PlainText)
        self.checks.setWordWrap(True)
        self.source = QTextEdit()
        self.source.setObjectName("referralSourceText")
        self.source.setReadOnly(True)
        legend = QLabel(f"<span style='background:{CLAIM.name()}'>&nbsp;found for the "
                        f"model's summary&nbsp;</span> <span style='background:"
                        f"{FACT.name()}'>&nbsp;an extracted fact&nbsp;</span>")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.summary)
        layout.addWidget(self.checks)
        layout.addWidget(legend)
        layout.addWidget(self.source, 1)

    @staticmethod
    def accepts(task: Task) -> bool:
        """Triage tasks made since the summary was added carry it."""
        return isinstance(task.payload, dict) and isinstance(task.payload.get("summary"),
                                                             dict)

    def show_task(self, task: Task) -> None:
        s = task.payload["summary"]
        text = f"<b>From the extracted fields:</b> {_e(s.get('deterministic', ''))}"
        if s.get("text"):
            text += (f"<br><b>Model summary</b> ({_e(s.get('model', ''))}, each of its "
                     f"{s.get('checked', 0)} claim(s) found in the source text): "
                     f"{_e(s['text'])}")
        self.summary.setText(text)
        notes = [] if s.get("text") or not s.get("asked") else [
            f"Model summary not used: {s.get('notice', '')}"]
        notes += [f"Dropped: \u201c{d['sentence']}\u201d ({d['why']})"
                  for d in s.get("dropped", [])]
        self.checks.setText("\n".join(notes))
        self.checks.setVisible(bool(notes))
        source = next((e.excerpt for e in task.evidence if e.label == SOURCE_LABEL), "")
        self.source.setPlainText(source)
        for spans, colour in ((s.get("fact_spans", []), FACT), (s.get("spans", []), CLAIM)):
            fmt = QTextCharFormat()
            fmt.setBackground(colour)
            for start, end in spans:
                if 0 <= start < end <= len(source):
                    cursor = QTextCursor(self.source.document())
                    cursor.setPosition(start)
                    cursor.setPosition(end, QTextCursor.MoveMode.KeepAnchor)
                    cursor.mergeCharFormat(fmt)

    def highlighted(self, colour: QColor = CLAIM) -> list[str]:
        """The source text's runs shown in `colour` (tests)."""
        out: list[str] = []
        block = self.source.document().begin()
        while block.isValid():
            it = block.begin()
            while not it.atEnd():
                frag = it.fragment()
                if frag.isValid() and frag.charFormat().background().color() == colour:
                    out.append(frag.text())
                it += 1
            block = block.next()
        return out
