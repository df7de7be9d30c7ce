"""Untrusted PDFs are parsed in a worker process with hard limits (issue 10 #3).

The probe's files: a 490 KB PDF whose stream inflates to ~150 MB drove the app to 23 GB
resident, a 17.9 KB one hit MemoryError at 3.8 GB, and a 50 KB one crashed the process.
pypdf and pdfminer are trusted to be correct, not to be frugal, so they run in a fresh
`spawn` process that can lose nothing of ours: address space (RLIMIT_AS), CPU time
(RLIMIT_CPU) and a wall-clock timer bound it, it may write no file (RLIMIT_FSIZE 0) nor a
core dump (which would hold the form), and before pypdf or pdfminer inflate anything the
worker measures every Flate stream with a bounded decompressor. Output is capped too
(pages, characters). Every refusal is one line for the person importing, and happens
before anything is written to the vault.

A scan or a photo is read by OCR in the same worker (app.intake.ocr): tesseract runs as
the worker's child and inherits its limits; pages pass through pipes, never a file.
"""

from __future__ import annotations

import multiprocessing
import os
import re
import signal
import sys
import zlib
from dataclasses import dataclass
from multiprocessing.connection import Connection
from collections.abc import Callable, Iterator
from typing import Any

from app.domain.intake import SourceKind
from app.errors import ImportRejected

MB = 1024 * 1024


@dataclass(frozen=True)
class PdfLimits:
    """Bounds for reading one PDF. Defaults fit a long real intake packet with room."""

    memory_mb: int = 768          # the worker's address space (Python + pdfminer ~ 120 MB)
    cpu_seconds: int = 30         # CPU time in the worker
    wall_seconds: float = 60.0    # the parent's kill timer (covers a worker that sleeps)
    max_pages: int = 200
    max_inflated_mb: int = 100    # all streams decompressed, summed
    max_chars: int = 2_000_000    # text handed back (the review pane shows all of it)
    # OCR takes ~1-4 s a page on one core at 300 dpi; a longer fax is mostly cover sheets
    # and records, and what is left unread goes to manual entry with a note.
    ocr_pages: int = 12
    ocr_seconds: float = 90.0     # all pages of one form; the parent's timer adds this


LIMITS = PdfLimits()
_STREAM = re.compile(rb"stream\r?\n")
_FLATE = re.compile(rb"/(?:FlateDecode|Fl)\b")


def inflated_size(data: bytes, cap: int) -> int:
    """The summed decompressed size of the PDF's Flate streams, counting at most `cap` + 1
    bytes (so a bomb costs `cap`, not its full size). Streams with other filters are
    left to the memory limit. The stream dictionary is the text before `stream`."""
    total = 0
    for match in _STREAM.finditer(data):
        dict_start = data.rfind(b"<<", max(0, match.start() - 4096), match.start())
        if dict_start < 0 or not _FLATE.search(data, dict_start, match.start()):
            continue
        end = data.find(b"endstream", match.end())
        raw = data[match.end():end if end >= 0 else len(data)]
        inflater = zlib.decompressobj()
        pending = raw
        try:
            while pending and total <= cap:
                chunk = inflater.decompress(pending, MB)
                total += len(chunk)
                pending = inflater.unconsumed_tail
                if not chunk and not pending:
                    break
        except zlib.error:
            continue  # damaged: pypdf decides what to do with it, under the limits
        if total > cap:
            break
    return total


def one_reply(target: Callable[..., None], args: tuple[Any, ...], *, name: str,
              wall_seconds: float, too_slow: str,
              died: Callable[[int | None], str], position: str = "",
              progress: Callable[[Any], tuple[float, str] | None] | None = None) -> Any:
    """Run `target(conn, *args)` in a fresh `spawn` process (never fork: no copy of the
    open vault) and return the one thing it sends. ImportRejected(`too_slow`) when
    nothing comes within `wall_seconds`, ImportRejected(`died(exitcode)`) when it ends
    without sending (a limit or a crash); the process is gone either way. A message
    for which `progress` returns (seconds, too_slow) is not the reply: the wait starts
    again with that budget (OCR starting). The target confines itself first
    (confine_worker)."""
    ctx = multiprocessing.get_context("spawn")
    parent, child = ctx.Pipe(duplex=False)
    worker = ctx.Process(target=target, args=(child, *args), name=name, daemon=True)
    worker.start()
    child.close()
    try:
        while True:
            if not parent.poll(wall_seconds):
                raise ImportRejected(too_slow, position)
            try:
                outcome = parent.recv()
            # The worker died: a limit or a crash, never a result. Killed while sending a
            # large result (its CPU limit), it leaves part of a message: OSError ("got end
            # of file during message"), not EOFError.
            except (EOFError, OSError):
                worker.join(5)
                raise ImportRejected(died(worker.exitcode), position) from None
            more = progress(outcome) if progress else None
            if more is None:
                return outcome
            wall_seconds, too_slow = more
    finally:
        parent.close()
        if worker.is_alive():
            worker.kill()
        worker.join(5)


