"""Two schedulers never run jobs on one vault at once (issue 12): the desktop app hosts the
jobs only while no `offhold run` holds the vault's scheduler lock, and the other way round.
The lock is the OS's, so a killed scheduler frees it with its process."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from app.identity import Session
from automations.jobs import SchedulerBusy, start_scheduler, stop_scheduler
from automations.jobs.lock import SchedulerLock


def _nothing(session: Session) -> None:  # no portal: the sweep finds no PA
    raise AssertionError("no portal visits here")


def test_a_second_scheduler_in_this_process_is_refused(owner_session: Session,
                                                       vault_dir: Path) -> None:
    first = start_scheduler(owner_session.vault, _nothing,  # type: ignore[arg-type]
                            sweep_seconds=3600)
    try:
        # the holder, its process, machine and since when (local time)
        with pytest.raises(SchedulerBusy, match=r"already running \(desktop app, pid \d+, on "
                           r"\S+ since \d{4}-\d\d-\d\d \d\d:\d\d\b[^)]*\)"):
            start_scheduler(owner_session.vault, _nothing,  # type: ignore[arg-type]
                            sweep_seconds=3600)
    finally:
        stop_scheduler(first)
    again = start_scheduler(owner_session.vault, _nothing,  # type: ignore[arg-type]
                            sweep_seconds=3600)  # the lock went with the stop
    stop_scheduler(again)
    assert (vault_dir / "scheduler.lock").read_text() == ""  # no holder left named


HOLDER = textwrap.dedent("""
    import sys
    from automations.jobs.lock import SchedulerLock
    lock = SchedulerLock(sys.argv[1], "offhold run")
    lock.acquire()
    print("held", flush=True)
    sys.stdin.readline()  # hold until the test says so (or the process dies)
""")


def test_offhold_run_in_another_process_keeps_the_app_from_hosting_jobs(
        owner_session: Session, vault_dir: Path) -> None:
    root = Path(__file__).resolve().parents[2]
    child = subprocess.Popen([sys.executable, "-c", HOLDER, str(vault_dir)], cwd=root,
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout is not None and child.stdout.readline().strip() == "held"
        with pytest.raises(SchedulerBusy, match=r"offhold run, pid \d+"):
            start_scheduler(owner_session.vault, _nothing,  # type: ignore[arg-type]
                            sweep_seconds=3600)
        child.kill()  # a crashed `offhold run`: the OS frees its lock
        child.wait(10)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait(10)
        if child.stdin:
            child.stdin.close()
        if child.stdout:
            child.stdout.close()
    hosted = start_scheduler(owner_session.vault, _nothing,  # type: ignore[arg-type]
                             sweep_seconds=3600)
    try:
        blocked = SchedulerLock(vault_dir, "offhold run")
        with pytest.raises(SchedulerBusy, match="desktop app"):
            blocked.acquire()  # and `offhold run` now finds the app holding it
    finally:
        stop_scheduler(hosted)


def test_offhold_run_refuses_in_one_line_while_the_app_has_the_jobs(
        owner_session: Session, vault_dir: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    import io

    from tests.conftest import OWNER_PASSWORD
    from ui.cli import main
    app_lock = SchedulerLock(vault_dir, "desktop app")
    app_lock.acquire()
    monkeypatch.setenv("OFFHOLD_VAULT", str(vault_dir))
    monkeypatch.setenv("OFFHOLD_USER", "owner")
    monkeypatch.setenv("OFFHOLD_PASSWORD", OWNER_PASSWORD)
    try:
        code = main(["run"], stdin=io.StringIO(""))
    finally:
        app_lock.release()
    out, err = capsys.readouterr()
    assert code == 1 and out == ""
    assert err.count("\n") == 1 and "already running (desktop app, pid" in err
    starts = owner_session.vault.query_one("SELECT count(*) FROM audit_log WHERE action = "
                                           "'scheduler.start'")[0]
    assert starts == 0  # refused before it claimed to start


def test_a_stop_whose_wait_ran_out_keeps_the_lock_until_the_running_job_ends(
        owner_session: Session, vault_dir: Path) -> None:
    """offhold run stops on SIGTERM with no wait, and the app's stop gives a job only so
    long: a portal check still running then must keep the vault's jobs from a second
    scheduler until it ends."""
    from automations.jobs.runtime import JobRuntime
    lock = SchedulerLock(vault_dir, "offhold run")
    lock.acquire()
    runtime = JobRuntime(owner_session.vault, _nothing, lock=lock)  # type: ignore[arg-type]
    runtime.enter()  # a job mid portal visit
    assert not runtime.wait_idle(0.0)
    runtime.close()
    other = SchedulerLock(vault_dir, "desktop app")
    with pytest.raises(SchedulerBusy, match="offhold run"):
        other.acquire()
    runtime.leave()  # the job ends: now the lock goes
    other.acquire()
    other.release()


def test_a_damaged_holder_line_still_reads_as_busy(tmp_path: Path) -> None:
    """The lock file's line is only for people; bytes that are not UTF-8 there (a damaged
    file, another tool's write) raised UnicodeDecodeError instead of SchedulerBusy."""
    first = SchedulerLock(tmp_path, "offhold run")
    first.acquire()
    try:
        (tmp_path / first.path.name).write_bytes(b"\xff\xfe\x00 not text \x80\n")
        with pytest.raises(SchedulerBusy, match="already running"):
            SchedulerLock(tmp_path, "desktop app").acquire()
    finally:
        first.release()
