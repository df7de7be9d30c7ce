"""Reading tasks: one task (with its evidence and history), a queue page, the sidebar's
counts, and the JSON shape the CLI prints. Reads check the role; views are audited."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from app import audit, clock
from app.domain import Evidence, HistoryEntry, Task, TaskState
from app.errors import NotFound, PermissionDenied
from app.identity import Session, require
from app.queue.kinds import kinds_for_roles
from app.queue.machine import ACTIONABLE_VALUES, actionable_sql
from app.vault.db import Connection


TASK_COLUMNS = ("id, kind, state, priority, role, title, natural_key, due_at, assignee, "
                "subject_type, subject_id, patient_id, draft, original_draft, payload, "
                "shadow_verdict, escalation_level, snoozed_until, created_at, updated_at, "
                "acted_at")


def _dt(text: str | None) -> datetime | None:
    return clock.parse_iso(text) if text else None


def task_from_row(row: Any) -> Task:
    return Task(id=row[0], kind=row[1], state=TaskState(row[2]), priority=row[3], role=row[4],
                title=row[5], natural_key=row[6], due_at=_dt(row[7]), assignee=row[8],
                subject_type=row[9], subject_id=row[10], patient_id=row[11], draft=row[12],
                original_draft=row[13], payload=json.loads(row[14]), shadow_verdict=row[15],
                escalation_level=row[16], snoozed_until=_dt(row[17]), created_at=_dt(row[18]),
                updated_at=_dt(row[19]), acted_at=_dt(row[20]))


def load_task(conn: Connection, task_id: int) -> Task:
    row = conn.execute(f"SELECT {TASK_COLUMNS} FROM tasks WHERE id = ?", (task_id,)).fetchone()
    if row is None:
        raise NotFound(f"no task {task_id}")
    task = task_from_row(row)
    task.evidence = [Evidence(id=r[0], label=r[1], excerpt=r[2], blob_id=r[3], mime=r[4] or "")
                     for r in conn.execute(
                         "SELECT e.id, e.label, e.excerpt, e.blob_id, b.mime FROM task_evidence e "
                         "LEFT JOIN blobs b ON b.id = e.blob_id WHERE e.task_id = ? ORDER BY e.id",
                         (task_id,))]
    task.history = [HistoryEntry(ts=clock.parse_iso(r[0]), actor=r[1], action=r[2],
                                 from_state=r[3], to_state=r[4], note=r[5], draft_before=r[6],
                                 draft_after=r[7])
                    for r in conn.execute("SELECT ts, actor, action, from_state, to_state, note, "
                                          "draft_before, draft_after FROM task_history "
                                          "WHERE task_id = ? ORDER BY id", (task_id,))]
    return task


def get_task_unchecked(session: Session, task_id: int) -> Task:
    with session.vault.read() as conn:
        return load_task(conn, task_id)


def may_work(session: Session, task: Task) -> bool:
    return task.kind in kinds_for_roles(session.roles) or task.role in {
        r.value for r in session.roles}


def workable_task(session: Session, task_id: int) -> Task:
    """The task, if this person may work it; else the refusal, audited. Not itself a
    view: the caller audits what it shows."""
    require(session, "task.view")
    task = get_task_unchecked(session, task_id)
    if not may_work(session, task):
        audit.record_now(session.vault, session, "permission.denied", object_type="task",
                         object_id=task_id, details={"attempted": "task.view"})
        raise PermissionDenied(session.username, f"view {task.kind} tasks")
    return task


def get_task(session: Session, task_id: int) -> Task:
    task = workable_task(session, task_id)
    audit.record_now(session.vault, session, "task.view", object_type="task", object_id=task_id,
                     patient_id=task.patient_id)
    return task


@dataclass(frozen=True)
class QueueFilter:
    kinds: tuple[str, ...] = ()
    states: tuple[str, ...] = ACTIONABLE_VALUES
    patient_id: int | None = None
    search: str = ""
    overdue_only: bool = False


def list_tasks(session: Session, flt: QueueFilter = QueueFilter(), *, limit: int = 200,
               offset: int = 0, order: str = "priority") -> list[Task]:
    """A queue page, filtered to the kinds the user's roles work. No evidence/history."""
    require(session, "task.view")
    visible = kinds_for_roles(session.roles)
    kinds = [k for k in (flt.kinds or tuple(visible)) if k in visible]
    if not kinds:
        return []
    clauses = [f"kind IN ({','.join('?' * len(kinds))})"]
    params: list[Any] = list(kinds)
    if flt.states:
        clauses.append(f"state IN ({','.join('?' * len(flt.states))})")
        params.extend(flt.states)
    if flt.patient_id is not None:
        clauses.append("patient_id = ?")
        params.append(flt.patient_id)
    if flt.search:
        clauses.append("title LIKE ?")
        params.append(f"%{flt.search}%")
    if flt.overdue_only:
        clauses.append("due_at IS NOT NULL AND due_at < ?")
        params.append(clock.iso(clock.now()))
    orders = {"priority": "priority, due_at IS NULL, due_at, id",
              "due": "due_at IS NULL, due_at, priority, id", "newest": "id DESC"}
    # A many-kind page in priority order reads its first rows off tasks_page (m0006)
    # instead of sorting every open task (bench/queue_page.py: flat from 1k to 100k tasks).
    hint = ("INDEXED BY tasks_page " if order == "priority" and len(kinds) > 1
            and flt.patient_id is None else "")
    sql = (f"SELECT {TASK_COLUMNS} FROM tasks {hint}WHERE {' AND '.join(clauses)} "
           f"ORDER BY {orders[order]} LIMIT ? OFFSET ?")
    return [task_from_row(r) for r in session.vault.query(sql, (*params, limit, offset))]


def queue_counts(session: Session) -> dict[str, int]:
    """Open, actionable tasks per kind the user works (for the sidebar)."""
    visible = kinds_for_roles(session.roles)
    rows = session.vault.query(f"SELECT kind, count(*) FROM tasks WHERE state IN "
                               f"{actionable_sql()} GROUP BY kind")
    counts = {k: 0 for k in visible}
    counts.update({k: n for k, n in rows if k in counts})
    return counts


def task_to_json(task: Task, full: bool = False) -> dict[str, Any]:
    data: dict[str, Any] = {
        "id": task.id, "kind": task.kind, "state": task.state.value, "priority": task.priority,
        "role": task.role, "assignee": task.assignee, "title": task.title,
        "due_at": clock.iso(task.due_at) if task.due_at else None,
        "patient_id": task.patient_id, "subject": f"{task.subject_type}:{task.subject_id}",
        "natural_key": task.natural_key, "escalation_level": task.escalation_level,
    }
    if full:
        data.update(draft=task.draft, payload=task.payload,
                    evidence=[{"id": e.id, "label": e.label, "excerpt": e.excerpt,
                               "blob_id": e.blob_id, "mime": e.mime} for e in task.evidence],
                    history=[{"ts": clock.iso(h.ts), "actor": h.actor, "action": h.action,
                              "from": h.from_state, "to": h.to_state, "note": h.note}
                             for h in task.history])
    return data