def read_pdf_bounded(data: bytes, filename: str, limits: PdfLimits = LIMITS) -> Any:
    """SourceDoc for a PDF, parsed in a worker process under `limits` (a scan is read by
    OCR there); ImportRejected with a one-line reason when a limit is passed or the
    reader fails."""
    return _in_worker(data, filename, limits, "")


def read_image_bounded(data: bytes, filename: str, mime: str,
                       limits: PdfLimits = LIMITS) -> Any:
    """SourceDoc for a photo or a fax image, read by OCR in the bounded worker. An image
    OCR cannot read is still a SourceDoc (with no text), kept for manual entry."""
    return _in_worker(data, filename, limits, mime)


def _in_worker(data: bytes, filename: str, limits: PdfLimits, image_mime: str) -> Any:
    where = filename or "input"
    ocr_wall = limits.ocr_seconds + 10  # OCR's own budget (enforced in the worker) + a margin
    outcome = one_reply(
        _worker, (data, filename, limits, image_mime), name="offhold-pdf",
        wall_seconds=limits.wall_seconds,
        too_slow=f"reading the PDF took longer than {limits.wall_seconds:g} seconds",
        died=lambda code: _death(code, limits), position=where,
        progress=lambda msg: ((ocr_wall, f"reading the scan took longer than {ocr_wall:g} "
                               "seconds") if msg[0] == "ocr" else None))
    if outcome[0] == "rejected":
        raise ImportRejected(outcome[1], where)
    from app.intake.ocr import OcrWord
    from app.intake.source import SourceDoc
    _tag, kind, text, mime, fields, pages, words, note = outcome
    return SourceDoc(SourceKind(kind), text, mime, dict(fields), int(pages),
                     [OcrWord(int(a), int(b), int(p), (float(x0), float(y0), float(x1),
                                                       float(y1)), float(c))
                      for a, b, p, x0, y0, x1, y1, c in words], str(note))


def _death(exitcode: int | None, limits: PdfLimits) -> str:
    return death_reason(exitcode, limits.cpu_seconds, "PDF",
                        f"the PDF reader stopped unexpectedly (exit {exitcode})")


def death_reason(exitcode: int | None, cpu_seconds: int, what: str, otherwise: str) -> str:
    """Why a bounded worker reading `what` ended without a reply, one line from its exit
    code (`otherwise` when no signal ended it), for one_reply's `died`."""
    if exitcode is None or exitcode >= 0:
        return otherwise
    sig = -exitcode
    if sig == getattr(signal, "SIGXCPU", -1):
        return f"reading the {what} used more than {cpu_seconds} seconds of CPU"
    if sig == signal.SIGKILL:  # the CPU hard limit, the OOM killer or a person
        return (f"the {what} reader was stopped by the system (past its CPU limit of "
                f"{cpu_seconds} s, or the computer ran short of memory)")
    return f"the {what} crashed the reader (signal {sig})"


