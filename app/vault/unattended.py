"""An optional copy of the vault key in the OS keyring, so the scheduler can run at night.

Where the keyring has no backend (headless Linux), unattended mode is simply off; there
is no fallback to a plaintext key file."""

from __future__ import annotations

from pathlib import Path

import keyring
import keyring.errors
from keyring.backends import fail

from app import audit
from app.errors import NoKeyringBackend, VaultError
from app.identity import Session, open_with_key, require
from app.vault.db import Vault, keys_path
from app.vault.keys import KeyEnvelope

SERVICE = "OffHold vault"


def backend_available() -> bool:
    return not isinstance(keyring.get_keyring(), fail.Keyring)


def enable(session: Session) -> None:
    require(session, "settings.manage")
    if not backend_available():
        raise NoKeyringBackend()
    vault = session.vault
    try:
        keyring.set_password(SERVICE, vault.envelope.vault_id, vault.key.hex())
    except keyring.errors.KeyringError as exc:
        raise NoKeyringBackend() from exc
    audit.record_now(vault, session, "unattended.enable")


def disable(session: Session) -> None:
    require(session, "settings.manage")
    try:
        keyring.delete_password(SERVICE, session.vault.envelope.vault_id)
    except keyring.errors.PasswordDeleteError:
        pass
    except keyring.errors.KeyringError as exc:
        raise NoKeyringBackend() from exc
    audit.record_now(session.vault, session, "unattended.disable")


def open_unattended(directory: Path) -> Vault:
    """Open the vault with the keyring's copy of the key (for `offhold run`)."""
    if not backend_available():
        raise NoKeyringBackend()
    envelope = KeyEnvelope.load(keys_path(Path(directory)))
    try:
        hex_key = keyring.get_password(SERVICE, envelope.vault_id)
    except keyring.errors.KeyringError as exc:
        raise NoKeyringBackend() from exc
    if not hex_key:
        raise VaultError("unattended mode is not enabled for this vault "
                         "(run 'offhold unattended enable' as the owner)")
    return open_with_key(Path(directory), bytes.fromhex(hex_key), envelope)
