"""Creating tasks, idempotently by natural key; in automatic mode the task is approved and
its effect run at once."""

from __future__ import annotations

import json
import re
from datetime import datetime
from typing import Any

from app import audit, clock
from app.domain import ActionMode, Task, TaskState
from app.domain.specs import PRIORITY_NORMAL
from app.identity import Session
from app.queue import effects as _effects
from app.queue.blobs import NewEvidence, add_evidence, unseen_evidence
from app.queue.effects import KindEffect
from app.queue.execution import execute
from app.queue.history import move, record_history
from app.queue.kinds import kind
from app.queue.machine import OPEN_STATES
from app.queue.modes import get_mode
from app.queue.reads import get_task_unchecked, load_task


def _without_member_ids(conn: Any, patient_id: int | None, title: str) -> str:
    """Titles show in lists, notifications and the tray: the patient's member IDs never
    do (a payer reference can be the member ID; a recipe field can quote it)."""
    if patient_id is None:
        return title
    for (member_id,) in conn.execute("SELECT member_id FROM coverages WHERE patient_id = ?",
                                     (patient_id,)).fetchall():
        if member_id and len(str(member_id).strip()) >= 4:
            title = re.sub(re.escape(str(member_id).strip()), "[member ID]", title,
                           flags=re.IGNORECASE)
    return title


def create_task(session: Session, kind_name: str, natural_key: str, title: str, *,
                draft: str = "", due_at: datetime | None = None, priority: int = PRIORITY_NORMAL,
                subject_type: str = "", subject_id: str | int = "",
                patient_id: int | None = None, payload: dict[str, Any] | None = None,
                evidence: list[NewEvidence] | None = None, role: str | None = None,
                update_open: bool = True) -> tuple[Task, bool]:
    """Create a task, or return the existing one with the same natural key.

    An existing open task is refreshed (title, draft, due time, payload, new evidence) when
    `update_open` is set, so a workflow run twice never makes a duplicate. Returns
    (task, created)."""
    spec = kind(kind_name)
    vault = session.vault
    now = clock.iso(clock.now())
    effect: KindEffect | None = None
    with vault.write() as conn:
        title = _without_member_ids(conn, patient_id, title)
        existing = conn.execute("SELECT id, state, draft FROM tasks WHERE natural_key = ?",
                                (natural_key,)).fetchone()
        if existing is not None:
            task_id, state = int(existing[0]), TaskState(existing[1])
            if update_open and state in OPEN_STATES:
                conn.execute(
                    "UPDATE tasks SET title = ?, draft = CASE WHEN draft = original_draft THEN ? "
                    "ELSE draft END, original_draft = ?, due_at = ?, priority = min(priority, ?),"
                    " payload = ?, updated_at = ? WHERE id = ?",
                    (title, draft, draft, clock.iso(due_at) if due_at else None, priority,
                     json.dumps(payload or {}, default=str), now, task_id))
                fresh = unseen_evidence(conn, task_id, evidence or [])
                if fresh:
                    add_evidence(session, conn, task_id, fresh)
                record_history(conn, task_id, session.username, "update", state.value, state.value,
                         note="refreshed by " + session.username)
                audit.record(vault, conn, session, "task.update", "task", task_id,
                             patient_id=patient_id, details={"kind": kind_name})
            return load_task(conn, task_id), False
        mode = get_mode(vault, kind_name)
        shadow = mode is ActionMode.SHADOW and not spec.is_notice
        state = TaskState.SHADOW if shadow else TaskState.PENDING
        cur = conn.execute(
            "INSERT INTO tasks (kind, state, priority, due_at, role, subject_type, subject_id, "
            "patient_id, title, draft, original_draft, payload, natural_key, created_at, "
            "updated_at) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            (kind_name, state.value, priority, clock.iso(due_at) if due_at else None,
             role or spec.role.value, subject_type, str(subject_id), patient_id, title, draft,
             draft, json.dumps(payload or {}, default=str), natural_key, now, now))
        task_id = int(cur.lastrowid)
        if evidence:
            add_evidence(session, conn, task_id, evidence)
        record_history(conn, task_id, session.username, "create", None, state.value)
        audit.record(vault, conn, session, "task.create", "task", task_id, patient_id=patient_id,
                     details={"kind": kind_name, "state": state.value, "mode": mode.value})
        if mode is ActionMode.AUTOMATIC and spec.automatic_allowed:
            # An unresolved effect fails here, rolling the creation back.
            effect = _effects.installed().for_kind(kind_name)
            move(session, conn, task_id, TaskState.PENDING, TaskState.APPROVED, "auto_approve",
                 note="automatic mode")
    task = get_task_unchecked(session, task_id)
    if task.state is TaskState.APPROVED:
        task = execute(session, task, effect)
    return task, True