def confine_worker(memory_mb: int, cpu_seconds: int) -> None:
    """What a parsing worker does first: nothing it prints (a warning, a traceback)
    reaches the user's terminal, then `limit_process`."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    os.dup2(devnull, 2)
    limit_process(memory_mb, cpu_seconds)


def limit_process(memory_mb: int, cpu_seconds: int) -> None:
    """Bound the calling (worker) process: address space, CPU time, no file writes and no
    core dump (through confine_worker)."""
    try:
        import resource
    except ImportError:  # Windows: the output caps and the wall timer still hold
        return
    def cap(which: int, value: int) -> None:
        _soft, hard = resource.getrlimit(which)
        if hard != resource.RLIM_INFINITY:
            value = min(value, hard)
        resource.setrlimit(which, (value, hard))

    cap(resource.RLIMIT_CORE, 0)  # a core dump would hold the form
    cap(resource.RLIMIT_FSIZE, 0)  # the reader has no business writing files
    if hasattr(signal, "SIGXFSZ"):
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write fails instead
    cap(resource.RLIMIT_CPU, cpu_seconds)
    if sys.platform.startswith("linux"):  # macOS does not enforce RLIMIT_AS
        cap(resource.RLIMIT_AS, memory_mb * MB)


def _worker(conn: Connection, data: bytes, filename: str, limits: PdfLimits,
            image_mime: str = "") -> None:
    confine_worker(limits.memory_mb, limits.cpu_seconds)
    try:
        def started() -> None:
            conn.send(("ocr",))
        conn.send(_read_image(data, image_mime, limits, started) if image_mime
                  else _read(data, filename, limits, started))
    except MemoryError:
        conn.send(("rejected", f"the PDF needs more than {limits.memory_mb} MB of memory to "
                   "read"))
    except RecursionError:
        conn.send(("rejected", "the PDF nests its objects too deeply to read"))
    except Exception as exc:  # noqa: BLE001 - any reader bug is a refusal, not a crash
        conn.send(("rejected", f"not a readable PDF ({type(exc).__name__})"))
    finally:
        conn.close()


def _read(data: bytes, filename: str, limits: PdfLimits,
          started: Callable[[], None] = lambda: None) -> tuple[Any, ...]:
    import logging
    logging.disable(logging.WARNING)  # pypdf/pdfminer warnings never reach the user
    from app.intake.source import read_pdf_in_process
    cap = limits.max_inflated_mb * MB
    if inflated_size(data, cap) > cap:
        return ("rejected", f"the PDF expands past {limits.max_inflated_mb} MB")
    try:
        doc = read_pdf_in_process(data, filename, max_pages=limits.max_pages,
                                  max_chars=limits.max_chars)
    except ImportRejected as exc:
        return ("rejected", exc.reason)
    if doc.kind is SourceKind.SCANNED_PDF:
        from app.intake import ocr
        return _with_ocr(doc.kind, doc.mime, doc.pages, lambda: ocr.pdf_pages(data), limits,
                         started)
    return ("ok", doc.kind.value, doc.text, doc.mime, doc.form_fields, doc.pages, [], "")


def _read_image(data: bytes, mime: str, limits: PdfLimits,
                started: Callable[[], None]) -> tuple[Any, ...]:
    import logging
    logging.disable(logging.WARNING)
    from app.intake import ocr
    return _with_ocr(SourceKind.IMAGE, mime, 1, lambda: ocr.image_pages(data), limits,
                     started)


def _with_ocr(kind: SourceKind, mime: str, pages: int,
              open_pages: Callable[[], tuple[int, Iterator[bytes]]],
              limits: PdfLimits, started: Callable[[], None]) -> tuple[Any, ...]:
    """The scan's OCR text and words; when OCR cannot run or read it, the doc still goes
    to manual entry, with the reason in its note."""
    from app.intake import ocr
    try:
        ocr.tesseract()
        if limits.ocr_pages <= 0:
            raise ocr.OcrUnavailable("OCR is turned off")
        started()
        count, images = open_pages()
        read = ocr.read_pages(images, max_pages=limits.ocr_pages, total_pages=count,
                              seconds=limits.ocr_seconds)
    except ocr.OcrUnavailable as exc:
        return ("ok", kind.value, "", mime, {}, pages, [], str(exc))
    except MemoryError:
        raise
    except Exception as exc:  # noqa: BLE001 - an image Pillow/pdfium cannot read
        return ("ok", kind.value, "", mime, {}, pages, [],
                f"OCR could not read the file ({type(exc).__name__})")
    text = read.text[:limits.max_chars]
    words = [(w.start, w.end, w.page, *w.box, w.conf) for w in read.words or []
             if w.end <= len(text)]
    return ("ok", kind.value, text, mime, {}, max(pages, count), words, read.note)
