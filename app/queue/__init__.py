"""The work queue: every agent output is a Task that a person edits, approves, rejects,
snoozes or escalates. All changes go through these functions, which check roles, keep
the task history and write the audit row in one transaction.

Effects (what an approved task does in the world) are declared per kind (`TaskKind.effect`)
and resolved once by the composition root (automations/wiring.py), which installs them
(`app.queue.effects`).
"""

from __future__ import annotations

import difflib
import json
import logging
import os
import socket
import statistics
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from app import audit, clock
from app.domain import ActionMode, Evidence, HistoryEntry, Task, TaskState
from app.errors import InvalidTransition, NotFound, PermissionDenied, ValidationError
from app.identity import Role, Session, require
from app.queue import effects as _effects
from app.queue.effects import Confirm, Effect, EffectNotResolved, Effects, KindEffect
from app.queue.kinds import KINDS, kind, kinds_for_roles
from app.queue.machine import ACTIONABLE_STATES, OPEN_STATES, can_transition
from app.vault.db import Connection

log = logging.getLogger(__name__)


TASK_COLUMNS = ("id, kind, state, priority, role, title, natural_key, due_at, assignee, "
                "subject_type, subject_id, patient_id, draft, original_draft, payload, "
                "shadow_verdict, escalation_level, snoozed_until, created_at, updated_at, "
                "acted_at")

PRIORITY_HIGH, PRIORITY_NORMAL, PRIORITY_LOW = 1, 2, 3


def _dt(text: str | None) -> datetime | None:
    return clock.parse_iso(text) if text else None


def _task_from_row(row: Any) -> Task:
    return Task(id=row[0], kind=row[1], state=TaskState(row[2]), priority=row[3], role=row[4],
                title=row[5], natural_key=row[6], due_at=_dt(row[7]), assignee=row[8],
                subject_type=row[9], subject_id=row[10], patient_id=row[11], draft=row[12],
                original_draft=row[13], payload=json.loads(row[14]), shadow_verdict=row[15],
                escalation_level=row[16], snoozed_until=_dt(row[17]), created_at=_dt(row[18]),
                updated_at=_dt(row[19]), acted_at=_dt(row[20]))


# -- modes ------------------------------------------------------------------------------

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
                _move(session, conn, task_id, TaskState.SHADOW, TaskState.PENDING,
                      "promote", note=f"mode changed to {new.value}")
    return new


# -- creation ---------------------------------------------------------------------------

@dataclass
class NewEvidence:
    label: str
    excerpt: str = ""
    blob: bytes | None = None
    mime: str = "text/plain"


def store_blob(session: Session, conn: Connection, data: bytes, mime: str) -> int:
    import hashlib
    cur = conn.execute("INSERT INTO blobs (sha256, mime, size, data, created_at) "
                       "VALUES (?,?,?,?,?)", (hashlib.sha256(data).hexdigest(), mime, len(data),
                                              data, clock.iso(clock.now())))
    return int(cur.lastrowid)


def _add_evidence(session: Session, conn: Connection, task_id: int,
                  items: list[NewEvidence]) -> None:
    for item in items:
        blob_id = store_blob(session, conn, item.blob, item.mime) if item.blob else None
        conn.execute("INSERT INTO task_evidence (task_id, label, excerpt, blob_id, created_at) "
                     "VALUES (?,?,?,?,?)", (task_id, item.label, item.excerpt, blob_id,
                                            clock.iso(clock.now())))


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
                if evidence:
                    _add_evidence(session, conn, task_id, evidence)
                _history(conn, task_id, session.username, "update", state.value, state.value,
                         note="refreshed by " + session.username)
                audit.record(vault, conn, session, "task.update", "task", task_id,
                             patient_id=patient_id, details={"kind": kind_name})
            return _load(conn, task_id), False
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
            _add_evidence(session, conn, task_id, evidence)
        _history(conn, task_id, session.username, "create", None, state.value)
        audit.record(vault, conn, session, "task.create", "task", task_id, patient_id=patient_id,
                     details={"kind": kind_name, "state": state.value, "mode": mode.value})
        if mode is ActionMode.AUTOMATIC and spec.automatic_allowed:
            # An unresolved effect fails here, rolling the creation back.
            effect = _effects.installed().for_kind(kind_name)
            _move(session, conn, task_id, TaskState.PENDING, TaskState.APPROVED, "auto_approve",
                  note="automatic mode")
    task = get_task_unchecked(session, task_id)
    if task.state is TaskState.APPROVED:
        task = _execute(session, task, effect)
    return task, True


