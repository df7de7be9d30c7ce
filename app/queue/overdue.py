"""The overdue sweep (run by the scheduler): raise priority and notify the role, then the
owner."""

from __future__ import annotations

from datetime import timedelta

from app import audit, clock
from app.identity import Role, Session
from app.domain.specs import PRIORITY_HIGH
from app.queue.history import record_history
from app.queue.machine import actionable_sql
from app.queue.notifications import notify


def escalate_overdue(session: Session, owner_after: timedelta = timedelta(hours=24)) -> int:
    """Past due: raise priority and notify the role; further past: notify the owner too."""
    now = clock.now()
    count = 0
    with session.vault.write() as conn:
        rows = conn.execute("SELECT id, kind, role, due_at, escalation_level FROM tasks WHERE "
                            f"state IN {actionable_sql()} AND due_at IS NOT NULL "
                            "AND due_at < ? AND escalation_level < 2",
                            (clock.iso(now),)).fetchall()
        for task_id, kind_name, role, due_at, level in rows:
            overdue = now - clock.parse_iso(due_at)
            new_level = 2 if overdue >= owner_after else 1
            if new_level <= level:
                continue
            conn.execute("UPDATE tasks SET priority = ?, escalation_level = ? WHERE id = ?",
                         (PRIORITY_HIGH, new_level, task_id))
            record_history(conn, task_id, session.username, "overdue", None, None,
                     note=f"overdue level {new_level}")
            audit.record(session.vault, conn, session, "task.overdue", "task", task_id,
                         details={"level": new_level})
            notify(conn, f"Task {task_id} ({kind_name}) is overdue", role=role, task_id=task_id,
                   level="warning")
            if new_level == 2:
                notify(conn, f"Task {task_id} ({kind_name}) is overdue by more than "
                       f"{int(owner_after.total_seconds() // 3600)} h", role=Role.OWNER.value,
                       task_id=task_id, level="critical")
            count += 1
    return count
