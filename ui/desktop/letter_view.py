"""A denial letter in the app: the PDF previewed from memory (QtPdf reads it from a
buffer, never a temp file), saved through a save dialog (app.services.remittance.
export_letter: the audited export) and printed (QPrintDialog; the print is audited).
Reading the letter and recording the print run on the worker."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QBuffer, QByteArray, QIODevice, QPoint, QRect, QSize, Qt
from PySide6.QtGui import QPainter
from PySide6.QtPdf import QPdfDocument
from PySide6.QtPdfWidgets import QPdfView
from PySide6.QtPrintSupport import QPrintDialog, QPrinter
from PySide6.QtWidgets import (
    QDialog,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from app.services import remittance
from ui.desktop.pages import AppContext


class LetterDialog(QDialog):
    def __init__(self, ctx: AppContext, task_id: int, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.ctx = ctx
        self.task_id = task_id
        self.setWindowTitle(f"Letter for task {task_id}")
        self.resize(720, 860)
        self.document = QPdfDocument(self)
        self.view = QPdfView(self)
        self.view.setPageMode(QPdfView.PageMode.MultiPage)
        self.view.setZoomMode(QPdfView.ZoomMode.FitToWidth)
        self.view.setDocument(self.document)
        self.status = QLabel("Opening the letter…")
        self.save_button = QPushButton("Save as PDF…")
        self.save_button.clicked.connect(self.save)
        self.print_button = QPushButton("Print…")
        self.print_button.clicked.connect(self.print_letter)
        close = QPushButton("Close")
        close.clicked.connect(self.reject)
        for button in (self.save_button, self.print_button):
            button.setEnabled(False)
        row = QHBoxLayout()
        row.addWidget(self.status, 1)
        row.addWidget(self.save_button)
        row.addWidget(self.print_button)
        row.addWidget(close)
        layout = QVBoxLayout(self)
        layout.addWidget(self.view, 1)
        layout.addLayout(row)
        self._buffer: QBuffer | None = None
        session = ctx.session
        ctx.worker.run(lambda: remittance.letter_pdf(session, task_id), done=self.show_pdf,
                       label="Opening the letter")

    def show_pdf(self, data: bytes) -> None:
        """Load the letter from bytes held in memory."""
        buffer = QBuffer(self)
        buffer.setData(QByteArray(data))
        buffer.open(QIODevice.OpenModeFlag.ReadOnly)
        self._buffer = buffer  # QPdfDocument reads it lazily: keep it alive
        self.document.load(buffer)
        pages = self.document.pageCount()
        self.status.setText(f"{pages} page{'s' if pages != 1 else ''}")
        for button in (self.save_button, self.print_button):
            button.setEnabled(pages > 0)

    def save(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Save the letter",
                                              f"letter_task{self.task_id}.pdf",
                                              "PDF (*.pdf)")
        if path:
            self.save_to(path)

    def save_to(self, path: str) -> None:
        from pathlib import Path
        session, task_id = self.ctx.session, self.task_id
        self.ctx.worker.run(lambda: remittance.export_letter(session, task_id, Path(path)),
                            done=lambda p: self.ctx.bridge.info(f"Letter saved to {p}"),
                            label="Saving the letter")

    def print_letter(self) -> None:
        printer = QPrinter(QPrinter.PrinterMode.HighResolution)
        dialog = QPrintDialog(printer, self)
        dialog.accepted.connect(lambda: self.print_to(printer))
        dialog.setWindowModality(Qt.WindowModality.WindowModal)
        dialog.show()  # asynchronous: no nested event loop

    def print_to(self, printer: Any) -> int:
        """Paint every page on the printer; returns the pages printed (the print of a
        one- or two-page letter is quick enough for the GUI thread)."""
        painter = QPainter()
        if not painter.begin(printer):
            self.ctx.bridge.error("The printer could not be opened.")
            return 0
        pages = self.document.pageCount()
        try:
            dpi = min(printer.resolution(), 300)  # a 1200 dpi page image is ~500 MB
            for n in range(pages):
                if n:
                    printer.newPage()
                size = self.document.pagePointSize(n)
                image = self.document.render(n, QSize(int(size.width() * dpi / 72),
                                                      int(size.height() * dpi / 72)))
                target = painter.viewport()
                scaled = image.size().scaled(target.size(), Qt.AspectRatioMode.KeepAspectRatio)
                painter.drawImage(QRect(QPoint(0, 0), scaled), image)
        finally:
            painter.end()
        session, task_id = self.ctx.session, self.task_id
        self.ctx.worker.run(lambda: remittance.record_letter_print(session, task_id, pages),
                            label="Recording the print")
        return pages

