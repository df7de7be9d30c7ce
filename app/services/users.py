"""Managing users: add, roles, passwords, TOTP, unlock, deactivate.

Adding a user, changing roles and deactivating need an owner's own authentication (the
owner key unlocked by an owner's login) and sign an audit checkpoint in the same
transaction: the roles a login accepts are the ones an owner signed."""

from __future__ import annotations

from typing import Any

import pyotp

from app import audit, clock
from app.errors import NotFound, ValidationError
from app.identity import (
    Session,
    hash_password,
    new_totp_secret,
    require,
    require_owner_key,
    validate_new_user,
)
from app.identity.permissions import Role, parse_roles


def list_users(session: Session) -> list[dict[str, Any]]:
    require(session, "user.manage")
    rows = session.vault.query("SELECT username, display_name, roles, totp_secret IS NOT NULL, "
                               "active FROM users ORDER BY username")
    return [{"user": r[0], "display_name": r[1], "roles": r[2].split(","), "mfa": bool(r[3]),
             "active": bool(r[4])} for r in rows]


def add_user(session: Session, username: str, password: str, roles: list[str] | str,
             display_name: str = "") -> dict[str, Any]:
    require(session, "user.manage", target=username)
    require_owner_key(session)
    validate_new_user(username, password)
    role_set = parse_roles(roles)
    if not role_set:
        raise ValidationError("a user needs at least one role")
    vault = session.vault
    if vault.query_one("SELECT 1 FROM users WHERE username = ?", (username,)):
        raise ValidationError(f"user {username!r} already exists")
    role_text = ",".join(sorted(r.value for r in role_set))
    with vault.write() as conn:
        conn.execute("INSERT INTO users (username, display_name, pw_hash, roles, created_at) "
                     "VALUES (?, ?, ?, ?, ?)",
                     (username, display_name, hash_password(password), role_text,
                      clock.iso(clock.now())))
        audit.record(vault, conn, session, "user.create", "user", username,
                     details={"roles": role_text.split(",")})
        cp = audit.write_checkpoint(vault, conn, session.username)
        # The envelope is written last: if it fails, the row rolls back with the audit.
        vault.envelope.wrap_for_user(username, password, vault.key, _owner_key_for(
            session, role_set))
        vault.envelope.save()
    audit.publish_checkpoint(vault, cp)
    return {"user": username, "roles": role_text.split(",")}


def _owner_key_for(session: Session, roles: frozenset[Role]) -> bytes | None:
    """An owner's wrapped copy carries the owner key, when the acting session holds it."""
    return session.vault.signing_key if Role.OWNER in roles else None


def set_roles(session: Session, username: str, roles: list[str] | str) -> None:
    require(session, "user.manage", target=username)
    require_owner_key(session)
    role_set = parse_roles(roles)
    if not role_set:
        raise ValidationError("a user needs at least one role")
    vault = session.vault
    with vault.write() as conn:
        row = conn.execute("SELECT roles FROM users WHERE username = ?", (username,)).fetchone()
        if row is None:
            raise NotFound(f"no user {username!r}")
        if Role.OWNER.value in row[0] and Role.OWNER not in role_set:
            owners = conn.execute("SELECT count(*) FROM users WHERE active = 1 AND roles LIKE "
                                  "'%owner%'").fetchone()[0]
            if owners <= 1:
                raise ValidationError("the practice needs at least one owner")
        text = ",".join(sorted(r.value for r in role_set))
        conn.execute("UPDATE users SET roles = ? WHERE username = ?", (text, username))
        audit.record(vault, conn, session, "user.roles", "user", username,
                     details={"before": row[0].split(","), "after": text.split(",")})
        cp = audit.write_checkpoint(vault, conn, session.username)
    audit.publish_checkpoint(vault, cp)


def change_password(session: Session, username: str, new_password: str) -> None:
    """Users change their own; the owner may reset anyone's."""
    if username != session.username:
        require(session, "user.manage", target=username)
    vault = session.vault
    with vault.write() as conn:
        cur = conn.execute("UPDATE users SET pw_hash = ? WHERE username = ?",
                           (hash_password(new_password), username))
        if cur.rowcount == 0:
            raise NotFound(f"no user {username!r}")
        audit.record(vault, conn, session, "user.password", "user", username)
        roles = conn.execute("SELECT roles FROM users WHERE username = ?",
                             (username,)).fetchone()[0]
        vault.envelope.wrap_for_user(username, new_password, vault.key,
                                     _owner_key_for(session, parse_roles(roles)))
        vault.envelope.save()


def enable_mfa(session: Session, username: str) -> str:
    """Enrol TOTP; returns the otpauth:// URI to show as a QR code or type in."""
    if username != session.username:
        require(session, "user.manage", target=username)
    secret = new_totp_secret()
    vault = session.vault
    with vault.write() as conn:
        cur = conn.execute("UPDATE users SET totp_secret = ? WHERE username = ?",
                           (secret, username))
        if cur.rowcount == 0:
            raise NotFound(f"no user {username!r}")
        audit.record(vault, conn, session, "user.mfa_enable", "user", username)
    return pyotp.TOTP(secret).provisioning_uri(name=username, issuer_name="OffHold")


def unlock_user(session: Session, username: str) -> None:
    require(session, "user.manage", target=username)
    vault = session.vault
    vault.envelope.login_state.pop(username, None)
    vault.envelope.save()
    audit.record_now(vault, session, "user.unlock", object_type="user", object_id=username)


def deactivate_user(session: Session, username: str) -> None:
    require(session, "user.manage", target=username)
    require_owner_key(session)
    if username == session.username:
        raise ValidationError("you cannot deactivate yourself")
    vault = session.vault
    with vault.write() as conn:
        cur = conn.execute("UPDATE users SET active = 0 WHERE username = ?", (username,))
        if cur.rowcount == 0:
            raise NotFound(f"no user {username!r}")
        audit.record(vault, conn, session, "user.deactivate", "user", username)
        cp = audit.write_checkpoint(vault, conn, session.username)
        vault.envelope.remove_user(username)
        vault.envelope.save()
    audit.publish_checkpoint(vault, cp)
