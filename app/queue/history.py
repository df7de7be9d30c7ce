"""The primitives every change goes through, inside the caller's write transaction: the
task history row, the checked state move (with its audit row), the role check for acting
on a task, and a draft edit. The only writer of task_history."""

from __future__ import annotations

from typing import Any

from app import audit, clock
from app.domain import Task, TaskState
from app.errors import InvalidTransition, PermissionDenied
from app.identity import Session, require
from app.queue.machine import can_transition
from app.queue.reads import load_task, may_work
from app.vault.db import Connection


def record_history(conn: Connection, task_id: int, actor: str, action: str,
                   from_state: str | None, to_state: str | None, note: str = "",
                   before: str | None = None, after: str | None = None) -> int:
    """A task history row, in the caller's write transaction; returns its id."""
    cur = conn.execute("INSERT INTO task_history (task_id, ts, actor, action, from_state, "
                       "to_state, note, draft_before, draft_after) VALUES (?,?,?,?,?,?,?,?,?)",
                       (task_id, clock.iso(clock.now()), actor, action, from_state, to_state,
                        note, before, after))
    return int(cur.lastrowid)


def move(session: Session, conn: Connection, task_id: int, source: TaskState, target: TaskState,
         action: str, note: str = "", extra: dict[str, Any] | None = None) -> None:
    if not can_transition(source, target):
        raise InvalidTransition(task_id, source.value, target.value)
    now = clock.iso(clock.now())
    human = not getattr(session, "is_system", False)
    conn.execute("UPDATE tasks SET state = ?, updated_at = ?, acted_at = CASE WHEN ? THEN "
                 "coalesce(acted_at, ?) ELSE acted_at END WHERE id = ?",
                 (target.value, now, human and action not in ("create", "update"), now, task_id))
    record_history(conn, task_id, session.username, action, source.value, target.value, note)
    patient_id = conn.execute("SELECT patient_id FROM tasks WHERE id = ?", (task_id,)).fetchone()
    audit.record(session.vault, conn, session, f"task.{action}", "task", task_id,
                 patient_id=patient_id[0] if patient_id else None,
                 details={"from": source.value, "to": target.value, "note": note,
                          **(extra or {})})


def checked(session: Session, conn: Connection, task_id: int) -> Task:
    require(session, "task.act", task_id=task_id)
    task = load_task(conn, task_id)
    if not may_work(session, task):
        # In its own transaction: the caller's rolls back with this refusal.
        audit.record_now(session.vault, session, "permission.denied", object_type="task",
                         object_id=task_id, details={"attempted": f"act on {task.kind}"})
        raise PermissionDenied(session.username, f"work {task.kind} tasks")
    return task


def apply_edit(session: Session, conn: Connection, task: Task, new_draft: str | None) -> bool:
    if new_draft is None or new_draft == task.draft:
        return False
    conn.execute("UPDATE tasks SET draft = ?, updated_at = ? WHERE id = ?",
                 (new_draft, clock.iso(clock.now()), task.id))
    history_id = record_history(conn, task.id, session.username, "edit", task.state.value,
                                task.state.value, before=task.draft, after=new_draft)
    # By reference (the task history row holds the drafts, inside the vault) and digest.
    audit.record(session.vault, conn, session, "task.edit", "task", task.id,
                 patient_id=task.patient_id,
                 details={"history_id": history_id,
                          "draft_before": audit.digest(session.vault, task.draft),
                          "draft_after": audit.digest(session.vault, new_draft),
                          "chars": [len(task.draft), len(new_draft)]})
    return True
