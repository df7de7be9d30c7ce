"""Local users, roles, logins and sessions.

Logging in unwraps the vault key with the user's password (see app.vault.keys), opens the
vault, then checks the user's row, TOTP and lockout. Failures that happen before the
vault can be opened are queued in the key envelope and copied into the audit log at the
next successful unlock.
"""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any, Callable

import pyotp
from argon2 import PasswordHasher
from argon2.exceptions import VerificationError, VerifyMismatchError

from app import audit, clock
from app.errors import (
    AuthError,
    LockedOut,
    MfaRequired,
    NotFound,
    PermissionDenied,
    ValidationError,
    VaultExists,
    WrongMfaCode,
    WrongPassword,
)
from app.identity.permissions import ALL_ROLES, Role, allowed, parse_roles
from app.vault import migrations
from app.vault.db import (
    Vault,
    connect_raw,
    db_path,
    ensure_vault_file,
    keys_path,
    make_private,
)
from app.audit.checkpoints import restore_triggers
from app.vault.keys import KeyEnvelope, new_signing_key, public_key_of

log = logging.getLogger(__name__)

MAX_FAILURES = 5
LOCKOUT_MINUTES = 15
MIN_PASSWORD_LENGTH = 8
# OWASP's argon2id parameters, the same as the key envelope's.
_hasher = PasswordHasher(time_cost=2, memory_cost=19456, parallelism=1)

__all__ = ["Role", "Session", "init_vault", "unlock", "require", "parse_roles"]


@dataclass
class Session:
    """Who is acting on which open vault. Services take it as their first argument."""

    vault: Vault
    username: str
    roles: frozenset[Role]
    user_id: int | None = None
    is_system: bool = False
    locked: bool = field(default=False)

    @property
    def acting_role(self) -> str:
        if self.is_system:
            return "system"
        return ",".join(sorted(r.value for r in self.roles))

    def can(self, action: str) -> bool:
        return allowed(self.roles, action)

    @classmethod
    def system(cls, vault: Vault, name: str = "system") -> "Session":
        """Automations act under a named system identity with every role; audited as such."""
        return cls(vault=vault, username=name, roles=ALL_ROLES, is_system=True)


def require(session: Session, action: str, **audit_fields: Any) -> None:
    """Check the matrix; a refusal is audited in its own transaction, then raised."""
    if session.locked:
        raise AuthError("the session is locked; unlock it first")
    if session.can(action):
        return
    audit.record_now(session.vault, session, "permission.denied",
                     details={"attempted": action, **audit_fields})
    raise PermissionDenied(session.username, action)


def _check_password_strength(password: str) -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise ValidationError(f"passwords need at least {MIN_PASSWORD_LENGTH} characters")


def _validate_username(username: str) -> None:
    if not username or not username.replace("_", "").replace(".", "").replace("-", "").isalnum():
        raise ValidationError("user names use letters, digits, '.', '_' and '-' only")


def open_with_key(directory: Path, key: bytes, envelope: KeyEnvelope) -> Vault:
    """Open and migrate; dropped append-only triggers are recreated, audited and reported
    in `vault.warnings`."""
    path = ensure_vault_file(directory)
    for private in (Path(directory), path, keys_path(directory)):
        make_private(private)  # also a vault restored or copied with a looser mode
    conn = connect_raw(path, key)
    try:
        migrations.migrate(conn)
        missing = restore_triggers(conn)
    except BaseException:
        conn.close()
        raise
    vault = Vault(directory, key, envelope, conn)
    if missing:
        vault.warnings.append("the audit log's append-only triggers were missing and have "
                              "been restored: " + ", ".join(missing))
        audit.record_now(vault, audit.SystemActor(), "audit.triggers_restored",
                         details={"missing": missing})
        log.warning("audit triggers were missing and have been restored: %s", missing)
    # Imported here: app.queue builds on app.identity (Session, require).
    from app.queue import recover_interrupted
    try:
        interrupted = recover_interrupted(Session.system(vault, "recovery"))
    except BaseException:
        vault.close()
        raise
    if interrupted:
        vault.warnings.append(f"{len(interrupted)} task(s) were interrupted while executing "
                              "and are back in the queue as failed")
    return vault


def require_owner_key(session: Session) -> None:
    """Role changes need an owner's own authentication: a person holding the owner role
    whose login unwrapped the owner key (never a system actor)."""
    if session.is_system or Role.OWNER not in session.roles or session.vault.signing_key is None:
        raise AuthError("this needs an owner's authentication: log in as an owner with "
                        "a password (or recover with the recovery key)")


