"""OCR for scanned and faxed intake forms, with Debian's tesseract-ocr.

Runs only inside app.intake.bounded's worker, so the rendering (pypdfium2, Pillow) and
tesseract inherit its address-space, CPU and no-file limits. Nothing touches disk: a page
is rendered to memory and handed to `tesseract stdin stdout ... tsv` as PGM bytes on a
pipe; the words come back on stdout. (pytesseract writes every image to a temp file and
reads the result back from another, so it is not used.) The worker's RLIMIT_FSIZE of 0
holds for tesseract too: a write to a file would fail, not leave PHI behind.

Each word keeps its page, its box (fractions of the page, so the review pane can draw it
over any rendering) and tesseract's confidence (0-100).
"""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

DPI = 300  # tesseract's own advice for print; lower costs accuracy on 8-10 pt form text
MAX_PIXELS = 40_000_000  # a letter page at 600 dpi is 34 M; a huge page is scaled down
LOW_CONFIDENCE = 60.0  # below this a word is flagged for the reviewer to check
COLUMN_GAP = 1.5  # a gap wider than this many line heights separates columns ("   ")

Box = tuple[int, float, float, float, float]  # page (1-based), x0, y0, x1, y1 in 0..1


@dataclass(frozen=True)
class OcrWord:
    start: int  # character span in the OCR text
    end: int
    page: int
    box: tuple[float, float, float, float]
    conf: float


@dataclass
class OcrText:
    text: str = ""
    words: list[OcrWord] | None = None
    pages_read: int = 0
    note: str = ""  # why pages were left unread, or why OCR did not run; "" when all read


class OcrUnavailable(Exception):
    """tesseract is not installed (or not runnable) on this machine."""


def tesseract() -> str:
    path = shutil.which("tesseract")
    if path is None:
        raise OcrUnavailable("OCR is not installed (Debian: apt-get install tesseract-ocr)")
    return path


def ocr_page(image: bytes, timeout: float) -> str:
    """Tesseract's TSV for one page image (PGM/PNG bytes), through pipes only."""
    env = {"PATH": os.environ.get("PATH", "/usr/bin"),
           "OMP_THREAD_LIMIT": "1"}  # one core per page: the machine is shared
    done = subprocess.run([tesseract(), "stdin", "stdout", "-l", "eng", "--dpi", str(DPI),
                           "--psm", "3", "tsv"], input=image, capture_output=True,
                          timeout=timeout, env=env, check=False,
                          preexec_fn=_die_with_parent if sys.platform.startswith("linux")
                          else None)
    if done.returncode != 0:
        raise OcrUnavailable(f"OCR failed on a page (tesseract exit {done.returncode})")
    return done.stdout.decode("utf-8", "replace")


def _die_with_parent() -> None:
    """In the child, before exec: when the bounded worker is killed (a limit, the wall
    timer), tesseract is killed with it instead of reading a form on its own."""
    import ctypes
    import signal
    ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


def page_text(tsv: str, page: int, offset: int) -> tuple[str, list[OcrWord]]:
    """The page's words as text lines (a wide gap kept as three spaces, a new block as a
    blank line), with each word's span counted from `offset`. Malformed rows are
    skipped: this reads tesseract's output, but a broken row must not stop a form."""
    width = height = 0.0
    lines: dict[tuple[str, str, str], list[tuple[str, float, float, float, float, float]]] = {}
    for row in tsv.splitlines()[1:]:
        cols = row.split("\t")
        if len(cols) != 12:
            continue
        try:
            level = int(cols[0])
            left, top, w, h = (float(c) for c in cols[6:10])
            conf = float(cols[10])
        except ValueError:
            continue
        if level == 1:
            width, height = w, h
        elif level == 5 and cols[11].strip() and w >= 0 and h >= 0:
            lines.setdefault((cols[2], cols[3], cols[4]), []).append(
                (cols[11].strip(), left, top, left + w, top + h, conf))
    if width <= 0 or height <= 0:
        return "", []
    parts: list[str] = []
    words: list[OcrWord] = []
    pos = offset
    block = None
    for (blk, _par, _line), items in lines.items():  # TSV order is reading order
        if parts:
            sep = "\n\n" if blk != block else "\n"
            parts.append(sep)
            pos += len(sep)
        block = blk
        line_h = max(1.0, max(b[4] - b[2] for b in items))
        prev_right: float | None = None
        for text, x0, y0, x1, y1, conf in items:
            if prev_right is not None:
                sep = "   " if x0 - prev_right > COLUMN_GAP * line_h else " "
                parts.append(sep)
                pos += len(sep)
            parts.append(text)
            words.append(OcrWord(pos, pos + len(text), page,
                                 (x0 / width, y0 / height, x1 / width, y1 / height), conf))
            pos += len(text)
            prev_right = x1
    return "".join(parts), words


