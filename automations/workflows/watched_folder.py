"""The watched folder: the practice points its EHR's nightly export at a folder and the
scheduler imports what appears there through app.services.imports (the same service,
checks and audit as `offhold import`).

Each file is imported as its own transaction, then moved aside: to `imported/` (or
deleted, with `import_watch_delete`, once the import is verified: its row is in the vault
and the file still hashes to what was imported; the deletion is audited), or to `failed/`
with an `automation_failure` task of its own saying why. A file
changed in the last `SETTLE_SECONDS` may still be being written and waits for the next run.
File names can carry PHI ("smith_john_roster.csv"): they go in the task's draft, which
stays in the vault, never in a title or a log line.
"""

from __future__ import annotations

import hashlib
import logging
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

from app import clock, queue
from app.domain import Task
from app.errors import KnownError
from app.identity import Session
from app.imports.common import LIMITS
from app.imports.files import read_capped
from app.services import imports, practice

log = logging.getLogger(__name__)

SYSTEM_ACTOR = "import_watch"
SETTLE_SECONDS = 60.0
IMPORTED, FAILED = "imported", "failed"
FHIR_SUFFIXES = (".json", ".ndjson")
X12_SUFFIXES = (".837", ".x12", ".edi", ".txt", ".dat")


@dataclass
class WatchSummary:
    imported: int = 0
    failed: int = 0
    waiting: int = 0  # still being written
    deleted: int = 0
    task_ids: list[int] = field(default_factory=list)


def _kind(path: Path, head: bytes) -> str:
    suffix = path.suffix.lower()
    if suffix in FHIR_SUFFIXES:
        return "fhir"
    if suffix == ".csv":
        return "csv"
    if suffix in X12_SUFFIXES and head.lstrip()[:3] == b"ISA":
        return "837"
    return ""


def _aside(path: Path, folder: str) -> Path:
    """Move into folder/ under the same name (a numbered name if one is there)."""
    target_dir = path.parent / folder
    target_dir.mkdir(mode=0o700, exist_ok=True)
    target = target_dir / path.name
    n = 1
    while target.exists():
        target = target_dir / f"{path.stem}.{n}{path.suffix}"
        n += 1
    os.replace(path, target)
    return target


def _unchanged(path: Path, data: bytes) -> bool:
    """The file still holds exactly the bytes that were imported (hashed as it is read,
    so a large export is not held twice)."""
    try:
        with path.open("rb") as handle:
            if os.fstat(handle.fileno()).st_size != len(data):
                return False
            return hashlib.file_digest(handle, "sha256").digest() == \
                hashlib.sha256(data).digest()
    except OSError:  # gone or unreadable: not what was imported
        return False


def run_watched_folder(system: Session, *, now: float | None = None) -> WatchSummary:
    """Import every settled file in the setting `import_watch_dir` (no-op when empty)."""
    summary = WatchSummary()
    folder = str(practice.get_setting(system, "import_watch_dir") or "").strip()
    if not folder:
        return summary
    root = Path(folder)
    if not root.is_dir():
        summary.task_ids.append(_failure(system, "folder", f"The watched folder {root} does "
                                         "not exist or is not a folder. Fix the setting "
                                         "import_watch_dir.").id)
        summary.failed += 1
        return summary
    mapping = str(practice.get_setting(system, "import_watch_csv_mapping") or "")
    delete = bool(practice.get_setting(system, "import_watch_delete"))
    moment = time.time() if now is None else now
    for path in sorted(p for p in root.iterdir() if p.is_file()
                       and not p.name.startswith((".", "~"))):
        try:
            settling = moment - path.stat().st_mtime < SETTLE_SECONDS
        except OSError:  # gone since the listing (the exporter renamed or moved it)
            continue
        if settling:
            summary.waiting += 1
            continue
        # The failure task's key: this file (its name and its bytes), so two failed files
        # with the same bytes are two tasks, and no name (it can carry PHI) is in the key.
        key = hashlib.sha256(path.name.encode()).hexdigest()
        kind = ""
        try:
            # never read more than the largest import allows (the services check again)
            data = read_capped(path, LIMITS.max_ndjson_bytes)
            key = hashlib.sha256(path.name.encode() + b"\0" + data).hexdigest()
            kind = _kind(path, data[:64])
            if kind == "fhir":
                outcome = imports.import_fhir(system, [(path.name, data)])
            elif kind == "csv":
                if not mapping:
                    raise KnownError("no column mapping is chosen for CSV files in the "
                                     "watched folder (setting import_watch_csv_mapping)")
                outcome = imports.import_csv(system, data, mapping, file_name=path.name)
            elif kind == "837":
                outcome = imports.import_837(system, data)
            else:
                raise KnownError("not a file OffHold imports (FHIR .json/.ndjson, CSV, or an "
                                 "X12 837)")
        except Exception as exc:  # one bad file must not hold up the rest
            # An unexpected error names its type only (its message could carry PHI); left
            # in place, the file would fail the job every few minutes and block the files
            # sorted after it.
            reason = str(exc) if isinstance(exc, KnownError) else \
                f"an unexpected error ({type(exc).__name__})"
            try:
                moved = _aside(path, FAILED)
            except OSError:
                if not path.exists():
                    continue  # gone while it was read: nothing of it to keep or report
                moved = path  # it cannot be moved: the task says where it is
            summary.failed += 1
            summary.task_ids.append(_failure(system, key, f"{moved} could not be imported: "
                                             f"{reason}\nNothing from it was written. Fix "
                                             "the file or the setting, then move it back "
                                             "into the watched folder.").id)
            log.info("watched folder: a %s file failed (%s)", kind or "unknown",
                     type(exc).__name__)
            continue
        summary.imported += 1
        if delete and outcome.import_id is not None:
            try:
                summary.deleted += imports.delete_imported_files(system, kind,
                                                                 outcome.import_id, [path])
                continue
            except KnownError as exc:  # changed since it was read, or not deletable
                log.info("watched folder: an imported file was kept (%s)",
                         type(exc).__name__)
        if not _unchanged(path, data):
            # The EHR wrote a new export under the same name while this one was being
            # imported: moved to imported/ it would never be read. It stays for the next
            # run (a re-import of records already in the vault changes nothing).
            summary.waiting += 1
            log.info("watched folder: a file changed while it was imported; it waits for "
                     "the next run")
            continue
        try:
            _aside(path, IMPORTED)
        except OSError as exc:  # it stays; importing it again changes nothing
            log.info("watched folder: an imported file could not be moved aside (%s)",
                     type(exc).__name__)
    if summary.imported or summary.failed:
        log.info("watched folder: %d imported, %d failed, %d deleted", summary.imported,
                 summary.failed, summary.deleted)
    return summary


def _failure(system: Session, key: str, draft: str) -> Task:
    task, _created = queue.create_task(
        system, "automation_failure", f"import-watch:{key}:{clock.now().date().isoformat()}",
        "A file in the watched import folder could not be imported", draft=draft,
        priority=queue.PRIORITY_HIGH, subject_type="job", subject_id="import-watch",
        payload={"job_id": "import-watch"})
    return task
