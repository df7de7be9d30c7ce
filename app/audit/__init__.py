"""The tamper-evident audit log: an append-only, hash-chained table with an HMAC per row.

Each row's hash covers its own fields and the previous row's hash, and its HMAC is keyed
from the vault key, so an edited, deleted or reordered row breaks verification by anyone
who lacks the vault key. Against a user who has it (every user's password unwraps it),
owner-signed checkpoints (app.audit.checkpoints) pin the row count and head hash.
`record()` must be called inside the same `vault.write()` transaction as the action it
records: if the audit write fails, the action fails too.
"""

from __future__ import annotations

import csv
import hashlib
import hmac
import io
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from app import clock
from app.audit import checkpoints as cps
from app.audit.checkpoints import Checkpoint
from app.errors import AuthError, VaultCorrupt
from app.vault.db import Connection, Vault
from app.vault.keys import KeyEnvelope, derive_subkey, public_key_of

GENESIS = "0" * 64


class Actor(Protocol):
    """Anything acting: a logged-in session, or a system actor for automations."""

    @property
    def username(self) -> str: ...

    @property
    def acting_role(self) -> str: ...


@dataclass(frozen=True)
class SystemActor:
    """Automations act as a named system actor, never as a person."""

    username: str = "system"
    acting_role: str = "system"


def _row_hash(fields: list[Any]) -> str:
    canonical = json.dumps(fields, separators=(",", ":"), ensure_ascii=False, sort_keys=True)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def _mac(vault: Vault, row_hash: str) -> str:
    return hmac.new(vault.audit_key, row_hash.encode("ascii"), hashlib.sha256).hexdigest()


def _head(vault: Vault, conn: Connection) -> tuple[int, str]:
    # Read inside the write transaction every time, not only once: another process on the
    # same vault (`offhold run` next to the desktop app) may have appended rows since.
    row = conn.execute("SELECT id, row_hash FROM audit_log ORDER BY id DESC LIMIT 1").fetchone()
    vault.audit_head = (0, GENESIS) if row is None else (int(row[0]), str(row[1]))
    return vault.audit_head


def record(
    vault: Vault,
    conn: Connection,
    actor: Actor,
    action: str,
    object_type: str = "",
    object_id: str | int = "",
    patient_id: int | None = None,
    details: dict[str, Any] | None = None,
    at: datetime | None = None,
) -> int:
    """Append one row inside the caller's transaction; returns its id."""
    last_id, prev_hash = _head(vault, conn)
    row_id = last_id + 1
    ts = clock.iso(at or clock.now())
    details_json = json.dumps(details or {}, sort_keys=True, default=str)
    fields = [row_id, ts, actor.username, actor.acting_role, action, object_type,
              str(object_id), patient_id, details_json, prev_hash]
    row_hash = _row_hash(fields)
    conn.execute(
        "INSERT INTO audit_log (id, ts, actor, role, action, object_type, object_id, patient_id,"
        " details, prev_hash, row_hash, hmac) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
        (row_id, ts, actor.username, actor.acting_role, action, object_type, str(object_id),
         patient_id, details_json, prev_hash, row_hash, _mac(vault, row_hash)),
    )
    vault.audit_head = (row_id, row_hash)
    return row_id


def digest(vault: Vault, value: Any) -> str:
    """What changed, by keyed digest rather than the value: audit rows (and exports) never
    carry a draft or a clinical list, yet a candidate value can be checked against the row
    by anyone holding the vault key. Keyed, so a date of birth cannot be guessed offline."""
    key = derive_subkey(vault.key, "offhold-audit-digest")
    canonical = json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)
    return "hmac:" + hmac.new(key, canonical.encode("utf-8"), hashlib.sha256).hexdigest()[:32]


