"""The key envelope: wrapped copies of the vault's 32-byte raw key, stored beside the vault.

Each user's copy is AES-256-GCM under a key derived from that user's password with
argon2id; one more copy is under the recovery key shown once at init. The file also
holds login throttling state, because a wrong password cannot open the vault to
record it; failures are queued here and copied into the audit log at the next unlock.
It never holds PHI or the key in the clear.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
import tempfile
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from argon2.low_level import Type, hash_secret_raw
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from app.errors import VaultError, WrongPassword

KEY_BYTES = 32
# OWASP password storage cheat sheet: argon2id, m=19 MiB, t=2, p=1 (minimum recommended).
DEFAULT_KDF = {"type": "argon2id", "time_cost": 2, "memory_cost": 19456, "parallelism": 1}
ENVELOPE_FORMAT = 1


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.b64decode(text.encode("ascii"))


def derive_password_key(password: str, salt: bytes, kdf: dict[str, Any]) -> bytes:
    return hash_secret_raw(
        password.encode("utf-8"),
        salt,
        time_cost=int(kdf["time_cost"]),
        memory_cost=int(kdf["memory_cost"]),
        parallelism=int(kdf["parallelism"]),
        hash_len=KEY_BYTES,
        type=Type.ID,
    )


def derive_subkey(vault_key: bytes, purpose: str) -> bytes:
    """A purpose-bound key from the vault key (audit HMAC, recovery wrapping)."""
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=purpose.encode()).derive(
        vault_key
    )


def format_recovery_key(raw: bytes) -> str:
    text = base64.b32encode(raw).decode("ascii").rstrip("=")
    return "-".join(text[i : i + 4] for i in range(0, len(text), 4))


def parse_recovery_key(text: str) -> bytes:
    clean = text.replace("-", "").replace(" ", "").upper()
    clean += "=" * (-len(clean) % 8)
    try:
        return base64.b32decode(clean)
    except ValueError as exc:
        raise WrongPassword("that is not a valid recovery key") from exc


@dataclass
class KeyEnvelope:
    path: Path
    vault_id: str
    users: dict[str, dict[str, Any]] = field(default_factory=dict)
    recovery: dict[str, Any] | None = None
    login_state: dict[str, dict[str, Any]] = field(default_factory=dict)
    pending_audit: list[dict[str, Any]] = field(default_factory=list)
    demo: bool = False

    # -- persistence -------------------------------------------------------------------
    @classmethod
    def create(cls, path: Path, demo: bool = False) -> "KeyEnvelope":
        return cls(path=path, vault_id=str(uuid.uuid4()), demo=demo)

    @classmethod
    def load(cls, path: Path) -> "KeyEnvelope":
        try:
            data = json.loads(path.read_text("utf-8"))
        except FileNotFoundError as exc:
            raise VaultError(f"the key file {path.name} is missing next to the vault") from exc
        except (ValueError, UnicodeDecodeError) as exc:
            raise VaultError(f"the key file {path.name} is damaged") from exc
        if data.get("format") != ENVELOPE_FORMAT:
            raise VaultError(f"the key file {path.name} has an unknown format")
        return cls(
            path=path,
            vault_id=data["vault_id"],
            users=data.get("users", {}),
            recovery=data.get("recovery"),
            login_state=data.get("login_state", {}),
            pending_audit=data.get("pending_audit", []),
            demo=bool(data.get("demo", False)),
        )

    def save(self) -> None:
        """Atomic replace with fsync, so a crash leaves the old or the new file, never half."""
        data = {
            "format": ENVELOPE_FORMAT,
            "vault_id": self.vault_id,
            "demo": self.demo,
            "users": self.users,
            "recovery": self.recovery,
            "login_state": self.login_state,
            "pending_audit": self.pending_audit,
        }
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".keys-", dir=self.path.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                json.dump(data, fh, indent=1, sort_keys=True)
                fh.flush()
                os.fsync(fh.fileno())
            os.chmod(tmp, 0o600)
            os.replace(tmp, self.path)
        except BaseException:
            if os.path.exists(tmp):
                os.unlink(tmp)
            raise

    # -- wrapping ----------------------------------------------------------------------
    def _aad(self, who: str) -> bytes:
        return f"offhold:{self.vault_id}:{who}".encode()

    def wrap_for_user(self, username: str, password: str, vault_key: bytes) -> None:
        salt = secrets.token_bytes(16)
        nonce = secrets.token_bytes(12)
        kek = derive_password_key(password, salt, DEFAULT_KDF)
        wrapped = AESGCM(kek).encrypt(nonce, vault_key, self._aad("user:" + username))
        self.users[username] = {
            "kdf": dict(DEFAULT_KDF),
            "salt": _b64(salt),
            "nonce": _b64(nonce),
            "wrapped": _b64(wrapped),
        }

    def unwrap_for_user(self, username: str, password: str) -> bytes:
        entry = self.users.get(username)
        if entry is None:
            raise WrongPassword()
        kek = derive_password_key(password, _unb64(entry["salt"]), entry["kdf"])
        try:
            return AESGCM(kek).decrypt(
                _unb64(entry["nonce"]), _unb64(entry["wrapped"]), self._aad("user:" + username)
            )
        except InvalidTag as exc:
            raise WrongPassword() from exc

    def remove_user(self, username: str) -> None:
        self.users.pop(username, None)
        self.login_state.pop(username, None)

    def set_recovery(self, vault_key: bytes) -> str:
        """Wrap a copy under a fresh recovery key and return that key, to show once."""
        raw = secrets.token_bytes(20)
        nonce = secrets.token_bytes(12)
        kek = derive_subkey(raw, "offhold-recovery")
        self.recovery = {
            "nonce": _b64(nonce),
            "wrapped": _b64(AESGCM(kek).encrypt(nonce, vault_key, self._aad("recovery"))),
        }
        return format_recovery_key(raw)

    def unwrap_with_recovery(self, recovery_key: str) -> bytes:
        if self.recovery is None:
            raise VaultError("this vault has no recovery key")
        kek = derive_subkey(parse_recovery_key(recovery_key), "offhold-recovery")
        try:
            return AESGCM(kek).decrypt(
                _unb64(self.recovery["nonce"]),
                _unb64(self.recovery["wrapped"]),
                self._aad("recovery"),
            )
        except InvalidTag as exc:
            raise WrongPassword("wrong recovery key") from exc
