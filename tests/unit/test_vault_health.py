"""Issue 10 #11 (and #12's SQLCipher noise): corruption is found before it is backed up;
`offhold vault check`, a weekly scheduled check whose result the dashboard shows, a restore
drill, and a damaged backup ending in one line."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from app import queue
from app.errors import PermissionDenied, VaultCorrupt
from app.identity import Session, unlock
from app.identity.permissions import Role
from app.services import patients, vault_health
from app.vault.backup import create_backup, restore_drill
from app.vault.db import db_path
from tests.conftest import OWNER_PASSWORD

ROOT = Path(__file__).resolve().parents[2]
PAGE = 4096


def _flip_unread_page(vault_dir: Path, key: bytes, table: str = "blobs") -> int:
    """Flip one byte inside a table's root page that no login reads; returns the page."""
    import sqlcipher3
    conn = sqlcipher3.connect(str(db_path(vault_dir)))
    conn.execute(f"PRAGMA key = \"x'{key.hex()}'\"")
    page = int(conn.execute("SELECT rootpage FROM sqlite_master WHERE name = ?",
                            (table,)).fetchone()[0])
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    path = db_path(vault_dir)
    with open(path, "r+b") as fh:
        fh.seek((page - 1) * PAGE + 1500)
        byte = fh.read(1)
        fh.seek((page - 1) * PAGE + 1500)
        fh.write(bytes([byte[0] ^ 0xFF]))
    return page


def _damaged(practice, vault_dir: Path):  # type: ignore[no-untyped-def]
    key = practice.vault.key
    practice.vault.close()
    page = _flip_unread_page(vault_dir, key)
    return unlock(vault_dir, "owner", OWNER_PASSWORD), page


def _cli(args: list[str], stdin: str = "") -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OFFHOLD_")}
    env["OFFHOLD_PASSWORD"] = OWNER_PASSWORD
    return subprocess.run([sys.executable, "-m", "ui.cli", *args], cwd=ROOT, env=env,
                          input=stdin, capture_output=True, text=True, timeout=600)


def test_backup_refuses_a_damaged_vault_naming_page_and_table(practice, vault_dir: Path,
                                                              tmp_path: Path) -> None:
    session, page = _damaged(practice, vault_dir)
    try:
        patients.list_patients(session)  # the damage is in a page nobody reads
        with pytest.raises(VaultCorrupt, match=f"page {page}.*table blobs.*no backup"):
            create_backup(session, tmp_path / "b.db")
        assert not (tmp_path / "b.db").exists() and not (tmp_path / "b.db.keys").exists()
        refused = session.vault.query("SELECT details FROM audit_log "
                                      "WHERE action = 'backup.refused'")
        assert refused and "blobs" in refused[0][0]
    finally:
        session.vault.close()
    done = _cli(["backup", str(tmp_path / "c.db"), "--vault", str(vault_dir), "--user", "owner"])
    assert done.returncode == 1
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert "ERROR CORE" not in done.stderr and "Traceback" not in done.stderr


def test_vault_check_command_and_dashboard_result(practice, vault_dir: Path) -> None:
    ok = _cli(["vault", "check", "--vault", str(vault_dir), "--user", "owner", "--json"])
    assert ok.returncode == 0, ok.stderr
    assert json.loads(ok.stdout)["ok"] is True
    assert vault_health.last_check(practice)["ok"] is True
    session, page = _damaged(practice, vault_dir)
    session.vault.close()
    bad = _cli(["vault", "check", "--vault", str(vault_dir), "--user", "owner"])
    assert bad.returncode == 1
    assert f"page {page}" in bad.stdout and "blobs" in bad.stdout
    assert "ERROR CORE" not in bad.stderr and "Traceback" not in bad.stderr


def test_vault_check_is_for_owner_and_manager(practice) -> None:
    desk = Session(practice.vault, "desk", frozenset({Role.FRONT_DESK}))
    with pytest.raises(PermissionDenied):
        vault_health.check_vault(desk)
    manager = Session(practice.vault, "mgr", frozenset({Role.OFFICE_MANAGER}))
    assert vault_health.check_vault(manager)["ok"]


def test_weekly_job_records_the_result_and_raises_a_task_when_damaged(
        practice, vault_dir: Path) -> None:
    from automations.jobs import build_scheduler, practice_jobs
    from automations.jobs.runtime import install
    session, _page = _damaged(practice, vault_dir)
    scheduler = build_scheduler(session.vault, lambda s: None, sweep_seconds=300)
    try:  # not started (see test_practice_jobs): the registration and the job are tested
        job = {j.id: j for j in scheduler.get_jobs()}[practice_jobs.VAULT_CHECK_ID]
        assert "day_of_week='sun'" in str(job.trigger) and job.args == ()
        practice_jobs.vault_check()
        check = vault_health.last_check(session)
        assert check is not None and check["ok"] is False
        tasks = queue.list_tasks(session, queue.QueueFilter(kinds=("automation_failure",)))
        assert any("integrity" in t.title for t in tasks)
    finally:
        install(None)
        session.vault.close()


def test_restore_drill_of_the_latest_backup(practice, tmp_path: Path) -> None:
    create_backup(practice, tmp_path / "first.db")
    patients.add_patient(practice, "Later", "Row", "1970-01-01")
    create_backup(practice, tmp_path / "second.db")
    drill = restore_drill(practice, OWNER_PASSWORD)
    assert drill["ok"] and drill["backup"].endswith("second.db")
    assert drill["seconds"] >= 0 and drill["audit_rows"] > 0
    row = practice.vault.query_one("SELECT details FROM audit_log WHERE action = 'backup.drill'")
    assert json.loads(row[0])["ok"] is True
    import tempfile
    assert not list(Path(tempfile.gettempdir()).glob("offhold-drill-*"))  # scratch wiped


def test_damaged_backup_is_one_line(practice, tmp_path: Path, vault_dir: Path) -> None:
    backup = tmp_path / "b.db"
    create_backup(practice, backup)
    key = practice.vault.key
    _flip_unread_page_file(backup, key)
    with pytest.raises(VaultCorrupt):
        restore_drill(practice, OWNER_PASSWORD, backup)
    practice.vault.close()
    for args in (["restore", "--drill", str(backup)],
                 ["restore", str(backup), "--replace"]):
        done = _cli([*args, "--vault", str(vault_dir), "--user", "owner"])
        assert done.returncode == 1, done.stderr
        assert len(done.stderr.strip().splitlines()) == 1, done.stderr
        assert "damaged" in done.stderr or "integrity" in done.stderr
        assert "ERROR CORE" not in done.stderr


def _flip_unread_page_file(path: Path, key: bytes) -> None:
    import sqlcipher3
    conn = sqlcipher3.connect(str(path))
    conn.execute(f"PRAGMA key = \"x'{key.hex()}'\"")
    page = int(conn.execute("SELECT rootpage FROM sqlite_master WHERE name = 'blobs'")
               .fetchone()[0])
    conn.close()
    with open(path, "r+b") as fh:
        fh.seek((page - 1) * PAGE + 1500)
        byte = fh.read(1)
        fh.seek((page - 1) * PAGE + 1500)
        fh.write(bytes([byte[0] ^ 0xFF]))