def record_now(vault: Vault, actor: Actor, action: str, **kwargs: Any) -> int:
    """Record in a transaction of its own (refusals, views, logins). Called inside a write
    transaction, the row is written right after it ends, so a refusal survives the
    rollback of the work it refused; the id is then not known yet and 0 is returned."""
    if vault.in_transaction:
        kwargs.setdefault("at", clock.now())
        vault.after_transaction(lambda: record_now(vault, actor, action, **kwargs))
        return 0
    with vault.write() as conn:
        return record(vault, conn, actor, action, **kwargs)


@dataclass(frozen=True)
class VerifyResult:
    ok: bool
    rows: int
    broken_row: int | None = None
    reason: str = ""
    problems: tuple[str, ...] = ()
    checkpoint_rows: int = 0  # rows covered by the latest owner-signed checkpoint
    notes: tuple[str, ...] = ()


def _walk(conn: Connection, audit_key: bytes, after_id: int = 0,
          prev: str = GENESIS) -> tuple[int, int | None, str]:
    """Check the chain from row after_id+1 on; returns (last id, first broken id, why)."""
    expected_id = after_id + 1
    cursor = conn.execute(
        "SELECT id, ts, actor, role, action, object_type, object_id, patient_id, details,"
        " prev_hash, row_hash, hmac FROM audit_log WHERE id > ? ORDER BY id", (after_id,))
    for row in cursor:
        row_id = int(row[0])
        if row_id != expected_id:
            return expected_id - 1, expected_id, f"row {expected_id} is missing"
        if row[9] != prev:
            return row_id, row_id, "chain broken: previous hash differs"
        computed = _row_hash(list(row[:10]))
        if computed != row[10]:
            return row_id, row_id, "row content was changed"
        expected_mac = hmac.new(audit_key, computed.encode("ascii"), hashlib.sha256).hexdigest()
        if not hmac.compare_digest(expected_mac, str(row[11])):
            return row_id, row_id, "row signature is invalid"
        prev = computed
        expected_id += 1
    return expected_id - 1, None, ""


def _trusted_public_key(vault: Vault, problems: list[str]) -> str | None:
    """The owner public key: derived from the owner key when an owner is logged in (so a
    swapped public key shows), else the one in the key file."""
    stored = vault.envelope.signing_public
    signing = vault.signing_key
    if signing is None:
        return stored
    derived = public_key_of(signing)
    if stored is not None and stored != derived:
        problems.append("the owner public key in the key file was replaced")
    return derived


def _kept_checkpoint(vault: Vault) -> Checkpoint | None:
    """The copy of the latest checkpoint in the key file (None if absent or malformed)."""
    try:
        return Checkpoint.from_json(vault.envelope.checkpoint or {})
    except (KeyError, TypeError, ValueError, AttributeError):
        return None


def _signed_checkpoints(vault: Vault, conn: Connection, problems: list[str]) -> list[Checkpoint]:
    """Checkpoints whose owner signature holds, from the latest baseline on (an owner's
    re-baseline closes what came before), plus the key file's copy."""
    public = _trusted_public_key(vault, problems)
    if public is None:
        return []
    vault_id = vault.envelope.vault_id
    checked = [(cp, cps.signature_ok(cp, vault_id, public)) for cp in cps.load_all(conn)]
    start = max((i for i, (cp, ok) in enumerate(checked) if ok and cp.baseline), default=0)
    good: list[Checkpoint] = []
    for cp, ok in checked[start:]:
        if ok:
            good.append(cp)
        else:
            problems.append(f"checkpoint {cp.seq} is not signed by the owner key (forged or "
                            "altered)")
    if vault.envelope.checkpoint:
        kept = _kept_checkpoint(vault)
        if kept is None or not cps.signature_ok(kept, vault_id, public):
            problems.append("the checkpoint copy in the key file is not signed by the owner key")
        elif not good or kept.seq > good[-1].seq:
            problems.append(f"signed checkpoints up to {kept.seq} were removed from the vault")
            good = [kept] if kept.baseline else good + [kept]
    if not good:
        problems.append("no owner-signed checkpoint is left: the checkpoints were deleted")
    return good


