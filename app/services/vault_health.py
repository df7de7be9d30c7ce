"""The vault's health: the full integrity check on demand and weekly (scheduled), its last
result for the dashboard. Results live in the audit log (`vault.check` rows), so they need
no table of their own and are themselves tamper-evident."""

from __future__ import annotations

import json
import time
from typing import Any

from app import audit, clock
from app.identity import Session, require, require_owner_key


def check_vault(session: Session) -> dict[str, Any]:
    """Every page's HMAC and SQLite's integrity check, plus the audit chain against its
    signed checkpoints. Audited with its result (no PHI: page numbers and table names)."""
    require(session, "vault.check")
    started = time.monotonic()
    problems = session.vault.integrity_problems()
    chain = audit.verify(session.vault) if not problems else None
    result = {
        "ok": not problems and chain is not None and chain.ok,
        "problems": problems + ([] if chain is None or chain.ok else list(chain.problems)),
        "seconds": round(time.monotonic() - started, 2),
        "checked_at": clock.iso(clock.now()),
    }
    audit.record_now(session.vault, session, "vault.check", details=result)
    return result


def last_check(session: Session) -> dict[str, Any] | None:
    """The latest integrity check's result (for the dashboard), or None if never run."""
    require(session, "settings.view")
    row = session.vault.query_one("SELECT details FROM audit_log WHERE action = 'vault.check' "
                                  "ORDER BY id DESC LIMIT 1")
    if row is None:
        return None
    data: dict[str, Any] = json.loads(row[0])
    return data


def verify_audit(session: Session) -> audit.VerifyResult:
    """Check the whole audit chain (and the owner-signed checkpoints); the check is itself
    audited. When it verifies and the owner key is open, a new checkpoint signs it."""
    require(session, "audit.verify")
    result = audit.verify(session.vault)
    audit.record_now(session.vault, session, "audit.verify",
                     details={"ok": result.ok, "rows": result.rows,
                              "problems": list(result.problems[:5])})
    if result.ok and session.vault.signing_key is not None:
        audit.checkpoint_now(session.vault, session.username)  # sign what was verified
    return result


def rebaseline_audit(session: Session) -> dict[str, Any]:
    """After an owner has reviewed what `audit verify` reported (and kept a copy), accept
    the log as it stands: the problems are recorded in the log itself, then a baseline
    checkpoint is signed and verification starts again from it. Owner key required."""
    require(session, "audit.rebaseline")
    require_owner_key(session)
    vault = session.vault
    before = audit.verify(vault)
    if before.ok:
        return {"rebaselined": False, "rows": before.rows, "problems": []}
    with vault.write() as conn:
        audit.record(vault, conn, session, "audit.rebaseline",
                     details={"problems": list(before.problems[:20]), "rows": before.rows})
        cp = audit.write_checkpoint(vault, conn, session.username, baseline=True)
    audit.publish_checkpoint(vault, cp)
    return {"rebaselined": True, "rows": cp.rows, "problems": list(before.problems)}
