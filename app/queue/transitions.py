"""What a person does to a task: edit, approve, reject, snooze, retry, give a shadow
verdict, reassign, escalate. Each checks the role and records history and audit in one
transaction."""

from __future__ import annotations

from datetime import datetime

from app import audit, clock
from app.domain import Task, TaskState
from app.errors import InvalidTransition, ValidationError
from app.identity import Role, Session, require
from app.queue import effects as _effects
from app.domain.specs import PRIORITY_HIGH
from app.queue.execution import execute
from app.queue.history import apply_edit, checked, move, record_history
from app.queue.machine import ACTIONABLE_STATES
from app.queue.notifications import notify
from app.queue.reads import get_task_unchecked, load_task


def edit_draft(session: Session, task_id: int, new_draft: str) -> Task:
    with session.vault.write() as conn:
        task = checked(session, conn, task_id)
        if task.state not in ACTIONABLE_STATES:
            raise InvalidTransition(task_id, task.state.value, "edit")
        apply_edit(session, conn, task, new_draft)
    return get_task_unchecked(session, task_id)


def approve(session: Session, task_id: int, draft: str | None = None) -> Task:
    """Approve (optionally with an edited draft) and run the kind's effect, if any.
    Shadow tasks are refused: they can only get a verdict."""
    with session.vault.write() as conn:
        task = checked(session, conn, task_id)
        if task.state is TaskState.SHADOW:
            raise InvalidTransition(task_id, "shadow", "approved (shadow-mode drafts never "
                                    "execute; mark 'would approve' instead)")
        # Resolved before any change: an unwired effect fails loudly, the task untouched.
        effect = _effects.installed().for_kind(task.kind)
        apply_edit(session, conn, task, draft)
        move(session, conn, task_id, task.state, TaskState.APPROVED, "approve")
        if effect is None:
            # Nothing to run: completed in this transaction. SQLCipher encrypts every page
            # a commit writes, so one commit instead of two moved the vault bench's CPU
            # from 1.34-1.53x plain SQLite to 1.20-1.30x; and no crash can leave the task
            # approved but never completed.
            return execute(session, load_task(conn, task_id), None)
    return execute(session, get_task_unchecked(session, task_id), effect)


def reject(session: Session, task_id: int, reason: str) -> Task:
    if not reason.strip():
        raise ValidationError("a rejection needs a reason")
    with session.vault.write() as conn:
        task = checked(session, conn, task_id)
        move(session, conn, task_id, task.state, TaskState.REJECTED, "reject", note=reason)
    return get_task_unchecked(session, task_id)


def snooze(session: Session, task_id: int, until: datetime) -> Task:
    if until <= clock.now():
        raise ValidationError("snooze until a time in the future")
    with session.vault.write() as conn:
        task = checked(session, conn, task_id)
        move(session, conn, task_id, task.state, TaskState.SNOOZED, "snooze",
             note=f"until {clock.iso(until)}")
        conn.execute("UPDATE tasks SET snoozed_until = ?, resume_state = ? WHERE id = ?",
                     (clock.iso(until), "shadow" if task.state is TaskState.SHADOW else
                      "pending", task_id))
    return get_task_unchecked(session, task_id)


def wake_snoozed(session: Session) -> int:
    """Return snoozed tasks whose time has come to their queue; returns how many."""
    now = clock.iso(clock.now())
    woke = 0
    with session.vault.write() as conn:
        for task_id, resume in conn.execute("SELECT id, resume_state FROM tasks WHERE state = "
                                            "'snoozed' AND snoozed_until <= ?", (now,)).fetchall():
            move(session, conn, task_id, TaskState.SNOOZED, TaskState(resume or "pending"),
                 "wake")
            woke += 1
    return woke


def retry(session: Session, task_id: int) -> Task:
    """A failed task goes back to pending for another approval."""
    with session.vault.write() as conn:
        task = checked(session, conn, task_id)
        move(session, conn, task_id, task.state, TaskState.PENDING, "retry")
    return get_task_unchecked(session, task_id)


SHADOW_VERDICTS = ("would_approve", "would_change", "would_reject")


def shadow_verdict(session: Session, task_id: int, verdict: str,
                   changed_draft: str | None = None, note: str = "") -> Task:
    """Close a shadow draft with what the person would have done; feeds trust figures."""
    if verdict not in SHADOW_VERDICTS:
        raise ValidationError(f"verdict must be one of {', '.join(SHADOW_VERDICTS)}")
    with session.vault.write() as conn:
        task = checked(session, conn, task_id)
        if task.state is not TaskState.SHADOW:
            raise InvalidTransition(task_id, task.state.value, verdict)
        if verdict == "would_change":
            apply_edit(session, conn, task, changed_draft)
        conn.execute("UPDATE tasks SET shadow_verdict = ? WHERE id = ?", (verdict, task_id))
        move(session, conn, task_id, TaskState.SHADOW, TaskState.DONE, "shadow_verdict",
             note=note or verdict, extra={"verdict": verdict})
    return get_task_unchecked(session, task_id)


def reassign(session: Session, task_id: int, assignee: str | None) -> Task:
    require(session, "task.reassign", task_id=task_id)
    with session.vault.write() as conn:
        task = load_task(conn, task_id)
        conn.execute("UPDATE tasks SET assignee = ?, updated_at = ? WHERE id = ?",
                     (assignee, clock.iso(clock.now()), task_id))
        record_history(conn, task_id, session.username, "reassign", task.state.value,
                 task.state.value, note=f"{task.assignee or '-'} -> {assignee or '-'}")
        audit.record(session.vault, conn, session, "task.reassign", "task", task_id,
                     patient_id=task.patient_id,
                     details={"before": task.assignee, "after": assignee})
    return get_task_unchecked(session, task_id)


def escalate(session: Session, task_id: int, note: str = "") -> Task:
    """A person escalates: the task goes to the office manager (or owner), high priority."""
    with session.vault.write() as conn:
        task = checked(session, conn, task_id)
        target = Role.OWNER.value if task.role == Role.OFFICE_MANAGER.value else \
            Role.OFFICE_MANAGER.value
        conn.execute("UPDATE tasks SET role = ?, priority = ?, escalation_level = "
                     "escalation_level + 1, updated_at = ? WHERE id = ?",
                     (target, PRIORITY_HIGH, clock.iso(clock.now()), task_id))
        record_history(conn, task_id, session.username, "escalate", task.state.value,
                 task.state.value, note=note or f"escalated to {target}")
        audit.record(session.vault, conn, session, "task.escalate", "task", task_id,
                     patient_id=task.patient_id, details={"to_role": target, "note": note})
        notify(conn, f"Task {task_id} ({task.kind}) was escalated to you", role=target,
               task_id=task_id, level="warning")
    return get_task_unchecked(session, task_id)
