"""Backups are encrypted copies; a restore is verified before it replaces anything."""

from __future__ import annotations

from pathlib import Path

import pytest

from app import audit
from app.errors import VaultCorrupt, VaultExists, WrongPassword
from app.identity import unlock
from app.services import patients
from app.vault.backup import create_backup, restore_backup
from app.vault.db import connect_raw
from tests.conftest import OWNER_PASSWORD, files_containing


def test_backup_restores_into_fresh_dir(practice, tmp_path: Path) -> None:
    for i in range(30):
        patients.add_patient(practice, "Rhoda", f"Backupson{i}", "1970-05-05")
    dest = tmp_path / "backups" / "vault-2026-11-24.db"
    result = create_backup(practice, dest)
    assert not dest.read_bytes().startswith(b"SQLite format 3")
    assert files_containing(dest.parent, b"Backupson") == []
    rows_before = practice.vault.query_one("SELECT count(*) FROM audit_log")[0]
    assert result["audit_rows"] == rows_before
    fresh = tmp_path / "restored"
    restore_backup(dest, fresh, "owner", OWNER_PASSWORD)
    session = unlock(fresh, "owner", OWNER_PASSWORD)
    assert session.vault.query_one("SELECT count(*) FROM patients")[0] == 31
    assert audit.verify(session.vault).ok
    # every original audit row is there, plus the restore and this login
    assert session.vault.query_one("SELECT count(*) FROM audit_log")[0] >= rows_before + 1
    session.vault.close()


def test_restore_refuses_existing_vault_without_replace(practice, vault_dir: Path,
                                                        tmp_path: Path) -> None:
    dest = tmp_path / "b.db"
    create_backup(practice, dest)
    with pytest.raises(VaultExists):
        restore_backup(dest, vault_dir, "owner", OWNER_PASSWORD)


def test_restore_with_wrong_password_changes_nothing(practice, tmp_path: Path) -> None:
    dest = tmp_path / "b.db"
    create_backup(practice, dest)
    with pytest.raises(WrongPassword):
        restore_backup(dest, tmp_path / "r", "owner", "bad-password")
    assert not (tmp_path / "r" / "vault.db").exists()


def test_tampered_backup_is_refused_before_replacing(practice, vault_dir: Path,
                                                     tmp_path: Path) -> None:
    dest = tmp_path / "b.db"
    create_backup(practice, dest)
    raw = connect_raw(dest, practice.vault.key)
    raw.execute("DROP TRIGGER audit_no_update")
    raw.execute("UPDATE audit_log SET actor = 'mallory' WHERE id = 2")
    raw.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    raw.close()
    before = (vault_dir / "vault.db").read_bytes()
    with pytest.raises(VaultCorrupt, match="audit"):
        restore_backup(dest, vault_dir, "owner", OWNER_PASSWORD, replace=True)
    assert (vault_dir / "vault.db").read_bytes() == before


def test_backup_name_is_never_overwritten(practice, tmp_path: Path) -> None:
    dest = tmp_path / "b.db"
    create_backup(practice, dest)
    with pytest.raises(VaultExists):
        create_backup(practice, dest)


def _front_desk(practice) -> None:  # type: ignore[no-untyped-def]
    from app.services import users
    users.add_user(practice, "frida", "frida-pass-1", ["front_desk"])


def test_front_desk_cannot_replace_the_live_vault(practice, vault_dir: Path,
                                                  tmp_path: Path) -> None:
    """Issue 10 #2: `restore --replace` by a front-desk user swapped the vault (exit 0)."""
    from app.errors import PermissionDenied
    _front_desk(practice)
    dest = tmp_path / "b.db"
    create_backup(practice, dest)
    before = (vault_dir / "vault.db").read_bytes()
    with pytest.raises(PermissionDenied, match="backup.restore"):
        restore_backup(dest, vault_dir, "frida", "frida-pass-1", replace=True)
    assert (vault_dir / "vault.db").read_bytes() == before
    assert not list(vault_dir.glob("*.pre-restore-*"))
    row = practice.vault.query_one("SELECT actor, details FROM audit_log WHERE action = "
                                   "'permission.denied' ORDER BY id DESC LIMIT 1")
    assert row[0] == "frida" and "backup.restore" in row[1]


def test_front_desk_cannot_restore_into_a_fresh_dir(practice, tmp_path: Path) -> None:
    """With no live vault, the backup's own roles decide: restore is owner-only there too."""
    from app.errors import PermissionDenied
    _front_desk(practice)
    dest = tmp_path / "b.db"
    create_backup(practice, dest)
    with pytest.raises(PermissionDenied, match="backup.restore"):
        restore_backup(dest, tmp_path / "fresh", "frida", "frida-pass-1")
    assert not (tmp_path / "fresh" / "vault.db").exists()
