"""Reading a file to import: refused by its size before a byte is read, so a 4 GB file
picked by mistake never reaches memory. One reader for every face (the CLI's import
commands, the desktop's import dialog) and the services."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from app.errors import ValidationError
from app.imports.common import LIMITS, Limits, check_size


def import_cap(kind: str, limits: Limits = LIMITS) -> int:
    """The largest file of this kind an import reads (bytes): X12 (837, 835, 271, 277)
    by the tokenizer's cap, CSV by its own, FHIR by the streamed NDJSON cap (a bundle's
    smaller cap is checked by the reader, which knows which it is)."""
    if kind == "csv":
        return limits.max_csv_bytes
    if kind == "fhir":
        return limits.max_ndjson_bytes
    from app.x12.tokenizer import MAX_X12_BYTES
    return MAX_X12_BYTES


def read_capped(path: Path, cap: int, refuse: Callable[[int], None] | None = None) -> bytes:
    """The file's bytes; ImportRejected when it is over `cap` (checked on its size, and
    again on what was read: it may have grown since), through `refuse(size)` when given;
    ValidationError naming the file (not its folder) when it cannot be read."""
    def check(size: int) -> None:
        if refuse is not None:
            refuse(size)
        check_size(size, cap, "file")
    try:
        check(path.stat().st_size)
        with path.open("rb") as handle:
            data = handle.read(cap + 1)
    except OSError as exc:
        raise ValidationError(f"cannot read {path.name or 'the file'}: "
                              f"{exc.strerror or exc}") from exc
    check(len(data))
    return data


def read_import_file(path: Path, kind: str, limits: Limits = LIMITS) -> bytes:
    """`read_capped` with the cap for this kind of import (import_cap); X12 files are
    refused in the tokenizer's words."""
    if kind in ("csv", "fhir"):
        return read_capped(path, import_cap(kind, limits))
    from app.x12.tokenizer import check_size as refuse_x12
    return read_capped(path, import_cap(kind, limits), refuse_x12)
