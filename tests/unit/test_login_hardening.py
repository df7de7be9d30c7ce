"""Issue 10 #6, #10, #14: owner MFA enforced at login, an empty vault file is never
re-created, an unknown user costs the same KDF as a wrong password."""

from __future__ import annotations

import time
from pathlib import Path

import pyotp
import pytest

from app.errors import AuthError, VaultCorrupt, WrongPassword
from app.identity import unlock
from app.services import practice as practice_service
from app.services import users
from app.vault.db import db_path
from tests.conftest import OWNER_PASSWORD


def test_require_owner_mfa_refuses_an_owner_without_totp(practice, vault_dir: Path) -> None:
    secret = pyotp.parse_uri(users.enable_mfa(practice, "owner")).secret
    practice_service.set_setting(practice, "require_owner_mfa", True)
    users.add_user(practice, "otto", "otto-password-1", ["owner"])  # not enrolled yet
    with pytest.raises(AuthError, match="requires owners to log in with a TOTP code"):
        unlock(vault_dir, "otto", "otto-password-1")
    refused = practice.vault.query("SELECT details FROM audit_log WHERE action = "
                                   "'login.refused' AND object_id = 'otto'")
    assert refused and "TOTP" in refused[0][0]
    users.add_user(practice, "dana", "dana-password-1", ["front_desk"])
    unlock(vault_dir, "dana", "dana-password-1").vault.close()  # only owners need it
    unlock(vault_dir, "owner", OWNER_PASSWORD, pyotp.TOTP(secret).now()).vault.close()


@pytest.mark.parametrize("content", [b"", b"\x00" * 7])
def test_empty_vault_file_is_an_error_not_a_new_vault(owner_session, vault_dir: Path,
                                                      content: bytes) -> None:
    owner_session.vault.close()
    path = db_path(vault_dir)
    for extra in ("-wal", "-shm"):
        Path(str(path) + extra).unlink(missing_ok=True)
    path.write_bytes(content)
    with pytest.raises(VaultCorrupt, match="empty or truncated.*offhold restore"):
        unlock(vault_dir, "owner", OWNER_PASSWORD)
    assert path.read_bytes() == content  # untouched: no schema was written into it


def test_unknown_user_costs_a_kdf_like_a_wrong_password(owner_session, vault_dir: Path) -> None:
    def timed(user: str) -> float:
        start = time.perf_counter()
        with pytest.raises(WrongPassword):
            unlock(vault_dir, user, "not-the-password")
        return time.perf_counter() - start

    wrong = min(timed("owner") for _ in range(3))
    unknown = min(timed("nobody-here") for _ in range(3))
    assert unknown > 0.5 * wrong, (unknown, wrong)


def test_attempts_during_lockout_are_audited(practice, vault_dir: Path) -> None:
    from app.errors import LockedOut
    from app.identity import MAX_FAILURES
    users.add_user(practice, "lou", "lou-password-1", ["biller"])
    for _ in range(MAX_FAILURES):
        with pytest.raises((WrongPassword, LockedOut)):
            unlock(vault_dir, "lou", "bad-password")
    for _ in range(3):
        with pytest.raises(LockedOut):
            unlock(vault_dir, "lou", "lou-password-1")
    owner = unlock(vault_dir, "owner", OWNER_PASSWORD)
    try:
        rows = owner.vault.query("SELECT role FROM audit_log WHERE action = "
                                 "'login.locked_attempt' AND object_id = 'lou'")
        assert [r[0] for r in rows] == ["unauthenticated"] * 3
    finally:
        owner.vault.close()