# -- reading ----------------------------------------------------------------------------

def _load(conn: Connection, task_id: int) -> Task:
    row = conn.execute(f"SELECT {TASK_COLUMNS} FROM tasks WHERE id = ?", (task_id,)).fetchone()
    if row is None:
        raise NotFound(f"no task {task_id}")
    task = _task_from_row(row)
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
        return _load(conn, task_id)


def _may_work(session: Session, task: Task) -> bool:
    return task.kind in kinds_for_roles(session.roles) or task.role in {
        r.value for r in session.roles}


def get_task(session: Session, task_id: int) -> Task:
    require(session, "task.view")
    task = get_task_unchecked(session, task_id)
    if not _may_work(session, task):
        audit.record_now(session.vault, session, "permission.denied", object_type="task",
                         object_id=task_id, details={"attempted": "task.view"})
        raise PermissionDenied(session.username, f"view {task.kind} tasks")
    audit.record_now(session.vault, session, "task.view", object_type="task", object_id=task_id,
                     patient_id=task.patient_id)
    return task


def blob_data(session: Session, blob_id: int) -> tuple[bytes, str]:
    require(session, "task.view")
    row = session.vault.query_one("SELECT data, mime FROM blobs WHERE id = ?", (blob_id,))
    if row is None:
        raise NotFound(f"no evidence blob {blob_id}")
    return bytes(row[0]), str(row[1])


@dataclass(frozen=True)
class QueueFilter:
    kinds: tuple[str, ...] = ()
    states: tuple[str, ...] = ("shadow", "pending", "failed")
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
    return [_task_from_row(r) for r in session.vault.query(sql, (*params, limit, offset))]


def queue_counts(session: Session) -> dict[str, int]:
    """Open, actionable tasks per kind the user works (for the sidebar)."""
    visible = kinds_for_roles(session.roles)
    rows = session.vault.query("SELECT kind, count(*) FROM tasks WHERE state IN "
                               "('shadow','pending','failed') GROUP BY kind")
    counts = {k: 0 for k in visible}
    counts.update({k: n for k, n in rows if k in counts})
    return counts


# -- transitions ------------------------------------------------------------------------

def _history(conn: Connection, task_id: int, actor: str, action: str, from_state: str | None,
             to_state: str | None, note: str = "", before: str | None = None,
             after: str | None = None) -> int:
    cur = conn.execute("INSERT INTO task_history (task_id, ts, actor, action, from_state, to_state, "
                 "note, draft_before, draft_after) VALUES (?,?,?,?,?,?,?,?,?)",
                 (task_id, clock.iso(clock.now()), actor, action, from_state, to_state, note,
                  before, after))
    return int(cur.lastrowid)


def _move(session: Session, conn: Connection, task_id: int, source: TaskState, target: TaskState,
          action: str, note: str = "", extra: dict[str, Any] | None = None) -> None:
    if not can_transition(source, target):
        raise InvalidTransition(task_id, source.value, target.value)
    now = clock.iso(clock.now())
    human = not getattr(session, "is_system", False)
    conn.execute("UPDATE tasks SET state = ?, updated_at = ?, acted_at = CASE WHEN ? THEN "
                 "coalesce(acted_at, ?) ELSE acted_at END WHERE id = ?",
                 (target.value, now, human and action not in ("create", "update"), now, task_id))
    _history(conn, task_id, session.username, action, source.value, target.value, note)
    patient_id = conn.execute("SELECT patient_id FROM tasks WHERE id = ?", (task_id,)).fetchone()
    audit.record(session.vault, conn, session, f"task.{action}", "task", task_id,
                 patient_id=patient_id[0] if patient_id else None,
                 details={"from": source.value, "to": target.value, "note": note,
                          **(extra or {})})


def _checked(session: Session, conn: Connection, task_id: int) -> Task:
    require(session, "task.act", task_id=task_id)
    task = _load(conn, task_id)
    if not _may_work(session, task):
        # In its own transaction: the caller's rolls back with this refusal.
        audit.record_now(session.vault, session, "permission.denied", object_type="task",
                         object_id=task_id, details={"attempted": f"act on {task.kind}"})
        raise PermissionDenied(session.username, f"work {task.kind} tasks")
    return task


