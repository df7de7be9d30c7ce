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
from typing import Any

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


def read_pdf_bounded(data: bytes, filename: str, limits: PdfLimits = LIMITS) -> Any:
    """SourceDoc for a PDF, parsed in a worker process under `limits`; ImportRejected with
    a one-line reason when a limit is passed or the reader fails."""
    where = filename or "input"
    ctx = multiprocessing.get_context("spawn")  # never fork: no copy of the open vault
    parent, child = ctx.Pipe(duplex=False)
    worker = ctx.Process(target=_worker, args=(child, data, filename, limits),
                         name="offhold-pdf", daemon=True)
    worker.start()
    child.close()
    try:
        if not parent.poll(limits.wall_seconds):
            raise ImportRejected(f"reading the PDF took longer than {limits.wall_seconds:g} "
                                 "seconds", where)
        try:
            outcome = parent.recv()
        except EOFError:  # the worker died: a limit or a crash, never a result
            worker.join(5)
            raise ImportRejected(_death(worker.exitcode, limits), where) from None
    finally:
        parent.close()
        if worker.is_alive():
            worker.kill()
        worker.join(5)
    if outcome[0] == "rejected":
        raise ImportRejected(outcome[1], where)
    from app.domain.intake import SourceKind
    from app.intake.source import SourceDoc
    _tag, kind, text, mime, fields, pages = outcome
    return SourceDoc(SourceKind(kind), text, mime, dict(fields), int(pages))


def _death(exitcode: int | None, limits: PdfLimits) -> str:
    if exitcode is not None and exitcode < 0:
        sig = -exitcode
        if sig in (getattr(signal, "SIGXCPU", -1), signal.SIGKILL):
            return f"reading the PDF used more than {limits.cpu_seconds} seconds of CPU"
        return f"the PDF crashed the PDF reader (signal {sig}); it cannot be imported"
    return f"the PDF reader stopped unexpectedly (exit {exitcode})"


def _limit_self(limits: PdfLimits) -> None:
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
    cap(resource.RLIMIT_CPU, limits.cpu_seconds)
    if sys.platform.startswith("linux"):  # macOS does not enforce RLIMIT_AS
        cap(resource.RLIMIT_AS, limits.memory_mb * MB)


def _worker(conn: Connection, data: bytes, filename: str, limits: PdfLimits) -> None:
    # Nothing the readers print (warnings, a traceback) may reach the user's terminal.
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    os.dup2(devnull, 2)
    _limit_self(limits)
    try:
        conn.send(_read(data, filename, limits))
    except MemoryError:
        conn.send(("rejected", f"the PDF needs more than {limits.memory_mb} MB of memory to "
                   "read"))
    except RecursionError:
        conn.send(("rejected", "the PDF nests its objects too deeply to read"))
    except Exception as exc:  # noqa: BLE001 - any reader bug is a refusal, not a crash
        conn.send(("rejected", f"not a readable PDF ({type(exc).__name__})"))
    finally:
        conn.close()


def _read(data: bytes, filename: str, limits: PdfLimits) -> tuple[Any, ...]:
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
    return ("ok", doc.kind.value, doc.text, doc.mime, doc.form_fields, doc.pages)
