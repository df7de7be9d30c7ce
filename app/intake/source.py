"""Turn an uploaded intake file into source text.

Fillable PDFs are read through their form fields (pypdf): the text layer of a filled form
often lacks the typed values. Other PDFs are read with pdfplumber. A PDF with no text
layer, or an image, is a scan: it is read by OCR in the bounded worker, and kept for
manual entry (never dropped) when OCR finds nothing. A file that is
neither a readable PDF nor text is refused with the reason, and nothing is imported.
"""

from __future__ import annotations

import io
import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from app.domain.intake import SourceKind
from app.errors import ImportRejected

if TYPE_CHECKING:
    from app.intake.ocr import OcrWord

log = logging.getLogger(__name__)

MAX_BYTES = 25 * 1024 * 1024
MAX_TEXT_CHARS = 2_000_000  # a text file past this is not one patient's form
MIN_TEXT_CHARS = 20  # fewer letters than this in a PDF's text layer means a scan
IMAGE_MAGIC = {b"\x89PNG": "image/png", b"\xff\xd8\xff": "image/jpeg", b"II*\x00": "image/tiff",
               b"MM\x00*": "image/tiff", b"GIF8": "image/gif"}


@dataclass
class SourceDoc:
    kind: SourceKind
    text: str  # what the reviewer sees and what every value is grounded against
    mime: str
    form_fields: dict[str, str] = field(default_factory=dict)  # fillable PDFs only
    pages: int = 0
    ocr_words: list[OcrWord] = field(default_factory=list)  # scans: each word's page and box
    ocr_note: str = ""  # scans: pages OCR left unread, or why it did not run


def _image_mime(data: bytes) -> str | None:
    for magic, mime in IMAGE_MAGIC.items():
        if data.startswith(magic):
            return mime
    return None


def read_source(data: bytes, filename: str = "") -> SourceDoc:
    if not data:
        raise ImportRejected("the file is empty", filename or "input")
    if len(data) > MAX_BYTES:
        raise ImportRejected(f"the file is larger than {MAX_BYTES // (1024 * 1024)} MB",
                             filename or "input")
    if data.lstrip()[:5] == b"%PDF-":
        from app.intake.bounded import read_pdf_bounded
        doc: SourceDoc = read_pdf_bounded(data, filename)  # a worker process, bounded
        return doc
    mime = _image_mime(data)
    if mime is not None:
        from app.intake.bounded import read_image_bounded
        image: SourceDoc = read_image_bounded(data, filename, mime)  # OCR, bounded
        return image
    if b"\x00" in data[:4096]:
        raise ImportRejected("not a PDF, an image or text (binary content)", filename or "input")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ImportRejected(f"text is not UTF-8 (bad byte at offset {exc.start})",
                             filename or "input") from exc
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    if len(text) > MAX_TEXT_CHARS:
        raise ImportRejected(f"the text is longer than {MAX_TEXT_CHARS:,} characters",
                             filename or "input")
    if not text.strip():
        raise ImportRejected("the text is empty", filename or "input")
    return SourceDoc(SourceKind.TEXT, text, "text/plain")


def _field_value(value: object) -> str:
    if value is None:
        return ""
    text = str(value)
    if text in ("/Off", "/No", "Off"):
        return ""
    return text.lstrip("/") if text.startswith("/") else text


def read_pdf_in_process(data: bytes, filename: str, *, max_pages: int,
                        max_chars: int) -> SourceDoc:
    """Parse a PDF here. Only app.intake.bounded's worker calls this: it is the process
    that holds the memory and CPU limits."""
    import pdfplumber
    from pypdf import PdfReader
    from pypdf.errors import PdfReadError, PdfStreamError

    where = filename or "input"
    try:
        reader = PdfReader(io.BytesIO(data), strict=False)
        pages = len(reader.pages)
        fields = reader.get_fields() or {}
    except (PdfReadError, PdfStreamError, ValueError, KeyError, TypeError, OSError) as exc:
        raise ImportRejected(f"not a readable PDF ({type(exc).__name__}: {exc})", where) from exc
    if pages == 0:
        raise ImportRejected("the PDF has no pages", where)
    if pages > max_pages:
        raise ImportRejected(f"the PDF has {pages} pages; intake forms over {max_pages} "
                             "pages are not read", where)
    values = {name: _field_value(f.get("/V")) for name, f in fields.items()}
    filled = {k: v.strip() for k, v in values.items() if v and v.strip()}
    if filled:
        # The source text is the fields as "Label: value" lines, so every value has a span.
        text = "\n".join(f"{_label(name)}: {value}" for name, value in filled.items())
        if len(text) > max_chars:
            raise ImportRejected(f"the PDF's fields hold more than {max_chars:,} characters",
                                 where)
        return SourceDoc(SourceKind.FILLABLE_PDF, text, "application/pdf", filled, pages)
    parts: list[str] = []
    size = 0
    try:
        with pdfplumber.open(io.BytesIO(data)) as pdf:
            for page in pdf.pages:
                part = page.extract_text() or ""
                size += len(part) + 1
                if size > max_chars:  # stop reading, not just stop keeping
                    raise ImportRejected(f"the PDF's text is longer than {max_chars:,} "
                                         "characters", where)
                parts.append(part)
                page.close()  # pdfplumber keeps every page's objects otherwise
    except (ImportRejected, MemoryError):
        raise
    except Exception as exc:  # pdfminer raises many unrelated types on damaged files
        raise ImportRejected(f"the PDF's text could not be read ({type(exc).__name__})",
                             where) from exc
    text = "\n".join(parts)
    if sum(c.isalpha() for c in text) < MIN_TEXT_CHARS:
        return SourceDoc(SourceKind.SCANNED_PDF, "", "application/pdf", pages=pages)
    return SourceDoc(SourceKind.TEXT_PDF, text, "application/pdf", pages=pages)


def _label(field_name: str) -> str:
    """'patient_dob' / 'PatientDOB' -> 'patient dob' style labels for the source text."""
    out = []
    prev = ""
    for ch in field_name.replace("_", " ").replace(".", " "):
        if ch.isupper() and prev and prev.islower():
            out.append(" ")
        out.append(ch)
        prev = ch
    return " ".join("".join(out).split())
