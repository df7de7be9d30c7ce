"""The tamper-evident audit log: an append-only, hash-chained table with an HMAC per row.

Each row's hash covers its own fields and the previous row's hash, and its HMAC is keyed
from the vault key, so an edited, deleted or reordered row breaks verification.
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
from app.vault.db import Connection, Vault

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


def record_now(vault: Vault, actor: Actor, action: str, **kwargs: Any) -> int:
    """Record in a transaction of its own (refusals, views, logins)."""
    with vault.write() as conn:
        return record(vault, conn, actor, action, **kwargs)


@dataclass(frozen=True)
class VerifyResult:
    ok: bool
    rows: int
    broken_row: int | None = None
    reason: str = ""


def verify(vault: Vault) -> VerifyResult:
    """Walk the chain in id order; name the first row that does not check out."""
    prev = GENESIS
    expected_id = 1
    count = 0
    with vault.read() as conn:
        cursor = conn.execute(
            "SELECT id, ts, actor, role, action, object_type, object_id, patient_id, details,"
            " prev_hash, row_hash, hmac FROM audit_log ORDER BY id"
        )
        for row in cursor:
            count += 1
            row_id = int(row[0])
            if row_id != expected_id:
                return VerifyResult(False, count, expected_id, f"row {expected_id} is missing")
            if row[9] != prev:
                return VerifyResult(False, count, row_id, "chain broken: previous hash differs")
            computed = _row_hash(list(row[:10]))
            if computed != row[10]:
                return VerifyResult(False, count, row_id, "row content was changed")
            if not hmac.compare_digest(_mac(vault, computed), str(row[11])):
                return VerifyResult(False, count, row_id, "row signature is invalid")
            prev = computed
            expected_id += 1
    return VerifyResult(True, count)


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
