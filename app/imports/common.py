"""What every importer shares: a bad record with its position, the outcome of an
import, and the bounds (size, records, time) checked before and while parsing."""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass, field
from typing import Any

from app.errors import ImportRejected

MB = 1024 * 1024


@dataclass(frozen=True)
class BadRecord:
    """A record that cannot be imported: where it is (segment, line, entry) and why. The
    reason names fields and codes, never a patient's values."""

    position: str
    reason: str
    ident: str = ""  # the source's own ID for the record, when it has one

    def __str__(self) -> str:
        return f"{self.position}: {self.reason}"

    def to_json(self) -> dict[str, str]:
        return {"position": self.position, "reason": self.reason}


@dataclass
class ImportOutcome:
    """What an import changed. `skipped` lists the bad records left out (--skip-bad)."""

    kind: str
    import_id: int | None = None
    sha256: str = ""
    records: int = 0  # records read from the source
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    skipped: list[BadRecord] = field(default_factory=list)
    findings: list[str] = field(default_factory=list)
    by_type: dict[str, int] = field(default_factory=dict)  # created or updated, per type

    @property
    def changed(self) -> bool:
        return bool(self.created or self.updated)

    def count(self, resource: str) -> None:
        self.by_type[resource] = self.by_type.get(resource, 0) + 1

    def to_json(self) -> dict[str, Any]:
        out = dict(vars(self))
        out["skipped"] = [b.to_json() for b in self.skipped]
        return out


@dataclass(frozen=True)
class Limits:
    """Bounds for one import, checked before a byte is parsed (size) and while records
    are read (count, wall clock). Measured with tracemalloc on the 2-core dev box: an
    833 KB Synthea bundle validates in 0.09 s at a 3x peak, a 1.6 MB NDJSON file in
    0.64 s at 2x (read line by line). A CSV streams through two passes (validate, then
    write; app.imports.tabular): a generated 50 MB roster of 400k rows peaked at 52 MB
    traced (1.0x: the IDs seen; maxrss +9 MB over the file's bytes), where holding its
    rows and records had peaked at 599 MB traced and 1.4 GB resident."""

    max_bytes: int = 32 * MB  # one bundle file
    # ~500k roster rows (the record cap binds first for most exports); memory is ~1x the
    # file plus its IDs. Writing is the slow part (40k new patients took 85 s here).
    max_csv_bytes: int = 64 * MB
    max_ndjson_bytes: int = 256 * MB  # streamed, one line at a time
    max_line_bytes: int = 4 * MB  # one NDJSON resource or CSV row
    max_records: int = 500_000
    seconds: float = 300.0
    # The 837/FHIR parse worker (app.imports.worker): address space and CPU time. VmPeak
    # measured on the dev box: the worker with both parsers loaded ~45 MB; a 10.5 MB 837
    # of 27k claims 308 MB; a 32 MB Synthea bundle 349 MB; 14.8 MB of X12 segment
    # garbage 499 MB; a 32 MB bundle of empty objects (11M bad records) 3 GB (the record
    # cap now stops it first; 12 MB of numbers in one entry is 120 MB and no record).
    memory_mb: int = 1536
    cpu_seconds: int = 300


LIMITS = Limits()


class Deadline:
    """Wall-clock bound checked between records, so a pathological file is refused with
    a one-line reason instead of holding the vault's writer."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.end = time.monotonic() + seconds

    def check(self, position: str) -> None:
        if time.monotonic() > self.end:
            raise ImportRejected(f"the import took longer than {self.seconds:.0f} s and was "
                                 "stopped; nothing was imported (split the file)", position)


def check_size(size: int, cap: int, what: str) -> None:
    if size > cap:
        raise ImportRejected(f"the {what} is {size / MB:.1f} MB; imports of this kind are "
                             f"limited to {cap // MB} MB (split the export)")


def content_hash(value: Any) -> str:
    """A stable digest of a record's content: unchanged content means nothing to write."""
    canonical = json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()