def _apply_edit(session: Session, conn: Connection, task: Task, new_draft: str | None) -> bool:
    if new_draft is None or new_draft == task.draft:
        return False
    conn.execute("UPDATE tasks SET draft = ?, updated_at = ? WHERE id = ?",
                 (new_draft, clock.iso(clock.now()), task.id))
    history_id = _history(conn, task.id, session.username, "edit", task.state.value,
                          task.state.value, before=task.draft, after=new_draft)
    # By reference (the task history row holds the drafts, inside the vault) and digest.
    audit.record(session.vault, conn, session, "task.edit", "task", task.id,
                 patient_id=task.patient_id,
                 details={"history_id": history_id,
                          "draft_before": audit.digest(session.vault, task.draft),
                          "draft_after": audit.digest(session.vault, new_draft),
                          "chars": [len(task.draft), len(new_draft)]})
    return True


def edit_draft(session: Session, task_id: int, new_draft: str) -> Task:
    with session.vault.write() as conn:
        task = _checked(session, conn, task_id)
        if task.state not in ACTIONABLE_STATES:
            raise InvalidTransition(task_id, task.state.value, "edit")
        _apply_edit(session, conn, task, new_draft)
    return get_task_unchecked(session, task_id)


def approve(session: Session, task_id: int, draft: str | None = None) -> Task:
    """Approve (optionally with an edited draft) and run the kind's effect, if any.
    Shadow tasks are refused: they can only get a verdict."""
    with session.vault.write() as conn:
        task = _checked(session, conn, task_id)
        if task.state is TaskState.SHADOW:
            raise InvalidTransition(task_id, "shadow", "approved (shadow-mode drafts never "
                                    "execute; mark 'would approve' instead)")
        # Resolved before any change: an unwired effect fails loudly, the task untouched.
        effect = _effects.installed().for_kind(task.kind)
        _apply_edit(session, conn, task, draft)
        _move(session, conn, task_id, task.state, TaskState.APPROVED, "approve")
    return _execute(session, get_task_unchecked(session, task_id), effect)


def _execute(session: Session, task: Task, effect: KindEffect | None) -> Task:
    vault = session.vault
    if effect is None:
        with vault.write() as conn:
            _move(session, conn, task.id, TaskState.APPROVED, TaskState.DONE, "complete",
                  note="approved; nothing to send automatically")
        return get_task_unchecked(session, task.id)
    with vault.write() as conn:
        # Who runs it, so a later open can tell a killed run from one still under way.
        _move(session, conn, task.id, TaskState.APPROVED, TaskState.EXECUTING, "execute",
              note=_RUNNER_PREFIX + _runner())
    try:
        result = effect.effect(session, get_task_unchecked(session, task.id))
    except Exception as exc:  # the failure goes back to a person as a visible task
        log.warning("effect for task %s (%s) failed: %s", task.id, task.kind,
                    type(exc).__name__)
        with vault.write() as conn:
            _move(session, conn, task.id, TaskState.EXECUTING, TaskState.FAILED, "fail",
                  note=str(exc)[:500])
    else:
        with vault.write() as conn:
            _move(session, conn, task.id, TaskState.EXECUTING, TaskState.DONE, "complete",
                  note=result)
    return get_task_unchecked(session, task.id)


_RUNNER_PREFIX = "runner "
INTERRUPTED = ("interrupted: OffHold stopped while this ran; check whether it took effect, "
               "then retry or reject")


def _runner() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def _runner_gone(note: str) -> bool:
    """True when the process that ran the effect is no longer running on this machine (or
    the note predates runners). A run on another machine is never judged from here."""
    if not note.startswith(_RUNNER_PREFIX):
        return True
    host, _, pid_text = note[len(_RUNNER_PREFIX):].rpartition(":")
    if host != socket.gethostname():
        return False
    if not pid_text.isdigit():
        return True
    pid = int(pid_text)
    if pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


def recover_interrupted(session: Session) -> list[int]:
    """Tasks left `executing` by a process that died (kill -9, power loss): confirmed done
    when the kind's effect can tell it took effect, else back to a person as failed with
    the reason "interrupted"; returns their ids. Run at every open. Effects are never
    re-run here."""
    require(session, "task.act")
    vault = session.vault
    rows = vault.query(
        "SELECT t.id, coalesce((SELECT h.note FROM task_history h WHERE h.task_id = t.id "
        "AND h.action = 'execute' ORDER BY h.id DESC LIMIT 1), '') FROM tasks t "
        "WHERE t.state = 'executing'")
    recovered = []
    for task_id, note in rows:
        if not _runner_gone(str(note)):
            continue
        task = get_task_unchecked(session, int(task_id))
        confirm = _effects.installed().confirm_for(task.kind)
        done_note = confirm(session, task) if confirm is not None else None
        with vault.write() as conn:
            state = conn.execute("SELECT state FROM tasks WHERE id = ?", (task_id,)).fetchone()
            if state is None or state[0] != TaskState.EXECUTING.value:
                continue
            if done_note:
                _move(session, conn, task.id, TaskState.EXECUTING, TaskState.DONE, "complete",
                      note=f"confirmed after an interruption: {done_note}")
            else:
                _move(session, conn, task.id, TaskState.EXECUTING, TaskState.FAILED, "fail",
                      note=INTERRUPTED)
        recovered.append(int(task_id))
    if recovered:
        log.warning("%d task(s) interrupted while executing were returned as failed",
                    len(recovered))
    return recovered


