"""One page of a stored intake form, rendered for the review pane to draw OCR boxes on.

The form is untrusted (a fax, a scan, a phone photo), so it is rendered like it is read:
in a fresh `spawn` worker process bounded in memory, CPU time and wall time, with no file
writes and no core dump (app.intake.bounded). The page comes back over a pipe as PNG
bytes and stays in memory: no page image ever touches the disk (it shows PHI). A page is
rendered at screen resolution (VIEW_DPI), capped at MAX_VIEW_PIXELS; OCR boxes are
fractions of the page, so they fit any rendering.
"""

from __future__ import annotations

import io
from multiprocessing.connection import Connection
from typing import Any

from app.errors import ImportRejected
from app.intake.bounded import MB, PdfLimits, confine_worker, death_reason, inflated_size, one_reply

VIEW_DPI = 110  # enough to read a form's 8-10 pt print on screen
MAX_VIEW_PIXELS = 12_000_000  # a letter page at 110 dpi is 1.1 M; a huge page is scaled
MAX_BYTES = 60 * MB  # a stored form larger than this is not rendered (imports cap lower)
# The wall time covers starting a fresh Python (about a second, far more on a busy machine).
LIMITS = PdfLimits(memory_mb=512, cpu_seconds=15, wall_seconds=30.0, max_inflated_mb=100)


def render_page(data: bytes, mime: str, page: int, limits: PdfLimits = LIMITS
                ) -> tuple[bytes, int]:
    """(PNG bytes of `page` (1-based), the form's page count) for a PDF or an image
    (PNG, JPEG, TIFF: a multi-page fax). ImportRejected with a one-line reason when the
    file cannot be rendered within `limits`."""
    if len(data) > MAX_BYTES:
        raise ImportRejected(f"the form is larger than {MAX_BYTES // MB} MB to show")
    if page < 1:
        raise ImportRejected(f"no page {page}")
    outcome = one_reply(
        _worker, (data, mime, page, limits), name="offhold-render",
        wall_seconds=limits.wall_seconds,
        too_slow=f"showing the page took longer than {limits.wall_seconds:g} seconds",
        died=lambda code: death_reason(code, limits.cpu_seconds, "page", "the page could "
                                       f"not be shown (the renderer stopped, exit {code})"))
    if outcome[0] != "ok":
        raise ImportRejected(str(outcome[1]))
    return bytes(outcome[1]), int(outcome[2])


def _worker(conn: Connection, data: bytes, mime: str, page: int, limits: PdfLimits) -> None:
    confine_worker(limits.memory_mb, limits.cpu_seconds)
    try:
        conn.send(("ok", *_render(data, mime, page, limits)))
    except MemoryError:
        conn.send(("rejected", f"the page needs more than {limits.memory_mb} MB to show"))
    except IndexError:
        conn.send(("rejected", f"the form has no page {page}"))
    except Exception as exc:  # noqa: BLE001 - any renderer bug is a refusal, not a crash
        conn.send(("rejected", f"the page could not be shown ({type(exc).__name__})"))
    finally:
        conn.close()


def _render(data: bytes, mime: str, page: int, limits: PdfLimits) -> tuple[bytes, int]:
    import logging
    logging.disable(logging.WARNING)
    if mime == "application/pdf" or data[:5] == b"%PDF-":
        cap = limits.max_inflated_mb * MB
        if inflated_size(data, cap) > cap:
            raise ValueError("the PDF expands too far")
        image, count = _pdf_page(data, page)
    else:
        image, count = _image_page(data, page)
    out = io.BytesIO()
    image.save(out, "PNG")
    return out.getvalue(), count


def _pdf_page(data: bytes, page: int) -> tuple[Any, int]:
    import pypdfium2 as pdfium

    pdf = pdfium.PdfDocument(data)
    try:
        count = len(pdf)
        if page > count:
            raise IndexError(page)
        sheet = pdf[page - 1]
        w, h = sheet.get_size()
        scale = min(VIEW_DPI / 72, (MAX_VIEW_PIXELS / max(1.0, w * h)) ** 0.5)
        image = sheet.render(scale=scale).to_pil()
        sheet.close()
        return image, count
    finally:
        pdf.close()


def _image_page(data: bytes, page: int) -> tuple[Any, int]:
    from PIL import Image

    from app.intake.ocr import MAX_PIXELS
    Image.MAX_IMAGE_PIXELS = MAX_PIXELS  # past 2x this Pillow refuses before decoding
    image = Image.open(io.BytesIO(data))
    count = int(getattr(image, "n_frames", 1))
    if page > count:
        raise IndexError(page)
    image.seek(page - 1)
    frame = image.convert("RGB")
    if frame.width * frame.height > MAX_VIEW_PIXELS:
        ratio = (MAX_VIEW_PIXELS / (frame.width * frame.height)) ** 0.5
        frame = frame.resize((max(1, int(frame.width * ratio)),
                              max(1, int(frame.height * ratio))))
    return frame, count