def _check_signed_roles(vault: Vault, username: str, roles: frozenset[Role],
                        holds_owner_key: bool) -> None:
    """Refuse a login whose roles differ from the latest owner-signed checkpoint (an
    insider edited the users table). An owner who holds the key still gets in, with a
    warning, so someone can repair a vault whose checkpoints were destroyed."""
    signed = audit.signed_roles(vault)
    if signed is None:
        return
    mine = {r.value for r in roles}
    if username in signed and set(signed[username]) == mine:
        return
    if holds_owner_key and Role.OWNER in roles and not signed:
        vault.warnings.append("no owner-signed audit checkpoint was found; run 'offhold audit "
                              "verify'")
        return
    audit.record_now(vault, audit.SystemActor(username=username, acting_role="unauthenticated"),
                     "login.refused", object_type="user", object_id=username,
                     details={"reason": "roles differ from the owner-signed checkpoint",
                              "roles": sorted(mine)})
    raise AuthError(f"the roles of user {username!r} differ from what an owner signed; an "
                    "owner must set them again")


def init_vault(
    directory: Path,
    practice_name: str,
    owner: str,
    password: str,
    *,
    demo: bool = False,
    timezone: str = "America/New_York",
) -> tuple[Session, str]:
    """Create a new vault; returns the owner's session and the recovery key (show once)."""
    directory = Path(directory)
    if db_path(directory).exists() or keys_path(directory).exists():
        raise VaultExists(f"a vault already exists at {directory}; refusing to overwrite it")
    _validate_username(owner)
    _check_password_strength(password)
    directory.mkdir(parents=True, exist_ok=True)
    key = secrets.token_bytes(32)
    signing = new_signing_key()
    envelope = KeyEnvelope.create(keys_path(directory), demo=demo)
    envelope.wrap_for_user(owner, password, key, signing)
    recovery = envelope.set_recovery(key, signing)
    make_private(directory)
    conn = connect_raw(db_path(directory), key)
    migrations.migrate(conn)
    vault = Vault(directory, key, envelope, conn)
    vault.set_signing_key(signing)
    envelope.save()
    make_private(db_path(directory))
    now = clock.iso(clock.now())
    session = Session(vault, owner, frozenset({Role.OWNER}))
    with vault.write() as c:
        c.execute("INSERT INTO practice (id, name, timezone, created_at) VALUES (1, ?, ?, ?)",
                  (practice_name, timezone, now))
        cur = c.execute(
            "INSERT INTO users (username, pw_hash, roles, created_at) VALUES (?, ?, ?, ?)",
            (owner, _hasher.hash(password), Role.OWNER.value, now))
        session.user_id = int(cur.lastrowid)
        audit.record(vault, c, session, "vault.init", "practice", 1, details={"demo": demo})
        audit.record(vault, c, session, "user.create", "user", owner,
                     details={"roles": [Role.OWNER.value]})
        cp = audit.write_checkpoint(vault, c, owner, first=True)
    audit.publish_checkpoint(vault, cp)
    log.info("vault created (id %s)", envelope.vault_id)
    return session, recovery


def _login_state(envelope: KeyEnvelope, username: str) -> dict[str, Any]:
    return envelope.login_state.setdefault(username, {"failures": 0, "locked_until": None})


def _note_failure(envelope: KeyEnvelope, username: str, reason: str) -> bool:
    """Count a failure in the envelope; return True if it caused a lockout."""
    state = _login_state(envelope, username)
    state["failures"] = int(state["failures"]) + 1
    now = clock.now()
    envelope.pending_audit.append(
        {"ts": clock.iso(now), "actor": username, "action": "login.failed",
         "details": {"reason": reason, "failures": state["failures"]}})
    locked = bool(int(state["failures"]) >= MAX_FAILURES)
    if locked:
        state["locked_until"] = clock.iso(now + timedelta(minutes=LOCKOUT_MINUTES))
        envelope.pending_audit.append(
            {"ts": clock.iso(now), "actor": username, "action": "login.lockout",
             "details": {"minutes": LOCKOUT_MINUTES}})
    envelope.save()
    return locked


