"""Online backups and verified restores.

A backup is two files: PATH, an encrypted copy made with SQLite's backup API from the
open vault into a database keyed with the same key (never `sqlcipher_export` into a
database attached with an empty key, which writes plaintext), and PATH.keys, the key envelope. A restore
opens the copy with a user's password, checks it (cipher and SQLite integrity, the audit
chain) and only then replaces anything.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

import sqlcipher3

from app import audit, clock
from app.errors import KnownError, PermissionDenied, ValidationError, VaultCorrupt, VaultExists
from app.identity import Session, open_with_key, require, unlock
from app.identity.permissions import allowed, parse_roles
from app.vault.db import Vault, connect_raw, db_path, keys_path, make_private
from app.vault.keys import KeyEnvelope


def _keys_for(path: Path) -> Path:
    return path.with_name(path.name + ".keys")


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _copy_into(source: Vault, dest: Path) -> None:
    target = connect_raw(dest, source.key)
    try:
        with source.read() as conn:
            conn.backup(target)
        target.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        target.close()
    _fsync(dest)


def create_backup(session: Session, dest: Path) -> dict[str, Any]:
    require(session, "backup.create")
    dest = Path(dest)
    if dest.exists() or _keys_for(dest).exists():
        raise VaultExists(f"{dest} already exists; choose a new backup name")
    dest.parent.mkdir(parents=True, exist_ok=True)
    vault = session.vault
    # A damaged vault is refused before anything is written: its backup would fail its
    # own restore check later, when it is needed.
    problems = vault.integrity_problems()
    if problems:
        audit.record_now(vault, session, "backup.refused", object_type="backup",
                         object_id=dest.name, details={"problems": problems})
        raise VaultCorrupt("the vault failed its integrity check (" + "; ".join(problems) +
                           "); no backup was written. Restore the latest good backup "
                           "('offhold restore --drill' checks one first)")
    # Audit first, so the backup itself carries the row that says it was made, then an
    # owner-signed checkpoint over it (in the copy and in its key file).
    audit.record_now(vault, session, "backup.create", object_type="backup",
                     object_id=dest.name, details={"path": str(dest.resolve())})
    if vault.signing_key is not None and not session.is_system:
        audit.checkpoint_now(vault, session.username)
    try:
        _copy_into(vault, dest)
        envelope = KeyEnvelope.load(keys_path(vault.directory))
        envelope.path = _keys_for(dest)
        envelope.pending_audit = []
        envelope.save()
        make_private(dest)
    except BaseException:
        for leftover in (dest, _keys_for(dest), Path(str(dest) + "-wal"), Path(str(dest) + "-shm")):
            if leftover.exists():
                leftover.unlink()
        raise
    for extra in (Path(str(dest) + "-wal"), Path(str(dest) + "-shm")):
        if extra.exists():
            extra.unlink()
    rows = int(vault.query_one("SELECT count(*) FROM audit_log")[0])
    return {"backup": str(dest), "keys": str(_keys_for(dest)), "audit_rows": rows}


def verify_backup(backup: Path, username: str, password: str) -> dict[str, Any]:
    """Open a backup with a user's password and check it; raises VaultCorrupt if bad (a
    damaged file is a one-line error, never a traceback)."""
    backup = Path(backup)
    envelope = KeyEnvelope.load(_keys_for(backup))
    key = envelope.unwrap_for_user(username, password)
    try:
        conn = connect_raw(backup, key)
        vault = Vault(backup.parent, key, envelope, conn)
    except sqlcipher3.DatabaseError as exc:
        raise VaultCorrupt(f"the backup {backup.name} is damaged ({exc})") from exc
    try:
        problems = vault.integrity_problems()
        if problems:
            raise VaultCorrupt("the backup failed its integrity check: " + "; ".join(problems[:3]))
        result = audit.verify(vault)
        if not result.ok:
            raise VaultCorrupt(f"the backup's audit log is broken at row {result.broken_row}: "
                               f"{result.reason}")
        return {"audit_rows": result.rows}
    except sqlcipher3.DatabaseError as exc:
        raise VaultCorrupt(f"the backup {backup.name} is damaged ({exc})") from exc
    finally:
        vault.close()
        for extra in (Path(str(backup) + "-wal"), Path(str(backup) + "-shm")):
            if extra.exists():
                extra.unlink()


def latest_backup(session: Session) -> Path | None:
    """The newest backup this vault's audit log says was written and that still exists."""
    rows = session.vault.query("SELECT details FROM audit_log WHERE action = 'backup.create' "
                               "ORDER BY id DESC")
    for (details,) in rows:
        try:
            path = Path(json.loads(details)["path"])
        except (ValueError, KeyError, TypeError):
            continue
        if path.exists() and _keys_for(path).exists():
            return path
    return None