def _row_hash_at(conn: Connection, row_id: int) -> str | None:
    row = conn.execute("SELECT row_hash FROM audit_log WHERE id = ?", (row_id,)).fetchone()
    return None if row is None else str(row[0])


def verify(vault: Vault) -> VerifyResult:
    """Walk the chain in id order and hold it against the owner-signed checkpoints: name
    the first broken row, a missing tail, a rewritten range and dropped triggers."""
    problems: list[str] = []
    notes: list[str] = []
    broken: int | None = None
    with vault.read() as conn:
        count = int(conn.execute("SELECT count(*) FROM audit_log").fetchone()[0])
        signed = _signed_checkpoints(vault, conn, problems)
        base = signed[0] if signed and signed[0].baseline else None
        # Rows before an owner's baseline were reviewed and accepted as they stand.
        start, prev = (base.rows, base.head) if base else (0, GENESIS)
        _last, broken, why = _walk(conn, vault.audit_key, start, prev)
        if broken is not None:
            problems.insert(0, f"audit row {broken}: {why}")
        if base is not None:
            notes.append(f"an owner re-baselined the audit log at {base.ts} ({base.signer}); "
                         f"rows 1-{start} were accepted as they stood then")
        good_rows = 0
        for cp in signed:
            if cp.rows > count:
                problems.append(f"rows {count + 1}-{cp.rows} are missing: the checkpoint "
                                f"signed at {cp.ts} counted {cp.rows} rows")
                broken = count + 1 if broken is None else broken
                break
            if cp.rows and _row_hash_at(conn, cp.rows) != cp.head:
                problems.append(f"rows {good_rows + 1}-{cp.rows} were rewritten after the "
                                f"checkpoint signed at {cp.ts}")
                broken = good_rows + 1 if broken is None else broken
                break
            good_rows = cp.rows
        for name in cps.missing_triggers(conn):
            problems.append(f"the append-only trigger {name} is missing")
        restored = conn.execute("SELECT ts, details FROM audit_log WHERE action = "
                                "'audit.triggers_restored' ORDER BY id").fetchall()
    for ts, details in restored:
        notes.append(f"append-only triggers were found dropped and restored at {ts} "
                     f"({details})")
    if signed and count > good_rows and not problems:
        notes.append(f"rows {good_rows + 1}-{count} come after the latest owner-signed "
                     "checkpoint (covered by the HMAC chain only)")
    ok = not problems
    reason = "" if ok else problems[0]
    if broken is not None and why and problems and problems[0].startswith("audit row"):
        reason = why
    return VerifyResult(ok, count, broken, reason, tuple(problems), good_rows, tuple(notes))


class AuditTampered(VaultCorrupt):
    """The chain no longer matches what an owner signed; nothing new is signed over it."""


def write_checkpoint(vault: Vault, conn: Connection, signer: str,
                     first: bool = False, baseline: bool = False) -> Checkpoint:
    """Sign the chain as it stands, inside the caller's transaction. The rows since the
    previous checkpoint are checked first, so a checkpoint never blesses tampering;
    `first` only for a new owner key (a new vault, or one from before owner keys)."""
    signing = vault.signing_key
    if signing is None:
        raise AuthError("this needs an owner's authentication (the owner key is not unlocked)")
    problems: list[str] = []
    signed = [] if first or baseline else _signed_checkpoints(vault, conn, problems)
    last = signed[-1] if signed else None
    after, prev = 0, GENESIS
    if last is not None and last.rows:
        head = _row_hash_at(conn, last.rows)
        if head != last.head:
            problems.append(f"rows up to {last.rows} differ from the checkpoint signed at "
                            f"{last.ts}")
        after, prev = last.rows, last.head
    _end, broken, why = _walk(conn, vault.audit_key, after, prev)
    if broken is not None:
        problems.append(f"audit row {broken}: {why}")
    if problems:
        raise AuditTampered("the audit log does not match its signed checkpoints (" +
                            problems[0] + "); run 'offhold audit verify'")
    count = int(conn.execute("SELECT count(*) FROM audit_log").fetchone()[0])
    head_row = conn.execute("SELECT row_hash FROM audit_log ORDER BY id DESC LIMIT 1").fetchone()
    seq_row = conn.execute("SELECT coalesce(max(id), 0) FROM audit_checkpoints").fetchone()
    copy = vault.envelope.checkpoint or {}
    seq = max(int(seq_row[0]), last.seq if last else 0, int(copy.get("seq", 0) or 0)) + 1
    cp = cps.sign(signing, vault.envelope.vault_id, Checkpoint(
        seq, clock.iso(clock.now()), count, GENESIS if head_row is None else str(head_row[0]),
        cps.current_roles(conn), signer, baseline=baseline))
    cps.insert(conn, cp)
    return cp


