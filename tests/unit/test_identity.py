"""Logins: passwords, lockout, TOTP, queued failure audit, recovery key, keyring."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pyotp
import pytest

from app import audit, clock
from app.errors import (LockedOut, MfaRequired, NoKeyringBackend, ValidationError,
                        WrongMfaCode, WrongPassword)
from app.identity import MAX_FAILURES, unlock
from app.services import practice as practice_service
from app.services import users
from app.vault.keys import KeyEnvelope
from tests.conftest import OWNER_PASSWORD


def test_lockout_after_five_failures_then_audited(practice, vault_dir: Path) -> None:
    users.add_user(practice, "fred", "fred-password", ["front_desk"])
    for _ in range(MAX_FAILURES - 1):
        with pytest.raises(WrongPassword):
            unlock(vault_dir, "fred", "nope-nope")
    with pytest.raises(LockedOut):
        unlock(vault_dir, "fred", "nope-nope")
    with pytest.raises(LockedOut, match="locked out"):
        unlock(vault_dir, "fred", "fred-password")  # even the right password
    # the owner unlocks fred; the queued failures reach the audit log at that unlock
    owner = unlock(vault_dir, "owner", OWNER_PASSWORD)
    actions = [r[0] for r in owner.vault.query(
        "SELECT action FROM audit_log WHERE object_id = 'fred' ORDER BY id")]
    assert actions.count("login.failed") == MAX_FAILURES
    assert "login.lockout" in actions
    users.unlock_user(owner, "fred")
    fred = unlock(vault_dir, "fred", "fred-password")
    assert fred.username == "fred"
    assert audit.verify(fred.vault).ok
    owner.vault.close()
    fred.vault.close()


def test_lockout_expires(practice, vault_dir: Path) -> None:
    users.add_user(practice, "gina", "gina-password", ["biller"])
    for _ in range(MAX_FAILURES):
        with pytest.raises((WrongPassword, LockedOut)):
            unlock(vault_dir, "gina", "bad-password")
    later = clock.now() + timedelta(minutes=16)
    clock.set_clock(lambda: later)
    session = unlock(vault_dir, "gina", "gina-password")
    session.vault.close()


def test_totp_required_when_enrolled(practice, vault_dir: Path) -> None:
    uri = users.enable_mfa(practice, "owner")
    secret = pyotp.parse_uri(uri).secret
    with pytest.raises(MfaRequired):
        unlock(vault_dir, "owner", OWNER_PASSWORD)
    with pytest.raises(WrongMfaCode):
        unlock(vault_dir, "owner", OWNER_PASSWORD, "000000" if pyotp.TOTP(secret).now()
               != "000000" else "111111")
    session = unlock(vault_dir, "owner", OWNER_PASSWORD, pyotp.TOTP(secret).now())
    assert session.username == "owner"
    session.vault.close()


def test_owner_mfa_can_only_be_required_once_enrolled(practice) -> None:
    with pytest.raises(ValidationError, match="enrol"):
        practice_service.set_setting(practice, "require_owner_mfa", "true")
    users.enable_mfa(practice, "owner")
    assert practice_service.set_setting(practice, "require_owner_mfa", "true") is True


def test_recovery_key_unwraps_the_vault_key(practice, vault_dir: Path) -> None:
    from app.identity import init_vault
    other = vault_dir.parent / "other"
    session, recovery = init_vault(other, "P", "boss", "boss-password")
    key = session.vault.key
    session.vault.close()
    envelope = KeyEnvelope.load(other / "vault.keys")
    assert envelope.unwrap_with_recovery(recovery) == key
    with pytest.raises(WrongPassword):
        envelope.unwrap_with_recovery(recovery[:-4] + "AAAA")


def test_key_file_holds_no_key_in_clear(practice, vault_dir: Path) -> None:
    text = (vault_dir / "vault.keys").read_text()
    assert practice.vault.key.hex() not in text
    assert "Zzyzxquell" not in text


def test_password_change_rewraps(practice, vault_dir: Path) -> None:
    users.change_password(practice, "owner", "brand-new-password")
    practice.vault.close()
    with pytest.raises(WrongPassword):
        unlock(vault_dir, "owner", OWNER_PASSWORD)
    unlock(vault_dir, "owner", "brand-new-password").vault.close()


def test_deactivated_user_cannot_log_in(practice, vault_dir: Path) -> None:
    users.add_user(practice, "temp", "temp-password", ["front_desk"])
    users.deactivate_user(practice, "temp")
    with pytest.raises(WrongPassword):
        unlock(vault_dir, "temp", "temp-password")


def test_unattended_mode_needs_a_keyring(practice, vault_dir: Path, memory_keyring) -> None:
    from app.vault import unattended
    unattended.enable(practice)
    vault = unattended.open_unattended(vault_dir)
    assert vault.query_one("SELECT count(*) FROM patients")[0] == 1
    vault.close()
    assert list(memory_keyring.store.values()) == [practice.vault.key.hex()]
    assert practice.vault.key.hex() not in (vault_dir / "vault.keys").read_text()


def test_no_keyring_backend_is_a_clear_error(practice, vault_dir: Path) -> None:
    import keyring
    from keyring.backends import fail
    from app.vault import unattended
    previous = keyring.get_keyring()
    keyring.set_keyring(fail.Keyring())
    try:
        with pytest.raises(NoKeyringBackend, match="unattended mode is off"):
            unattended.enable(practice)
        with pytest.raises(NoKeyringBackend):
            unattended.open_unattended(vault_dir)
    finally:
        keyring.set_keyring(previous)
