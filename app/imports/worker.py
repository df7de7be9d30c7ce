"""837 and FHIR files are parsed in a worker process under an OS memory cap (issue 12).

The parsers already stop at a size, a record count and a wall clock (app.imports.common),
but none of those bounds what a file costs in memory: one-letter X12 garbage costs ~90
bytes of Python per input byte once split, and a JSON bundle of empty objects ~100. So
the parse runs in a fresh `spawn` process (never fork: no copy of the open vault) bounded
the way intake PDFs are (app.intake.bounded.confine_worker: address space, CPU time, no
file writes, no core dump, no output to the terminal) plus the parent's wall-clock timer.
The worker returns plain data (the parsed dataclasses, pickled); the parent writes them
in its one transaction. A file that passes a bound is refused with a one-line reason
before anything is written, and the app keeps running whatever the worker does.
"""

from __future__ import annotations

from collections.abc import Callable
from multiprocessing.connection import Connection
from typing import TYPE_CHECKING, Any, TypeVar

from app.errors import ImportRejected, KnownError
from app.imports.common import LIMITS, Limits

if TYPE_CHECKING:
    from app.imports.fhir import FhirBatch
    from app.referrals import IncomingReferral
    from app.x12.x837 import Parsed837

T = TypeVar("T")


def memory_message(limits: Limits) -> str:
    return f"the file needs more memory than the import allows ({limits.memory_mb} MB)"


def parse_bounded(parse: Callable[..., T], *args: Any, limits: Limits = LIMITS,
                  what: str = "file") -> T:
    """`parse(*args, limits=limits)` run in the bounded worker; its result, or its
    ImportRejected (an X12Error keeps its type and position), or ImportRejected with a
    one-line reason when the worker passed a bound or died. `parse` must be a module-level
    function (it is pickled by name)."""
    from app.intake.bounded import one_reply

    # The parser's own deadline (limits.seconds) says where it stopped; this timer is for a
    # worker that never gets back to it (stuck in C code, or sleeping).
    wall = limits.seconds + 30.0
    outcome = one_reply(_worker, (parse, args, limits), name="offhold-import",
                        wall_seconds=wall,
                        too_slow=f"reading the {what} took longer than {wall:g} seconds; "
                                 "nothing was imported (split the file)",
                        died=lambda code: _death(code, limits, what))
    tag = outcome[0]
    if tag == "ok":
        result: T = outcome[1]
        return result
    if tag == "x12":
        from app.x12.errors import X12Error
        _tag, reason, position, index, offset, segment = outcome
        raise X12Error(reason, position, segment_index=index, byte_offset=offset,
                       segment_id=segment)
    _tag, reason, position = outcome
    raise ImportRejected(reason, position)


def _death(exitcode: int | None, limits: Limits, what: str) -> str:
    from app.intake.bounded import death_reason

    # Out of address space inside C code (the JSON or regex engine) ends the process
    # without a Python MemoryError reaching our handler: an exit without a signal.
    return death_reason(exitcode, limits.cpu_seconds, what,
                        memory_message(limits)) + "; nothing was imported"


def _worker(conn: Connection, parse: Callable[..., Any], args: tuple[Any, ...],
            limits: Limits) -> None:
    from app.intake.bounded import confine_worker

    confine_worker(limits.memory_mb, limits.cpu_seconds)
    reply: tuple[Any, ...]
    try:
        reply = ("ok", parse(*args, limits=limits))
    except MemoryError:
        reply = ("rejected", memory_message(limits), "")
    except RecursionError:
        reply = ("rejected", "the file nests too deeply to read", "")
    except ImportRejected as exc:
        from app.x12.errors import X12Error
        reply = (("x12", exc.reason, exc.position, exc.segment_index, exc.byte_offset,
                  exc.segment_id) if isinstance(exc, X12Error)
                 else ("rejected", exc.reason, exc.position))
    except KnownError as exc:
        reply = ("rejected", str(exc), "")
    except Exception as exc:  # noqa: BLE001 - a parser bug is a refusal, not a crash
        reply = ("rejected", f"the file could not be read ({type(exc).__name__})", "")
    try:
        conn.send(reply)
    except MemoryError:  # the result itself is too large to hand back
        conn.send(("rejected", memory_message(limits), ""))
    finally:
        conn.close()


def _parse_837(data: bytes, lenient: bool, skip_bad: bool, *, limits: Limits) -> Parsed837:
    from app.x12.x837 import parse_837
    return parse_837(data, lenient=lenient, skip_bad=skip_bad, limits=limits)


def _read_fhir(files: list[tuple[str, bytes]], *, limits: Limits) -> FhirBatch:
    from app.imports.fhir import Reader
    reader = Reader(limits)
    for name, data in files:
        reader.add_file(name, data)
    return reader.batch


def _read_referral(kind: str, data: bytes, *, limits: Limits) -> list[IncomingReferral]:
    from app.referrals.sources import read_ccda, read_service_requests
    if kind == "ccda":
        return [read_ccda(data, seconds=limits.seconds)]
    return read_service_requests(data, seconds=limits.seconds)


# A referral file is at most 8 MB (app.referrals.sources); its reader's own deadline is
# 20 s. 8 MB of empty JSON objects costs ~260 MB resident before the entry cap refuses it.
REFERRAL_LIMITS = Limits(memory_mb=768, cpu_seconds=60, seconds=20.0)


def read_referral_bounded(kind: str, data: bytes, *,
                          limits: Limits | None = None) -> list[IncomingReferral]:
    """A C-CDA (`kind` "ccda") or FHIR ServiceRequest ("fhir") referral read by
    app.referrals.sources in the bounded worker (its size is checked there, first)."""
    return parse_bounded(_read_referral, kind, data, limits=limits or REFERRAL_LIMITS,
                         what="C-CDA referral" if kind == "ccda" else "FHIR referral")


def parse_837_bounded(data: bytes, *, lenient: bool = False, skip_bad: bool = False,
                      limits: Limits = LIMITS) -> Parsed837:
    """app.x12.x837.parse_837 in the bounded worker (the size is checked first, here,
    so an oversized file is never sent to it)."""
    from app.x12.tokenizer import check_size
    check_size(len(data))
    return parse_bounded(_parse_837, data, lenient, skip_bad, limits=limits, what="837 file")


def read_fhir_bounded(files: list[tuple[str, bytes]], *,
                      limits: Limits = LIMITS) -> FhirBatch:
    """Every resource of the FHIR files (app.imports.fhir.Reader), read in the bounded
    worker."""
    return parse_bounded(_read_fhir, files, limits=limits, what="FHIR file")