def publish_checkpoint(vault: Vault, cp: Checkpoint) -> None:
    """After the commit: keep a copy in the key file, outside what a database user alone
    rewrites (and so in every backup's key file too). The file is re-read first: another
    process on this vault (the desktop beside `offhold`) may have added a user since."""
    envelope = KeyEnvelope.load(vault.envelope.path)
    envelope.bind(vault.key)
    kept = envelope.checkpoint
    if kept and int(kept.get("seq", 0)) >= cp.seq:
        vault.envelope = envelope
        return  # a newer checkpoint was published already
    if vault.signing_key is not None:
        envelope.signing_public = public_key_of(vault.signing_key)
    envelope.checkpoint = cp.to_json()
    envelope.save()
    vault.envelope = envelope


def checkpoint_now(vault: Vault, signer: str) -> Checkpoint:
    """Sign a checkpoint in a transaction of its own and publish it."""
    with vault.write() as conn:
        cp = write_checkpoint(vault, conn, signer)
    publish_checkpoint(vault, cp)
    return cp


def signed_roles(vault: Vault) -> dict[str, list[str]] | None:
    """The roles in the latest checkpoint whose owner signature holds; None when the
    vault has no owner key yet."""
    envelope = vault.envelope
    if envelope.signing_public is None and vault.signing_key is None:
        # Stripping the public key does not turn enforcement off: an owner's copy still
        # shows (by its length) that this vault has an owner key.
        return {} if envelope.holds_owner_key() else None
    public = _trusted_public_key(vault, [])
    if public is None:
        return None
    latest: Checkpoint | None = None
    with vault.read() as conn:
        for cp in reversed(cps.load_all(conn)):  # only the newest good one matters here
            if cps.signature_ok(cp, envelope.vault_id, public):
                latest = cp
                break
    if envelope.checkpoint:
        kept = _kept_checkpoint(vault)
        if kept is not None and (latest is None or kept.seq > latest.seq) and \
                cps.signature_ok(kept, envelope.vault_id, public):
            latest = kept
    return latest.roles if latest else {}


EXPORT_COLUMNS = ["id", "ts", "actor", "role", "action", "object_type", "object_id",
                  "patient_id", "details", "row_hash"]


def rows_between(vault: Vault, start: str | None, end: str | None) -> list[dict[str, Any]]:
    """Rows with start <= ts < end (ISO strings or dates; None means open)."""
    clauses, params = [], []
    if start:
        clauses.append("ts >= ?")
        params.append(start)
    if end:
        clauses.append("ts < ?")
        params.append(end)
    where = (" WHERE " + " AND ".join(clauses)) if clauses else ""
    rows = vault.query(f"SELECT {', '.join(EXPORT_COLUMNS)} FROM audit_log{where} ORDER BY id",
                       tuple(params))
    return [dict(zip(EXPORT_COLUMNS, r)) for r in rows]


def to_csv(rows: list[dict[str, Any]]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=EXPORT_COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue()