def reject(session: Session, task_id: int, reason: str) -> Task:
    if not reason.strip():
        raise ValidationError("a rejection needs a reason")
    with session.vault.write() as conn:
        task = _checked(session, conn, task_id)
        _move(session, conn, task_id, task.state, TaskState.REJECTED, "reject", note=reason)
    return get_task_unchecked(session, task_id)


def snooze(session: Session, task_id: int, until: datetime) -> Task:
    if until <= clock.now():
        raise ValidationError("snooze until a time in the future")
    with session.vault.write() as conn:
        task = _checked(session, conn, task_id)
        _move(session, conn, task_id, task.state, TaskState.SNOOZED, "snooze",
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
            _move(session, conn, task_id, TaskState.SNOOZED, TaskState(resume or "pending"),
                  "wake")
            woke += 1
    return woke


def retry(session: Session, task_id: int) -> Task:
    """A failed task goes back to pending for another approval."""
    with session.vault.write() as conn:
        task = _checked(session, conn, task_id)
        _move(session, conn, task_id, task.state, TaskState.PENDING, "retry")
    return get_task_unchecked(session, task_id)


SHADOW_VERDICTS = ("would_approve", "would_change", "would_reject")


def shadow_verdict(session: Session, task_id: int, verdict: str,
                   changed_draft: str | None = None, note: str = "") -> Task:
    """Close a shadow draft with what the person would have done; feeds trust figures."""
    if verdict not in SHADOW_VERDICTS:
        raise ValidationError(f"verdict must be one of {', '.join(SHADOW_VERDICTS)}")
    with session.vault.write() as conn:
        task = _checked(session, conn, task_id)
        if task.state is not TaskState.SHADOW:
            raise InvalidTransition(task_id, task.state.value, verdict)
        if verdict == "would_change":
            _apply_edit(session, conn, task, changed_draft)
        conn.execute("UPDATE tasks SET shadow_verdict = ? WHERE id = ?", (verdict, task_id))
        _move(session, conn, task_id, TaskState.SHADOW, TaskState.DONE, "shadow_verdict",
              note=note or verdict, extra={"verdict": verdict})
    return get_task_unchecked(session, task_id)


def reassign(session: Session, task_id: int, assignee: str | None) -> Task:
    require(session, "task.reassign", task_id=task_id)
    with session.vault.write() as conn:
        task = _load(conn, task_id)
        conn.execute("UPDATE tasks SET assignee = ?, updated_at = ? WHERE id = ?",
                     (assignee, clock.iso(clock.now()), task_id))
        _history(conn, task_id, session.username, "reassign", task.state.value,
                 task.state.value, note=f"{task.assignee or '-'} -> {assignee or '-'}")
        audit.record(session.vault, conn, session, "task.reassign", "task", task_id,
                     patient_id=task.patient_id,
                     details={"before": task.assignee, "after": assignee})
    return get_task_unchecked(session, task_id)


def notify(conn: Connection, message: str, *, role: str | None = None,
           username: str | None = None, task_id: int | None = None,
           level: str = "info") -> None:
    """Queue an in-app notification (the desktop shows it in the tray or a banner).
    Messages carry task ids and kinds, never PHI."""
    conn.execute("INSERT INTO notifications (ts, role, username, task_id, level, message) "
                 "VALUES (?,?,?,?,?,?)", (clock.iso(clock.now()), role, username, task_id, level,
                                          message))


def escalate(session: Session, task_id: int, note: str = "") -> Task:
    """A person escalates: the task goes to the office manager (or owner), high priority."""
    with session.vault.write() as conn:
        task = _checked(session, conn, task_id)
        target = Role.OWNER.value if task.role == Role.OFFICE_MANAGER.value else \
            Role.OFFICE_MANAGER.value
        conn.execute("UPDATE tasks SET role = ?, priority = ?, escalation_level = "
                     "escalation_level + 1, updated_at = ? WHERE id = ?",
                     (target, PRIORITY_HIGH, clock.iso(clock.now()), task_id))
        _history(conn, task_id, session.username, "escalate", task.state.value,
                 task.state.value, note=note or f"escalated to {target}")
        audit.record(session.vault, conn, session, "task.escalate", "task", task_id,
                     patient_id=task.patient_id, details={"to_role": target, "note": note})
        notify(conn, f"Task {task_id} ({task.kind}) was escalated to you", role=target,
               task_id=task_id, level="warning")
    return get_task_unchecked(session, task_id)


def escalate_overdue(session: Session, owner_after: timedelta = timedelta(hours=24)) -> int:
    """Past due: raise priority and notify the role; further past: notify the owner too."""
    now = clock.now()
    count = 0
    with session.vault.write() as conn:
        rows = conn.execute("SELECT id, kind, role, due_at, escalation_level FROM tasks WHERE "
                            "state IN ('pending','shadow','failed') AND due_at IS NOT NULL "
                            "AND due_at < ? AND escalation_level < 2",
                            (clock.iso(now),)).fetchall()
        for task_id, kind_name, role, due_at, level in rows:
            overdue = now - clock.parse_iso(due_at)
            new_level = 2 if overdue >= owner_after else 1
            if new_level <= level:
                continue
            conn.execute("UPDATE tasks SET priority = ?, escalation_level = ? WHERE id = ?",
                         (PRIORITY_HIGH, new_level, task_id))
            _history(conn, task_id, session.username, "overdue", None, None,
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


def unread_notifications(session: Session) -> list[dict[str, Any]]:
    roles = [r.value for r in session.roles]
    rows = session.vault.query(
        f"SELECT id, ts, level, message, task_id FROM notifications WHERE read_at IS NULL AND "
        f"(username = ? OR role IN ({','.join('?' * len(roles))})) ORDER BY id",
        (session.username, *roles))
    return [{"id": r[0], "ts": r[1], "level": r[2], "message": r[3], "task_id": r[4]}
            for r in rows]


def mark_notifications_read(session: Session, ids: list[int]) -> None:
    if not ids:
        return
    with session.vault.write() as conn:
        conn.execute(f"UPDATE notifications SET read_at = ? WHERE id IN "
                     f"({','.join('?' * len(ids))})", (clock.iso(clock.now()), *ids))


# -- trust figures ----------------------------------------------------------------------

@dataclass(frozen=True)
class TrustFigures:
    kind: str
    decided: int
    approval_rate: float | None
    edit_rate: float | None
    mean_edit_size: float | None  # 0..1, share of the draft changed (difflib)
    median_minutes_to_action: float | None


def trust_figures(session: Session, since: datetime | None = None) -> dict[str, TrustFigures]:
    """Per kind, from task history: approvals (real or 'would approve/change' in shadow),
    how often and how much people edited, and median time from creation to first action."""
    params: tuple[Any, ...] = (clock.iso(since),) if since else ()
    where = "AND t.created_at >= ?" if since else ""
    rows = session.vault.query(
        "SELECT t.id, t.kind, t.created_at, t.acted_at, t.shadow_verdict, t.original_draft, "
        "t.draft, (SELECT group_concat(h.action) FROM task_history h WHERE h.task_id = t.id) "
        f"FROM tasks t WHERE t.acted_at IS NOT NULL {where}", params)
    by_kind: dict[str, list[Any]] = {}
    for row in rows:
        by_kind.setdefault(row[1], []).append(row)
    result = {}
    for kind_name in KINDS:
        items = by_kind.get(kind_name, [])
        approvals = edits = 0
        edit_sizes: list[float] = []
        decided = 0
        minutes: list[float] = []
        for _id, _k, created, acted, verdict, original, draft, actions in items:
            actions = (actions or "").split(",")
            approved = "approve" in actions or verdict in ("would_approve", "would_change")
            rejected = "reject" in actions or verdict == "would_reject"
            if not (approved or rejected):
                continue
            decided += 1
            minutes.append((clock.parse_iso(acted) - clock.parse_iso(created)).total_seconds()
                           / 60)
            if approved:
                approvals += 1
                if draft != original:
                    edits += 1
                    edit_sizes.append(1 - difflib.SequenceMatcher(None, original, draft).ratio())
        result[kind_name] = TrustFigures(
            kind=kind_name, decided=decided,
            approval_rate=approvals / decided if decided else None,
            edit_rate=edits / approvals if approvals else None,
            mean_edit_size=statistics.fmean(edit_sizes) if edit_sizes else None,
            median_minutes_to_action=statistics.median(minutes) if minutes else None)
    return result


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
