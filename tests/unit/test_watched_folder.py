"""The watched import folder (issue 12): the scheduler imports what appears there through
the import services, moves each file aside, and a failure becomes a visible task whose
title names no file (a file name can carry a patient's name)."""

from __future__ import annotations

import logging
import os
import shutil
import time
from pathlib import Path

import pytest

from app.identity import Session
from app.services import practice
from automations.jobs import build_scheduler, import_jobs
from automations.jobs.runtime import install
from automations.workflows.watched_folder import run_watched_folder

SYNTHEA = Path("/work/shared/corpus/fhir/synthea_r4_bundles")
OLD = time.time() - 3600


def _drop(folder: Path, name: str, data: bytes, *, settled: bool = True) -> Path:
    path = folder / name
    path.write_bytes(data)
    if settled:
        os.utime(path, (OLD, OLD))
    return path


@pytest.fixture
def watched(owner_session: Session, tmp_path: Path) -> tuple[Session, Path]:
    folder = tmp_path / "ehr-export"
    folder.mkdir()
    practice.set_setting(owner_session, "import_watch_dir", str(folder))
    return owner_session, folder


@pytest.mark.skipif(not SYNTHEA.is_dir(), reason="shared corpus not present")
def test_files_are_imported_moved_aside_and_failures_become_tasks(
        watched: tuple[Session, Path], caplog: pytest.LogCaptureFixture) -> None:
    session, folder = watched
    bundle = sorted(SYNTHEA.glob("*.json"))[0]
    shutil.copy(bundle, folder / bundle.name)
    os.utime(folder / bundle.name, (OLD, OLD))
    _drop(folder, "Zzyzxquell_broken.json", b'{"resourceType": "Bundle", "entry": [')
    _drop(folder, "Zzyzxquell_roster.csv", b"id,last,first\n1,Doe,Jane\n")
    _drop(folder, "notes.docx", b"PK\x03\x04 not an export")
    _drop(folder, "still-copying.json", b"{", settled=False)
    system = Session.system(session.vault, "import_watch")
    with caplog.at_level(logging.INFO):
        summary = run_watched_folder(system)
    assert (summary.imported, summary.failed, summary.waiting) == (1, 3, 1)
    assert sorted(p.name for p in folder.iterdir() if p.is_file()) == ["still-copying.json"]
    assert [p.name for p in (folder / "imported").iterdir()] == [bundle.name]
    assert sorted(p.name for p in (folder / "failed").iterdir()) == [
        "Zzyzxquell_broken.json", "Zzyzxquell_roster.csv", "notes.docx"]
    assert session.vault.query_one("SELECT count(*) FROM patients")[0] >= 1
    rows = session.vault.query("SELECT title, draft, state FROM tasks WHERE kind = "
                               "'automation_failure' ORDER BY id")
    assert len(rows) == 3
    drafts = "\n".join(r[1] for r in rows)
    assert "no column mapping" in drafts and "not a file OffHold imports" in drafts
    for title, _draft, _state in rows:
        assert "Zzyzxquell" not in title and ".csv" not in title
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert "Zzyzxquell" not in logged and bundle.stem.split("_")[0] not in logged
    again = run_watched_folder(system)  # moved aside: nothing is imported twice
    assert (again.imported, again.failed) == (0, 0)


@pytest.mark.skipif(not SYNTHEA.is_dir(), reason="shared corpus not present")
def test_a_verified_import_may_delete_the_file(watched: tuple[Session, Path]) -> None:
    session, folder = watched
    practice.set_setting(session, "import_watch_delete", True)
    bundle = sorted(SYNTHEA.glob("*.json"))[1]
    shutil.copy(bundle, folder / bundle.name)
    os.utime(folder / bundle.name, (OLD, OLD))
    summary = run_watched_folder(Session.system(session.vault, "import_watch"))
    assert (summary.imported, summary.deleted) == (1, 1)
    assert list(folder.iterdir()) == []  # no copy of the export left behind


def test_off_when_unset_and_a_missing_folder_is_a_task(owner_session: Session,
                                                       tmp_path: Path) -> None:
    system = Session.system(owner_session.vault, "import_watch")
    assert run_watched_folder(system).failed == 0  # the setting is empty: nothing to do
    practice.set_setting(owner_session, "import_watch_dir", str(tmp_path / "gone"))
    assert run_watched_folder(system).failed == 1
    assert owner_session.vault.query_one(
        "SELECT count(*) FROM tasks WHERE kind = 'automation_failure'")[0] == 1


def test_the_scheduler_runs_the_watched_folder_job(owner_session: Session) -> None:
    scheduler = build_scheduler(owner_session.vault, lambda s: None,  # type: ignore[arg-type,return-value]
                                sweep_seconds=300)
    try:
        job = scheduler.get_job(import_jobs.WATCHED_FOLDER_ID)
        assert job is not None and job.args == ()
        assert f"interval[0:0{import_jobs.WATCHED_FOLDER_MINUTES}:00]" in str(job.trigger)
    finally:
        install(None)