def restore_drill(session: Session, password: str, backup: Path | None = None) -> dict[str, Any]:
    """Restore a backup (the latest by default) into a private scratch directory, open and
    check it there (integrity, audit chain), report how long that took, then wipe the
    scratch copy. The live vault is not touched; the drill is audited in it."""
    require(session, "backup.restore", drill=True)
    chosen = Path(backup) if backup else latest_backup(session)
    if chosen is None:
        raise ValidationError("no backup to drill: none recorded that still exists; give "
                              "its path")
    if not chosen.exists():
        raise ValidationError(f"no backup at {chosen}")
    started = time.monotonic()
    scratch = Path(tempfile.mkdtemp(prefix="offhold-drill-"))
    try:
        checked = verify_backup(chosen, session.username, password)
        envelope = KeyEnvelope.load(_keys_for(chosen))
        key = envelope.unwrap_for_user(session.username, password)
        source = Vault(chosen.parent, key, envelope, connect_raw(chosen, key))
        try:
            _copy_into(source, db_path(scratch))
        finally:
            source.close()
        shutil.copyfile(_keys_for(chosen), keys_path(scratch))
        restored = Vault(scratch, key, KeyEnvelope.load(keys_path(scratch)),
                         connect_raw(db_path(scratch), key))
        try:
            problems = restored.integrity_problems()
            result = audit.verify(restored)
        finally:
            restored.close()
        if problems or not result.ok:
            raise VaultCorrupt("the restored copy failed its check: " +
                               "; ".join(problems[:3] or [result.reason]))
    except sqlcipher3.DatabaseError as exc:
        raise VaultCorrupt(f"the backup {chosen.name} is damaged ({exc})") from exc
    except KnownError as exc:
        audit.record_now(session.vault, session, "backup.drill", object_type="backup",
                         object_id=chosen.name, details={"ok": False, "error": str(exc)[:300]})
        raise
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    seconds = round(time.monotonic() - started, 2)
    audit.record_now(session.vault, session, "backup.drill", object_type="backup",
                     object_id=chosen.name,
                     details={"ok": True, "seconds": seconds, "rows": checked["audit_rows"]})
    return {"backup": str(chosen), "ok": True, "seconds": seconds,
            "audit_rows": checked["audit_rows"]}


def _require_restore(backup: Path, directory: Path, username: str, password: str,
                     totp: str | None) -> None:
    """Restore is owner-only (backup.restore). A live vault is asked first, so a refusal
    is audited there; the backup's own roles must allow it too, since they become the
    live ones (the only check when restoring into an empty folder)."""
    if db_path(directory).exists():
        live = unlock(directory, username, password, totp)
        try:
            require(live, "backup.restore")
        finally:
            live.vault.close()
    envelope = KeyEnvelope.load(_keys_for(backup))
    key = envelope.unwrap_for_user(username, password)
    conn = connect_raw(backup, key)
    try:
        row = conn.execute("SELECT roles FROM users WHERE username = ? AND active = 1",
                           (username,)).fetchone()
    finally:
        conn.close()
        for extra in (Path(str(backup) + "-wal"), Path(str(backup) + "-shm")):
            extra.unlink(missing_ok=True)
    if row is None or not allowed(parse_roles(str(row[0])), "backup.restore"):
        # Not audited in the backup: it stays exactly as it was made.
        raise PermissionDenied(username, "backup.restore")


def restore_backup(backup: Path, directory: Path, username: str, password: str,
                   replace: bool = False, totp: str | None = None) -> dict[str, Any]:
    """Verify the backup, then install it as the vault in `directory` (owner-only).

    An existing vault there is kept aside (still encrypted) as vault.db.pre-restore-<time>
    only when `replace` is set; otherwise an existing vault is refused."""
    backup, directory = Path(backup), Path(directory)
    if not backup.exists():
        raise ValidationError(f"no backup at {backup}")
    existing = db_path(directory)
    if existing.exists() and not replace:
        raise VaultExists(f"a vault already exists at {directory}; pass --replace to swap it")
    _require_restore(backup, directory, username, password, totp)
    checked = verify_backup(backup, username, password)
    directory.mkdir(parents=True, exist_ok=True)
    stamp = clock.now().strftime("%Y%m%dT%H%M%S")
    staging = directory / f".restore-{stamp}.db"
    envelope = KeyEnvelope.load(_keys_for(backup))
    key = envelope.unwrap_for_user(username, password)
    source = Vault(backup.parent, key, envelope, connect_raw(backup, key))
    try:
        _copy_into(source, staging)
    finally:
        source.close()
    if existing.exists():
        for suffix in ("", ".keys"):
            old = existing if not suffix else keys_path(directory)
            if old.exists():
                old.rename(directory / f"{old.name}.pre-restore-{stamp}")
        for extra in ("-wal", "-shm"):
            p = Path(str(existing) + extra)
            if p.exists():
                p.unlink()
    for extra in ("-wal", "-shm"):
        p = Path(str(staging) + extra)
        if p.exists():
            p.unlink()
    os.replace(staging, existing)
    shutil.copyfile(_keys_for(backup), keys_path(directory))
    restored = open_with_key(directory, key, KeyEnvelope.load(keys_path(directory)))
    restored.close()
    session = unlock(directory, username, password, totp) \
        if totp or not _needs_totp(directory, key) else None
    if session is not None:
        audit.record_now(session.vault, session, "backup.restore", object_type="backup",
                         object_id=backup.name, details={"rows_verified": checked["audit_rows"]})
        session.vault.close()
    return {"restored": str(directory), "audit_rows": checked["audit_rows"]}


def _needs_totp(directory: Path, key: bytes) -> bool:
    vault = open_with_key(directory, key, KeyEnvelope.load(keys_path(directory)))
    try:
        return bool(vault.query_one("SELECT count(*) FROM users WHERE totp_secret IS NOT NULL")[0])
    finally:
        vault.close()
