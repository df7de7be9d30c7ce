"""The intake review pane: a tab in the task detail pane for `intake_review` tasks.

The source text is shown with every extracted value's span highlighted (green when the
value was found in the source, amber when it was not, red for flags such as suspected
prompt injection) beside editable fields and the flags. Editing a field rewrites the
task's draft (the fields as JSON, see app.services.intake), so Save edit and Approve
carry exactly what the person sees through the queue's audited path.

A form read by OCR also shows the scan: the page is rendered in memory (in the bounded
worker process, app.intake.render; never a file: it shows PHI), the selected field's box
is drawn on it and scrolled into view, and the words OCR was unsure of are outlined in
red, dashed, wherever they are on the page shown.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QRectF, Qt
from PySide6.QtGui import QBrush, QColor, QImage, QPainter, QPen, QPixmap, QTextCharFormat, \
    QTextCursor
from PySide6.QtWidgets import (
    QFormLayout,
    QGraphicsPixmapItem,
    QGraphicsRectItem,
    QGraphicsScene,
    QGraphicsView,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QScrollArea,
    QSplitter,
    QTabWidget,
    QTextEdit,
    QVBoxLayout,
    QWidget,
)

from app.domain import Task
from app.domain.intake import FIELDS, LIST_FIELDS, Box, IntakeResult
from app.errors import ValidationError
from app.services import intake
from ui.desktop.detail import TaskDetailPane

GROUNDED = QColor("#d6f5d6")
UNGROUNDED = QColor("#ffe9a8")
FLAGGED = QColor("#f9c6c3")
FOCUSED = QColor("#9cc3f5")
BOX_PEN = QColor("#1a5fb4")  # the selected field's box on the scan
UNSURE_PEN = QColor("#c01c28")  # a word OCR was unsure of: red, dashed


def decode_page(png: bytes) -> QImage:
    """A rendered page's PNG (in memory) as a QImage. Up to 12 MP takes 0.1-0.3 s, so it
    runs on the worker: a QImage may be made off the GUI thread, a QPixmap may not."""
    return QImage.fromData(png)


class ScanView(QGraphicsView):
    """One page of the scan with boxes drawn over it (boxes are fractions of the page)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("intakeScan")
        self.setScene(QGraphicsScene(self))
        self.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
        self.setDragMode(QGraphicsView.DragMode.ScrollHandDrag)
        self.page = 0
        self.pixmap_item: QGraphicsPixmapItem | None = None
        self.focus_items: list[QGraphicsRectItem] = []
        self.unsure_items: list[QGraphicsRectItem] = []

    def show_page(self, page: int, pixmap: QPixmap) -> None:
        scene = self.scene()
        scene.clear()
        self.focus_items, self.unsure_items = [], []
        self.page = page
        self.pixmap_item = scene.addPixmap(pixmap)
        scene.setSceneRect(QRectF(pixmap.rect()))

    def rect_for(self, box: Box) -> QRectF:
        width = self.pixmap_item.pixmap().width() if self.pixmap_item else 0
        height = self.pixmap_item.pixmap().height() if self.pixmap_item else 0
        _page, x0, y0, x1, y1 = box
        pad = 3.0  # a hair outside the ink, so the box does not hide the letters' edges
        return QRectF(x0 * width - pad, y0 * height - pad, (x1 - x0) * width + 2 * pad,
                      (y1 - y0) * height + 2 * pad)

    def draw(self, focus: list[Box], unsure: list[Box]) -> None:
        """Outline the boxes on the page shown (others are on other pages)."""
        scene = self.scene()
        for item in self.focus_items + self.unsure_items:
            scene.removeItem(item)
        self.focus_items, self.unsure_items = [], []
        if self.pixmap_item is None:
            return
        for box in unsure:
            if box[0] == self.page:
                pen = QPen(UNSURE_PEN, 2, Qt.PenStyle.DashLine)
                item = scene.addRect(self.rect_for(box), pen,
                                     QBrush(QColor(192, 28, 40, 40)))
                item.setToolTip("OCR was unsure of this word: check it")
                self.unsure_items.append(item)
        for box in focus:
            if box[0] == self.page:
                item = scene.addRect(self.rect_for(box), QPen(BOX_PEN, 3),
                                     QBrush(QColor(26, 95, 180, 50)))
                item.setZValue(1)
                self.focus_items.append(item)
        if self.focus_items:
            self.ensureVisible(self.focus_items[0], 60, 60)


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
        # the form's summary, from a form anyone may send: text, never rich text Qt
        # would guess from a tag in it
        self.summary.setTextFormat(Qt.TextFormat.PlainText)
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
        # An OCR'd form's scan, beside its text: a tab shown only for such forms.
        self.scan = ScanView()
        self.scan_note = QLabel()
        self.scan_note.setObjectName("intakeScanNote")
        self.scan_note.setWordWrap(True)
        scan_box = QWidget()
        scan_layout = QVBoxLayout(scan_box)
        scan_layout.setContentsMargins(0, 0, 0, 0)
        scan_layout.addWidget(self.scan_note)
        scan_layout.addWidget(self.scan, 1)
        self.source_tabs = QTabWidget()
        self.source_tabs.setObjectName("intakeSourceTabs")
        self.source_tabs.addTab(self.source, "Form text")
        self.scan_tab = scan_box
        self.pages: dict[int, QPixmap] = {}  # rendered pages, in memory only
        self.page_count = 0
        self._wanted: tuple[int, list[Box]] | None = None  # the page and boxes asked for
        self._loading: set[int] = set()
        self.task_id: int | None = None
        # Stacked (source above the fields): the detail pane is narrower than it is tall.
        splitter = QSplitter(Qt.Orientation.Vertical)
        splitter.addWidget(self.source_tabs)
        splitter.addWidget(right)
        splitter.setSizes([260, 420])
        self.splitter = splitter
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(splitter)

    @staticmethod
    def accepts(task: Task) -> bool:
        """Only tasks made by the intake workflow carry an IntakeResult payload."""
        return isinstance(task.payload, dict) and "source_kind" in task.payload

    def show_task(self, task: Task) -> None:
        self.task_id = task.id
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
        boxes = [b for h in self.highlights for b in h.boxes] + self.unsure_boxes()
        if boxes:  # read by OCR: show the scan, first page with a value on it
            self.source_tabs.addTab(self.scan_tab, "Scan")
            self.source_tabs.setCurrentWidget(self.scan_tab)
            self.splitter.setSizes([380, 300])  # room to read the scan around a box
            self.show_scan(min(b[0] for b in boxes), [])

    def unsure_boxes(self) -> list[Box]:
        """The words OCR was unsure of (flags of code ocr_low_confidence)."""
        return [b for f in (self.result.flags if self.result else [])
                if f.code == "ocr_low_confidence" for b in f.boxes]

    def show_scan(self, page: int, focus: list[Box]) -> None:
        """Page `page` with `focus` boxed and the unsure words outlined; the page is
        rendered on the worker the first time it is needed."""
        self._wanted = (page, focus)
        if page in self.pages:
            if self.scan.page != page:
                self.scan.show_page(page, self.pages[page])
            self.scan.draw(focus, self.unsure_boxes())
            of = f" of {self.page_count}" if self.page_count else ""
            self.scan_note.setText(f"Scan page {page}{of}. Blue: the selected field. Red, "
                                   "dashed: words OCR was unsure of.")
            return
        ctx, task_id = self._context(), self.task_id
        if ctx is None or task_id is None or page in self._loading:
            return
        self._loading.add(page)
        self.scan_note.setText(f"Loading scan page {page}…")
        session = ctx.session

        def fetch() -> tuple[QImage, int]:
            from app.intake.render import render_page
            data, mime = intake.get_form_blob(session, task_id)
            png, count = render_page(data, mime, page)
            return decode_page(png), count  # here, not on the GUI thread

        ctx.worker.run(fetch, done=lambda result: self._rendered(page, result),
                       failed=lambda _e: self._render_failed(page),
                       label="Showing the scan")

    def _rendered(self, page: int, result: tuple[QImage, int]) -> None:
        from shiboken6 import isValid
        if not isValid(self):  # the person moved to another task while it rendered
            return
        image, count = result
        self._loading.discard(page)
        self.page_count = count
        self.pages[page] = QPixmap.fromImage(image)  # a QPixmap is made on the GUI thread
        if self._wanted is not None and self._wanted[0] == page:
            self.show_scan(*self._wanted)

    def _render_failed(self, page: int) -> None:
        from shiboken6 import isValid
        if isValid(self):
            self._loading.discard(page)
            self.scan_note.setText(f"Scan page {page} could not be shown; compare the "
                                   "values with the paper form.")

    def _context(self) -> Any:
        """The page's AppContext (session, worker): the pane has none of its own, and the
        tab is built by the pane, so it asks its nearest page."""
        from ui.desktop.pages import Page
        widget = self.pane.parentWidget()
        while widget is not None and not isinstance(widget, Page):
            widget = widget.parentWidget()
        return widget.ctx if isinstance(widget, Page) else None

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
        """Show where a field's value came from in the source, and on the scan."""
        self._paint(name)
        spans = [h for h in self.highlights if h.field == name]
        if spans:
            cursor = self.source.textCursor()
            cursor.setPosition(spans[0].start)
            self.source.setTextCursor(cursor)
            self.source.ensureCursorVisible()
        boxes = [b for h in spans for b in h.boxes]
        if boxes and self.source_tabs.indexOf(self.scan_tab) >= 0:
            self.source_tabs.setCurrentWidget(self.scan_tab)
            self.show_scan(boxes[0][0], boxes)

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
