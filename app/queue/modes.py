"""Action modes per kind: shadow (drafts only), approve each, or automatic."""

from __future__ import annotations

from typing import Any

from app import audit
from app.domain import ActionMode, TaskState
from app.errors import ValidationError
from app.identity import Session, require
from app.queue.history import move
from app.queue.kinds import KINDS, kind


def get_mode(vault_or_session: Any, kind_name: str) -> ActionMode:
    vault = getattr(vault_or_session, "vault", vault_or_session)
    kind(kind_name)
    row = vault.query_one("SELECT mode FROM action_modes WHERE kind = ?", (kind_name,))
    return ActionMode.SHADOW if row is None else ActionMode(row[0])


def all_modes(session: Session) -> dict[str, ActionMode]:
    return {k: get_mode(session, k) for k in KINDS}


def set_mode(session: Session, kind_name: str, mode: str) -> ActionMode:
    """Owner or office manager only; `automatic` is refused for clinical/billing kinds."""
    require(session, "mode.set", kind=kind_name)
    if kind_name not in KINDS:  # typed by a person: a clear refusal, not a KeyError
        raise ValidationError(f"unknown task kind {kind_name!r}; known kinds: "
                              + ", ".join(sorted(KINDS)))
    spec = kind(kind_name)
    try:
        new = ActionMode(mode)
    except ValueError as exc:
        raise ValidationError(f"mode must be shadow, approve_each or automatic; got {mode!r}") \
            from exc
    if new is ActionMode.AUTOMATIC and not spec.automatic_allowed:
        why = spec.reason_no_auto or "needs a person's review"
        raise ValidationError(f"{kind_name} cannot be automatic: it {why}")
    before = get_mode(session, kind_name)
    vault = session.vault
    with vault.write() as conn:
        conn.execute("INSERT INTO action_modes (kind, mode) VALUES (?, ?) ON CONFLICT(kind) "
                     "DO UPDATE SET mode = excluded.mode", (kind_name, new.value))
        audit.record(vault, conn, session, "mode.set", "task_kind", kind_name,
                     details={"before": before.value, "after": new.value})
        if before is ActionMode.SHADOW and new is not ActionMode.SHADOW:
            # Open shadow drafts become real work once the practice trusts the kind.
            for (task_id,) in conn.execute("SELECT id FROM tasks WHERE kind = ? AND state = "
                                           "'shadow' AND shadow_verdict IS NULL", (kind_name,)
                                           ).fetchall():
                move(session, conn, task_id, TaskState.SHADOW, TaskState.PENDING,
                     "promote", note=f"mode changed to {new.value}")
    return new