def test_an_unexpected_error_moves_the_file_aside_and_the_next_file_still_imports(
        watched: tuple[Session, Path], monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture) -> None:
    """A file that breaks the importer in a way it did not foresee becomes a task and goes
    to failed/; left in place it failed the job on every run and blocked the files after
    it. The task names the error's type, never its message (it could carry PHI)."""
    from app.errors import KnownError
    from app.services import imports

    session, folder = watched
    seen: list[str] = []

    def fake_fhir(system: Session, files: list[tuple[str, bytes]]) -> object:
        seen.append(files[0][0])
        if files[0][0].startswith("a_"):
            raise RuntimeError("Zzyzxquell, DOB 1970-01-01")
        raise KnownError("second file reached the importer")

    monkeypatch.setattr(imports, "import_fhir", fake_fhir)
    _drop(folder, "a_poison.json", b"{}")
    _drop(folder, "b_next.json", b"{ }")  # other bytes: its own task
    with caplog.at_level(logging.INFO):
        summary = run_watched_folder(Session.system(session.vault, "import_watch"))
    assert seen == ["a_poison.json", "b_next.json"]
    assert summary.failed == 2
    assert sorted(p.name for p in (folder / "failed").iterdir()) == ["a_poison.json",
                                                                      "b_next.json"]
    drafts = [r[0] for r in session.vault.query(
        "SELECT draft FROM tasks WHERE kind = 'automation_failure' ORDER BY id")]
    assert "an unexpected error (RuntimeError)" in drafts[0]
    assert "Zzyzxquell" not in "\n".join(drafts)
    assert "Zzyzxquell" not in "\n".join(r.getMessage() for r in caplog.records)


@pytest.mark.parametrize("delete", [False, True])
def test_a_file_rewritten_while_it_was_imported_stays_for_the_next_run(
        watched: tuple[Session, Path], monkeypatch: pytest.MonkeyPatch,
        delete: bool) -> None:
    """The EHR writes tonight's export under last night's name while the import runs:
    the new bytes were never imported, so the file must not be filed under imported/
    (where nothing reads it again), with or without deletion; the next run imports it."""
    from app.services import imports

    session, folder = watched
    imports.save_mapping(session, "roster", "patients", {"id": "id", "first_name": "first",
                                                         "last_name": "last", "dob": "dob"})
    practice.set_setting(session, "import_watch_csv_mapping", "roster")
    practice.set_setting(session, "import_watch_delete", delete)
    path = _drop(folder, "roster.csv", b"id,first,last,dob\nC1,Ann,Zzyzxquell,1961-04-02\n")
    real = imports.import_csv

    def import_while_rewritten(*args: object, **kwargs: object) -> object:
        outcome = real(*args, **kwargs)  # type: ignore[arg-type]
        path.write_bytes(b"id,first,last,dob\nC1,Ann,Zzyzxquell,1961-04-02\n"
                         b"C2,Bo,Quorvath,1970-01-01\n")
        os.utime(path, (OLD, OLD))
        return outcome

    monkeypatch.setattr(imports, "import_csv", import_while_rewritten)
    system = Session.system(session.vault, "import_watch")
    first = run_watched_folder(system)
    assert (first.imported, first.deleted) == (1, 0)
    assert path.exists() and not (folder / "imported").exists()
    monkeypatch.setattr(imports, "import_csv", real)
    second = run_watched_folder(system)
    assert second.imported == 1
    assert session.vault.query_one("SELECT count(*) FROM patients")[0] == 2


def test_a_file_that_vanishes_mid_run_does_not_end_the_run(
        watched: tuple[Session, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    """An exporter that renames or removes a file while the job reads it: the job's stat
    and its move to failed/ raised, ending the run, so the files after it waited for the
    next run (and the same thing could happen again)."""
    from automations.workflows import watched_folder

    session, folder = watched
    real_read = watched_folder.read_capped

    def read(path: Path, limit: int) -> bytes:
        if path.name.startswith("a_"):
            path.unlink()  # the exporter took it away while it was being read
            raise FileNotFoundError(path.name)
        return real_read(path, limit)

    monkeypatch.setattr(watched_folder, "read_capped", read)
    _drop(folder, "a_vanishing.json", b"{}")
    _drop(folder, "b_next.ndjson", b"")
    real_iterdir = Path.iterdir

    def listing(self: Path) -> object:  # a file listed, then gone before its stat
        found = list(real_iterdir(self))
        return found + [self / "c_gone_before_stat.json"] if self == folder else found

    monkeypatch.setattr(Path, "iterdir", listing)
    monkeypatch.setattr(Path, "is_file", lambda self: self.name != "failed"
                        and (self.name == "c_gone_before_stat.json" or os.path.isfile(self)))
    summary = run_watched_folder(Session.system(session.vault, "import_watch"))
    # the run went on past both: b_next (an empty export) was read and set aside
    assert (summary.imported, summary.failed) == (1, 0)
    assert [p.name for p in (folder / "imported").iterdir()] == ["b_next.ndjson"]
    assert not (folder / "failed").exists() or not any((folder / "failed").iterdir())