def read_pages(images: Iterator[bytes], *, max_pages: int, total_pages: int,
               seconds: float) -> OcrText:
    """OCR page images in order until `max_pages` or the `seconds` budget runs out; the
    note says which pages were left for manual entry."""
    deadline = time.monotonic() + seconds
    out = OcrText(words=[])
    texts: list[str] = []
    pos = 0
    for number, image in enumerate(images, 1):
        left = deadline - time.monotonic()
        if number > max_pages or left <= 0:
            break
        try:
            tsv = ocr_page(image, timeout=left)
        except subprocess.TimeoutExpired:
            break
        if texts:
            texts.append("\n\n")
            pos += 2
        text, words = page_text(tsv, number, pos)
        texts.append(text)
        pos += len(text)
        assert out.words is not None
        out.words.extend(words)
        out.pages_read = number
    out.text = "".join(texts)
    if out.pages_read < total_pages:
        out.note = (f"OCR read {out.pages_read} of {total_pages} pages (at most {max_pages} "
                    f"pages or {seconds:g} seconds per form); type the rest by hand")
    return out


def _pgm(image: Any) -> bytes:
    buf = io.BytesIO()
    image.convert("L").save(buf, "PPM")  # 8-bit gray PGM: no compression cost, and
    return buf.getvalue()                # leptonica reads it from memory


def pdf_pages(data: bytes) -> tuple[int, Iterator[bytes]]:
    """The page count and each page rendered at DPI (capped at MAX_PIXELS) as PGM."""
    import pypdfium2 as pdfium

    pdf = pdfium.PdfDocument(data)
    count = len(pdf)

    def render() -> Iterator[bytes]:
        try:
            for index in range(count):
                page = pdf[index]
                w, h = page.get_size()
                scale = min(DPI / 72, (MAX_PIXELS / max(1.0, w * h)) ** 0.5)
                bitmap = page.render(scale=scale, grayscale=True)
                image = bitmap.to_pil()
                yield _pgm(image)
                image.close()
                bitmap.close()
                page.close()
        finally:
            pdf.close()
    return count, render()


def image_pages(data: bytes) -> tuple[int, Iterator[bytes]]:
    """A photo or a fax (a multi-page TIFF) as PGM pages; a picture over MAX_PIXELS is
    refused by Pillow before it is decoded."""
    from PIL import Image, ImageSequence

    Image.MAX_IMAGE_PIXELS = MAX_PIXELS  # past 2x this Pillow raises DecompressionBombError
    image = Image.open(io.BytesIO(data))
    count = int(getattr(image, "n_frames", 1))

    def frames() -> Iterator[bytes]:
        with image:
            for frame in ImageSequence.Iterator(image):
                if frame.width * frame.height > MAX_PIXELS:
                    raise ValueError("a page of the image is too large to read")
                yield _pgm(frame)
    return count, frames()


def boxes_for(words: list[OcrWord], start: int, end: int) -> list[Box]:
    """One box per page around the words inside [start, end)."""
    per_page: dict[int, list[float]] = {}
    for w in words:
        if w.end <= start or w.start >= end:
            continue
        box = per_page.get(w.page)
        x0, y0, x1, y1 = w.box
        if box is None:
            per_page[w.page] = [x0, y0, x1, y1]
        else:
            box[:] = [min(box[0], x0), min(box[1], y0), max(box[2], x1), max(box[3], y1)]
    return [(page, b[0], b[1], b[2], b[3]) for page, b in sorted(per_page.items())]


def unsure_words(words: list[OcrWord], start: int, end: int) -> list[OcrWord]:
    return [w for w in words if w.start < end and w.end > start and w.conf < LOW_CONFIDENCE]
