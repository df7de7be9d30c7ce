"""The key envelope: wrapped copies of the vault's 32-byte raw key, stored beside the vault.

Each user's copy is AES-256-GCM under a key derived from that user's password with
argon2id; one more copy is under the recovery key shown once at init. The file also
holds login throttling state, because a wrong password cannot open the vault to
record it; failures are queued here and copied into the audit log at the next unlock.
It never holds PHI or the key in the clear.

Owners' copies (and the recovery copy) wrap the vault key followed by the owner signing
key, an Ed25519 private key that signs audit checkpoints: a non-owner's password unwraps
the vault but never that key, and stripping it from an owner's copy breaks the AES-GCM tag.
Everything written only after a login (wrapped copies, public key, checkpoint copy) is
sealed with an HMAC keyed from the vault key, so a hand edit is refused at open.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
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
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
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
    return base64.b64decode(text.encode("ascii"), validate=True)


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


def new_signing_key() -> bytes:
    """A fresh Ed25519 private key, raw 32 bytes."""
    return Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.Raw, serialization.PrivateFormat.Raw,
        serialization.NoEncryption())


def public_key_of(signing_key: bytes) -> str:
    """The base64 raw Ed25519 public key for a raw private key."""
    public = Ed25519PrivateKey.from_private_bytes(signing_key).public_key()
    return _b64(public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw))


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
    signing_public: str | None = None  # base64 Ed25519 public key of the owner signing key
    checkpoint: dict[str, Any] | None = None  # copy of the latest signed audit checkpoint
    seal: str | None = None
    _seal_key: bytes | None = field(default=None, repr=False, compare=False)

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
        if not isinstance(data, dict) or data.get("format") != ENVELOPE_FORMAT:
            raise VaultError(f"the key file {path.name} has an unknown format")
        try:
            envelope = cls(
                path=path,
                vault_id=str(data["vault_id"]),
                users=dict(data.get("users") or {}),
                recovery=data.get("recovery"),
                login_state=dict(data.get("login_state") or {}),
                pending_audit=list(data.get("pending_audit") or []),
                demo=bool(data.get("demo", False)),
                signing_public=data.get("signing_public"),
                checkpoint=data.get("checkpoint"),
                seal=data.get("seal"),
            )
            for entry in envelope.users.values():
                for name in ("salt", "nonce", "wrapped"):
                    _unb64(entry[name])
                _kdf_params(entry["kdf"])
            if envelope.recovery is not None:
                _unb64(envelope.recovery["nonce"])
                _unb64(envelope.recovery["wrapped"])
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise VaultError(f"the key file {path.name} is damaged (a field is missing or "
                             "malformed); restore it from a backup") from exc
        return envelope

    def save(self) -> None:
        """Atomic replace with fsync, so a crash leaves the old or the new file, never half."""
        if self._seal_key is not None:
            self.seal = self._compute_seal(self._seal_key)
        data = {
            "format": ENVELOPE_FORMAT,
            "vault_id": self.vault_id,
            "demo": self.demo,
            "users": self.users,
            "recovery": self.recovery,
            "login_state": self.login_state,
            "pending_audit": self.pending_audit,
            "signing_public": self.signing_public,
            "checkpoint": self.checkpoint,
            "seal": self.seal,
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

    # -- the seal over what only a logged-in process writes -----------------------------
    def _sealed_parts(self) -> bytes:
        # login_state and pending_audit are left out: a wrong password (no key) writes them.
        parts = {"vault_id": self.vault_id, "demo": self.demo, "users": self.users,
                 "recovery": self.recovery, "signing_public": self.signing_public,
                 "checkpoint": self.checkpoint}
        return json.dumps(parts, sort_keys=True, separators=(",", ":")).encode("utf-8")

    def _compute_seal(self, key: bytes) -> str:
        return hmac.new(key, self._sealed_parts(), hashlib.sha256).hexdigest()

    def bind(self, vault_key: bytes) -> None:
        """Check the seal with the vault key (a hand-edited file is refused), then keep
        the sealing key so later saves re-seal. A file from before seals is sealed now."""
        seal_key = derive_subkey(vault_key, "offhold-keyfile")
        if self.seal is not None and not hmac.compare_digest(
                self.seal, self._compute_seal(seal_key)):
            raise VaultError(f"the key file {self.path.name} was changed outside OffHold (its "
                             "seal does not match); restore it from a backup")
        self._seal_key = seal_key

    # -- wrapping ----------------------------------------------------------------------
    def _aad(self, who: str) -> bytes:
        return f"offhold:{self.vault_id}:{who}".encode()

    def wrap_for_user(self, username: str, password: str, vault_key: bytes,
                      signing_key: bytes | None = None) -> None:
        """Wrap the vault key (and, for an owner, the owner signing key after it)."""
        salt = secrets.token_bytes(16)
        nonce = secrets.token_bytes(12)
        kek = derive_password_key(password, salt, DEFAULT_KDF)
        payload = vault_key + (signing_key or b"")
        wrapped = AESGCM(kek).encrypt(nonce, payload, self._aad("user:" + username))
        self.users[username] = {
            "kdf": dict(DEFAULT_KDF),
            "salt": _b64(salt),
            "nonce": _b64(nonce),
            "wrapped": _b64(wrapped),
        }

    def unwrap_for_user(self, username: str, password: str) -> bytes:
        return self.unwrap_user(username, password)[0]

    def unwrap_user(self, username: str, password: str) -> tuple[bytes, bytes | None]:
        """The vault key and, for an owner's copy, the owner signing key."""
        entry = self.users.get(username)
        if entry is None:
            # Same argon2 cost as a wrong password, so timing does not tell who exists.
            derive_password_key(password, b"\0" * 16, DEFAULT_KDF)
            raise WrongPassword()
        kek = derive_password_key(password, _unb64(entry["salt"]), _kdf_params(entry["kdf"]))
        try:
            payload = AESGCM(kek).decrypt(
                _unb64(entry["nonce"]), _unb64(entry["wrapped"]), self._aad("user:" + username)
            )
        except InvalidTag as exc:
            raise WrongPassword() from exc
        return _split_payload(payload)

    def holds_owner_key(self) -> bool:
        """True when some copy wraps the owner key too (its ciphertext is longer). Seen
        without any password, so stripping the public key cannot pass for an old vault."""
        entries = list(self.users.values()) + ([self.recovery] if self.recovery else [])
        return any(len(_unb64(e["wrapped"])) > KEY_BYTES + 16 for e in entries)

    def remove_user(self, username: str) -> None:
        self.users.pop(username, None)
        self.login_state.pop(username, None)

    def set_recovery(self, vault_key: bytes, signing_key: bytes | None = None) -> str:
        """Wrap a copy (with the owner signing key) under a fresh recovery key and return
        that key, to show once. Any previous recovery key stops working."""
        raw = secrets.token_bytes(20)
        nonce = secrets.token_bytes(12)
        kek = derive_subkey(raw, "offhold-recovery")
        payload = vault_key + (signing_key or b"")
        self.recovery = {
            "nonce": _b64(nonce),
            "wrapped": _b64(AESGCM(kek).encrypt(nonce, payload, self._aad("recovery"))),
        }
        return format_recovery_key(raw)

    def unwrap_with_recovery(self, recovery_key: str) -> bytes:
        return self.unwrap_recovery(recovery_key)[0]

    def unwrap_recovery(self, recovery_key: str) -> tuple[bytes, bytes | None]:
        if self.recovery is None:
            raise VaultError("this vault has no recovery key")
        kek = derive_subkey(parse_recovery_key(recovery_key), "offhold-recovery")
        try:
            payload = AESGCM(kek).decrypt(
                _unb64(self.recovery["nonce"]),
                _unb64(self.recovery["wrapped"]),
                self._aad("recovery"),
            )
        except InvalidTag as exc:
            raise WrongPassword("wrong recovery key") from exc
        return _split_payload(payload)


def _split_payload(payload: bytes) -> tuple[bytes, bytes | None]:
    if len(payload) == KEY_BYTES:
        return payload, None
    if len(payload) == 2 * KEY_BYTES:
        return payload[:KEY_BYTES], payload[KEY_BYTES:]
    raise VaultError("a wrapped key in the key file has an unexpected length")


def _kdf_params(kdf: Any) -> dict[str, int]:
    """The stored KDF parameters, type-checked (a damaged file is an error, not a crash)."""
    if not isinstance(kdf, dict) or kdf.get("type") != "argon2id":
        raise ValueError("unknown KDF")
    params = {k: int(kdf[k]) for k in ("time_cost", "memory_cost", "parallelism")}
    if min(params.values()) < 1:
        raise ValueError("bad KDF parameters")
    return params
