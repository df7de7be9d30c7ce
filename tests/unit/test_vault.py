"""The vault is encrypted, refuses weaker or newer databases, and never loses or
reveals data on a wrong key."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
import sqlcipher3

from app.errors import InsecureVault, VaultCorrupt, VaultExists, VaultTooNew, WrongPassword
from app.identity import init_vault, unlock
from app.vault import migrations
from app.vault.db import check_cipher_settings, connect_raw, db_path
from tests.conftest import OWNER_PASSWORD, files_containing


def test_vault_file_is_not_plain_sqlite(practice, vault_dir: Path) -> None:
    data = db_path(vault_dir).read_bytes()
    assert not data.startswith(b"SQLite format 3")
    assert len(data) >= 4096  # the rest may still be in the encrypted -wal file


def test_no_patient_name_in_any_file(practice, vault_dir: Path, private_tmp: Path) -> None:
    from app.services import patients
    for i in range(20):
        patients.add_patient(practice, "Ignatius", f"Plumbottom{i:02d}", "1960-01-01",
                             member_id=f"XPL{i:05d}", payer="Acme Health")
    for root in (vault_dir, private_tmp):
        assert files_containing(root, b"Plumbottom") == []
        assert files_containing(root, b"Zzyzxquell") == []
        assert files_containing(root, b"XPL00001") == []
    # and the data really is there, behind the key
    assert len(patients.list_patients(practice, "Plumbottom")) == 20


def test_wrong_password_leaves_vault_untouched(practice, vault_dir: Path) -> None:
    practice.vault.close()
    before = hashlib.sha256(db_path(vault_dir).read_bytes()).hexdigest()
    with pytest.raises(WrongPassword, match="wrong"):
        unlock(vault_dir, "owner", "not-the-password")
    assert hashlib.sha256(db_path(vault_dir).read_bytes()).hexdigest() == before
    session = unlock(vault_dir, "owner", OWNER_PASSWORD)
    assert session.username == "owner"
    session.vault.close()


def test_wrong_raw_key_is_an_error_not_a_new_vault(practice, vault_dir: Path) -> None:
    practice.vault.close()
    before = db_path(vault_dir).read_bytes()
    with pytest.raises(VaultCorrupt, match="does not open"):
        connect_raw(db_path(vault_dir), b"\x01" * 32)
    assert db_path(vault_dir).read_bytes() == before


def test_init_refuses_to_overwrite(owner_session, vault_dir: Path) -> None:
    with pytest.raises(VaultExists):
        init_vault(vault_dir, "Again", "owner", OWNER_PASSWORD)


def test_newer_schema_is_refused_naming_both_versions(owner_session, vault_dir: Path) -> None:
    latest = migrations.latest_version()
    with owner_session.vault.write() as conn:
        conn.execute(f"PRAGMA user_version = {latest + 7}")
    owner_session.vault.close()
    with pytest.raises(VaultTooNew) as err:
        unlock(vault_dir, "owner", OWNER_PASSWORD)
    assert str(latest + 7) in str(err.value) and str(latest) in str(err.value)


def test_plaintext_sqlite_file_is_refused(tmp_path: Path) -> None:
    from app.vault.keys import KeyEnvelope
    directory = tmp_path / "plain"
    directory.mkdir()
    conn = sqlcipher3.connect(str(db_path(directory)))
    conn.execute("CREATE TABLE t (x)")
    conn.commit()
    conn.close()
    KeyEnvelope.create(directory / "vault.keys").save()
    with pytest.raises(InsecureVault):
        unlock(directory, "owner", OWNER_PASSWORD)


def test_weak_cipher_settings_are_refused(tmp_path: Path) -> None:
    conn = sqlcipher3.connect(str(tmp_path / "weak.db"))
    conn.execute("PRAGMA key = 'passphrase'")
    conn.execute("PRAGMA kdf_iter = 1000")
    conn.execute("CREATE TABLE t (x)")
    with pytest.raises(InsecureVault, match="kdf_iter"):
        check_cipher_settings(conn)
    conn.close()


def test_weaker_hmac_and_kdf_are_refused(tmp_path: Path) -> None:
    conn = sqlcipher3.connect(str(tmp_path / "sha1.db"))
    conn.execute(f"PRAGMA key = \"x'{'ab' * 32}'\"")
    conn.execute("PRAGMA cipher_hmac_algorithm = HMAC_SHA1")
    conn.execute("PRAGMA cipher_kdf_algorithm = PBKDF2_HMAC_SHA1")
    conn.execute("CREATE TABLE t (x)")
    with pytest.raises(InsecureVault, match="HMAC is not HMAC_SHA512.*KDF is not"):
        check_cipher_settings(conn)
    conn.close()


def test_open_vault_runs_with_required_pragmas(owner_session) -> None:
    vault = owner_session.vault
    assert str(vault.query_one("PRAGMA journal_mode")[0]).lower() == "wal"
    assert vault.query_one("PRAGMA synchronous")[0] == 2  # FULL
    # off by decision (issue 11): its cost is every statement, the key is wiped by us
    assert vault.query_one("PRAGMA cipher_memory_security")[0] == "0"
    assert vault.integrity_problems() == []


def test_failed_migration_rolls_back_whole(owner_session, monkeypatch: pytest.MonkeyPatch) -> None:
    import types
    version = migrations.latest_version()

    def broken(conn) -> None:  # type: ignore[no-untyped-def]
        conn.execute("CREATE TABLE half_done (x)")
        raise RuntimeError("step failed")

    step = types.SimpleNamespace(VERSION=version + 1, apply=broken)
    real = migrations.steps()
    monkeypatch.setattr(migrations, "steps", lambda: [*real, step])
    # migrate() runs its own transactions, as at open: on a connection of its own
    conn = connect_raw(owner_session.vault.path, owner_session.vault.key)
    try:
        with pytest.raises(RuntimeError):
            migrations.migrate(conn)
    finally:
        conn.close()
    assert owner_session.vault.query_one("PRAGMA user_version")[0] == version
    assert owner_session.vault.query_one(
        "SELECT count(*) FROM sqlite_master WHERE name = 'half_done'")[0] == 0