def _check_lockout(envelope: KeyEnvelope, username: str) -> None:
    state = envelope.login_state.get(username)
    if not state or not state.get("locked_until"):
        return
    until = clock.parse_iso(state["locked_until"])
    if clock.now() < until:
        minutes = max(1, int((until - clock.now()).total_seconds() // 60) + 1)
        # An attempt during the lockout is audited too (at the next successful login).
        envelope.pending_audit.append(
            {"ts": clock.iso(clock.now()), "actor": username, "action": "login.locked_attempt",
             "details": {"minutes": minutes}})
        envelope.save()
        raise LockedOut(f"user {username!r} is locked out after {MAX_FAILURES} failed logins; "
                        f"try again in {minutes} min or ask the owner to unlock")
    state["failures"] = 0
    state["locked_until"] = None


# Pending entries are written without the vault key (a wrong password cannot open it), so
# anyone who can edit vault.keys can add one. Only these shapes are copied into the log,
# and only as unauthenticated reports of a failed login: nothing a wrong password could
# not have produced anyway.
_PENDING_ACTIONS = frozenset({"login.failed", "login.lockout", "login.locked_attempt"})
_PENDING_DETAILS = frozenset({"reason", "failures", "minutes"})


def _flush_pending(vault: Vault) -> None:
    pending = vault.envelope.pending_audit
    if not pending:
        return
    rejected = 0
    with vault.write() as c:
        for item in pending:
            try:
                action, actor = str(item["action"]), str(item["actor"])
                details = {k: v for k, v in dict(item.get("details") or {}).items()
                           if k in _PENDING_DETAILS and isinstance(v, (str, int))}
                at = clock.iso(clock.parse_iso(str(item["ts"])))
            except (KeyError, TypeError, ValueError, AttributeError):
                rejected += 1
                continue
            plain = actor.replace("_", "").replace(".", "").replace("-", "")
            if action not in _PENDING_ACTIONS or not plain.isalnum() or len(actor) > 64:
                rejected += 1
                continue
            who = audit.SystemActor(username=actor, acting_role="unauthenticated")
            audit.record(vault, c, who, action, "user", actor,
                         details=dict(details, at=at, source="key file, unauthenticated"))
        if rejected:
            audit.record(vault, c, audit.SystemActor(), "keyfile.pending_rejected",
                         details={"entries": rejected})
    vault.envelope.pending_audit = []
    vault.envelope.save()


def _unwrap_counted(envelope: KeyEnvelope, username: str, reason: str,
                    unwrap: Callable[[], tuple[bytes, bytes | None]]) -> tuple[bytes, bytes | None]:
    """Unwrap the key; a wrong secret counts as a failed login (and may lock out)."""
    try:
        return unwrap()
    except WrongPassword:
        if _note_failure(envelope, username, reason):
            raise LockedOut(f"user {username!r} is now locked out after {MAX_FAILURES} "
                            f"failed logins") from None
        raise


def unlock(directory: Path, username: str, password: str, totp_code: str | None = None) -> Session:
    """Log in: unwrap the key, open the vault, check the user. Raises AuthError kinds."""
    directory = Path(directory)
    ensure_vault_file(directory)
    envelope = KeyEnvelope.load(keys_path(directory))
    _check_lockout(envelope, username)
    key, signing = _unwrap_counted(envelope, username, "password",
                                   lambda: envelope.unwrap_user(username, password))
    vault = open_with_key(directory, key, envelope)
    try:
        row = vault.query_one("SELECT id, pw_hash, roles, totp_secret, active FROM users "
                              "WHERE username = ?", (username,))
        if row is None or not row[4]:
            _note_failure(envelope, username, "inactive")
            raise WrongPassword("this user is not active in this vault")
        try:
            _hasher.verify(row[1], password)
        except (VerifyMismatchError, VerificationError):
            _note_failure(envelope, username, "password")
            raise WrongPassword() from None
        session = Session(vault, username, parse_roles(row[2]), user_id=int(row[0]))
        if not row[3] and Role.OWNER in session.roles and _owner_mfa_required(vault):
            audit.record_now(vault, session, "login.refused", object_type="user",
                             object_id=username, details={"reason": "owner without TOTP"})
            raise AuthError("this practice requires owners to log in with a TOTP code; ask "
                            "another owner to enrol you (offhold user mfa-enable USER)")
        if row[3]:
            if not totp_code:
                raise MfaRequired()
            if not pyotp.TOTP(row[3]).verify(totp_code, for_time=clock.now(), valid_window=1):
                _note_failure(envelope, username, "totp")
                raise WrongMfaCode()
        _login_state(envelope, username).update(failures=0, locked_until=None)
        envelope.save()
        _flush_pending(vault)
        _start_session(session, password, signing)
        return session
    except BaseException:
        vault.close()
        raise


def recover(directory: Path, username: str, recovery_key: str,
            new_password: str) -> tuple[Session, str]:
    """A lost owner password: unwrap the vault with the recovery key, set the owner's new
    password, and rotate the recovery key (the old one stops working). Returns the
    owner's session and the new recovery key, to show once. Audited; a wrong recovery key
    counts as a failed login for that user."""
    directory = Path(directory)
    ensure_vault_file(directory)
    envelope = KeyEnvelope.load(keys_path(directory))
    _check_lockout(envelope, username)
    _check_password_strength(new_password)
    key, signing = _unwrap_counted(envelope, username, "recovery_key",
                                   lambda: envelope.unwrap_recovery(recovery_key))
    vault = open_with_key(directory, key, envelope)
    try:
        row = vault.query_one("SELECT id, roles, active FROM users WHERE username = ?",
                              (username,))
        if row is None or not row[2] or Role.OWNER not in parse_roles(row[1]):
            raise AuthError("the recovery key resets an active owner's password only")
        session = Session(vault, username, parse_roles(row[1]), user_id=int(row[0]))
        if signing is not None:
            vault.set_signing_key(signing)
        _check_signed_roles(vault, username, session.roles, signing is not None)
        require(session, "user.recover")
        _flush_pending(vault)
        with vault.write() as conn:
            conn.execute("UPDATE users SET pw_hash = ? WHERE username = ?",
                         (_hasher.hash(new_password), username))
            audit.record(vault, conn, session, "user.recover", "user", username,
                         details={"recovery_key": "rotated"})
            cp = audit.write_checkpoint(vault, conn, username) if signing else None
            envelope.wrap_for_user(username, new_password, key, signing)
            new_key = envelope.set_recovery(key, signing)
            envelope.login_state.pop(username, None)
            envelope.save()
        if cp is not None:
            audit.publish_checkpoint(vault, cp)
        return session, new_key
    except BaseException:
        vault.close()
        raise


def _owner_mfa_required(vault: Vault) -> bool:
    row = vault.query_one("SELECT value FROM settings WHERE key = 'require_owner_mfa'")
    return row is not None and str(row[0]).strip().lower() in ("true", "1")


def _start_session(session: Session, password: str, signing: bytes | None) -> None:
    """After the credentials check out: hold the roles against the owner-signed
    checkpoint, unlock the owner key for an owner, audit the login and, for an owner,
    sign a checkpoint of the chain as it now stands."""
    vault, username = session.vault, session.username
    first = False
    if signing is None and Role.OWNER in session.roles and vault.envelope.signing_public is None \
            and not vault.envelope.holds_owner_key():
        # A vault from before owner keys: its first owner login creates the key pair.
        signing, first = new_signing_key(), True
        vault.envelope.wrap_for_user(username, password, vault.key, signing)
    if signing is not None:
        vault.set_signing_key(signing)  # also the trusted public key for the role check
        stored = vault.envelope.signing_public
        if stored is not None and stored != public_key_of(signing):
            vault.warnings.append("the owner public key in vault.keys was replaced; run "
                                  "'offhold audit verify'")
    if not first:
        _check_signed_roles(vault, username, session.roles, signing is not None)
    if Role.OWNER not in session.roles:
        vault.set_signing_key(None)  # a former owner's copy may still hold the key
    audit.record_now(vault, session, "login.success", object_type="user", object_id=username)
    if vault.signing_key is not None:
        try:
            with vault.write() as conn:
                cp = audit.write_checkpoint(vault, conn, username, first=first)
            audit.publish_checkpoint(vault, cp)
        except audit.AuditTampered as exc:
            vault.warnings.append(str(exc))
            audit.record_now(vault, session, "audit.tamper_detected",
                             details={"problem": str(exc)[:300]})


def verify_password(session: Session, password: str) -> bool:
    """Re-check the session user's password (unlock after auto-lock), audited."""
    row = session.vault.query_one("SELECT pw_hash FROM users WHERE username = ?",
                                  (session.username,))
    try:
        ok = row is not None and _hasher.verify(row[0], password)
    except (VerifyMismatchError, VerificationError):
        ok = False
    return bool(ok)


def hash_password(password: str) -> str:
    _check_password_strength(password)
    return _hasher.hash(password)


def new_totp_secret() -> str:
    return pyotp.random_base32()


def user_roles(session: Session, username: str) -> frozenset[Role]:
    row = session.vault.query_one("SELECT roles FROM users WHERE username = ?", (username,))
    if row is None:
        raise NotFound(f"no user {username!r}")
    return parse_roles(row[0])


def validate_new_user(username: str, password: str) -> None:
    _validate_username(username)
    _check_password_strength(password)
