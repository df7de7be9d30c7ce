"""Owner-signed checkpoints of the audit chain.

The row HMAC is keyed from the vault key, which every user's password unwraps, so an
insider can rewrite rows and re-sign them. A checkpoint (row count, head hash and the
roles of every active user) is signed with the owner key, an Ed25519 key only owners
(and the recovery key) can unwrap: rows at or before a checkpoint cannot be changed or
cut off, and roles cannot be raised, without it showing. Rows after the latest
checkpoint are covered by the HMAC chain only, until an owner's next login, backup,
verify or user change signs a new one.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)

Connection = Any

# The append-only triggers, recreated at every open when someone dropped them.
TRIGGERS: dict[str, str] = {
    "audit_no_update": "CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit_log "
                       "BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END",
    "audit_no_delete": "CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit_log "
                       "BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END",
    "checkpoint_no_update": "CREATE TRIGGER checkpoint_no_update BEFORE UPDATE ON "
                            "audit_checkpoints BEGIN SELECT RAISE(ABORT, "
                            "'audit checkpoints are append-only'); END",
    "checkpoint_no_delete": "CREATE TRIGGER checkpoint_no_delete BEFORE DELETE ON "
                            "audit_checkpoints BEGIN SELECT RAISE(ABORT, "
                            "'audit checkpoints are append-only'); END",
}


@dataclass(frozen=True)
class Checkpoint:
    seq: int
    ts: str
    rows: int
    head: str
    roles: dict[str, list[str]]
    signer: str
    signature: str = ""
    baseline: bool = False  # an owner accepted the log as it stood (after a review)

    def message(self, vault_id: str) -> bytes:
        body: dict[str, Any] = {"v": 1, "vault": vault_id, "seq": self.seq, "ts": self.ts,
                                "rows": self.rows, "head": self.head, "roles": self.roles,
                                "signer": self.signer}
        if self.baseline:
            body["baseline"] = True
        return json.dumps(body, sort_keys=True, separators=(",", ":")).encode("utf-8")

    def to_json(self) -> dict[str, Any]:
        return {"seq": self.seq, "ts": self.ts, "rows": self.rows, "head": self.head,
                "roles": self.roles, "signer": self.signer, "signature": self.signature,
                "baseline": self.baseline}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "Checkpoint":
        return cls(int(data["seq"]), str(data["ts"]), int(data["rows"]), str(data["head"]),
                   {str(k): [str(r) for r in v] for k, v in dict(data["roles"]).items()},
                   str(data["signer"]), str(data["signature"]), bool(data.get("baseline")))


def sign(signing_key: bytes, vault_id: str, unsigned: Checkpoint) -> Checkpoint:
    raw = Ed25519PrivateKey.from_private_bytes(signing_key).sign(unsigned.message(vault_id))
    return Checkpoint(unsigned.seq, unsigned.ts, unsigned.rows, unsigned.head, unsigned.roles,
                      unsigned.signer, base64.b64encode(raw).decode("ascii"), unsigned.baseline)


def signature_ok(cp: Checkpoint, vault_id: str, public_key: str) -> bool:
    try:
        key = Ed25519PublicKey.from_public_bytes(base64.b64decode(public_key))
        key.verify(base64.b64decode(cp.signature), cp.message(vault_id))
    except (InvalidSignature, ValueError):
        return False
    return True


def load_all(conn: Connection) -> list[Checkpoint]:
    rows = conn.execute("SELECT id, ts, row_count, head_hash, roles, signer, signature, "
                        "baseline FROM audit_checkpoints ORDER BY id").fetchall()
    out = []
    for r in rows:
        try:
            roles = json.loads(r[4])
            out.append(Checkpoint(int(r[0]), str(r[1]), int(r[2]), str(r[3]),
                                  {str(k): list(v) for k, v in dict(roles).items()},
                                  str(r[5]), str(r[6]), bool(r[7])))
        except (ValueError, TypeError, AttributeError):
            out.append(Checkpoint(int(r[0]), str(r[1]), -1, "", {}, str(r[5]), ""))
    return out


def insert(conn: Connection, cp: Checkpoint) -> None:
    conn.execute("INSERT INTO audit_checkpoints (id, ts, row_count, head_hash, roles, signer, "
                 "signature, baseline) VALUES (?,?,?,?,?,?,?,?)",
                 (cp.seq, cp.ts, cp.rows, cp.head, json.dumps(cp.roles, sort_keys=True),
                  cp.signer, cp.signature, int(cp.baseline)))


def current_roles(conn: Connection) -> dict[str, list[str]]:
    """Every active user's roles, as signed into a checkpoint."""
    rows = conn.execute("SELECT username, roles FROM users WHERE active = 1").fetchall()
    return {str(r[0]): sorted(x for x in str(r[1]).split(",") if x) for r in rows}


def missing_triggers(conn: Connection) -> list[str]:
    present = {str(r[0]) for r in conn.execute(
        "SELECT name FROM sqlite_master WHERE type = 'trigger'").fetchall()}
    return sorted(set(TRIGGERS) - present)


def restore_triggers(conn: Connection) -> list[str]:
    """Recreate any dropped append-only trigger; returns the names that were missing."""
    missing = missing_triggers(conn)
    if missing:
        conn.execute("BEGIN IMMEDIATE")
        try:
            for name in missing:
                conn.execute(TRIGGERS[name])
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")
    return missing
