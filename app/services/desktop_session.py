"""Services the desktop app needs beyond the queue core: an audited lock/unlock of an open
session (auto-lock after idle), bulk approval for kinds in `approve_each` mode, the people
a task may be reassigned to, the patient page (coverage, tasks, appointments), and the
change marker the desktop polls for changes made by other processes.

Qt-free, role-checked and audited like every other service; the desktop only calls them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from app import audit, clock, queue
from app.domain import ActionMode, Patient, Task, TaskState
from app.errors import AuthError, ValidationError
from app.identity import Session, require, verify_password
from app.services import patients

# Unlock attempts allowed on a locked screen before the session must log in again.
MAX_UNLOCK_FAILURES = 5


class SessionEnded(AuthError):
    """Too many wrong passwords on the lock screen: the user must log in again."""


def lock(session: Session, reason: str = "idle") -> None:
    """Lock an open session (auto-lock after idle, or by hand). Audited as `session.lock`.

    While locked, every service call refuses to run (`require` checks `session.locked`)."""
    if session.locked:
        return
    audit.record_now(session.vault, session, "session.lock", object_type="user",
                     object_id=session.username, details={"reason": reason})
    session.locked = True
    setattr(session, "unlock_failures", 0)


def unlock(session: Session, password: str) -> None:
    """Unlock with the session user's password; every attempt is audited.

    Raises WrongPassword-like AuthError on a wrong password, and SessionEnded after
    MAX_UNLOCK_FAILURES wrong ones (the app then closes the session)."""
    if not session.locked:
        return
    if verify_password(session, password):
        session.locked = False
        setattr(session, "unlock_failures", 0)
        audit.record_now(session.vault, session, "session.unlock", object_type="user",
                         object_id=session.username)
        return
    failures = int(getattr(session, "unlock_failures", 0)) + 1
    setattr(session, "unlock_failures", failures)
    audit.record_now(session.vault, session, "session.unlock_failed", object_type="user",
                     object_id=session.username, details={"failures": failures})
    if failures >= MAX_UNLOCK_FAILURES:
        audit.record_now(session.vault, session, "session.end", object_type="user",
                         object_id=session.username, details={"reason": "unlock failures"})
        raise SessionEnded(f"{failures} wrong passwords on the lock screen; log in again")
    raise AuthError("wrong password")


def bulk_approve(session: Session, task_ids: list[int]) -> list[Task]:
    """Approve several tasks at once. Only for kinds in `approve_each` mode, and refused
    whole (nothing approved) if any task is not eligible, so the person sees one answer."""
    require(session, "task.bulk_approve", count=len(task_ids))
    if not task_ids:
        raise ValidationError("select at least one task to approve")
    tasks = [queue.get_task_unchecked(session, t) for t in task_ids]
    problems = []
    for task in tasks:
        mode = queue.get_mode(session, task.kind)
        if mode is not ActionMode.APPROVE_EACH:
            problems.append(f"task {task.id} ({task.kind}) is in {mode.value} mode")
        elif task.state not in (TaskState.PENDING, TaskState.FAILED):
            problems.append(f"task {task.id} is {task.state.value}")
    if problems:
        raise ValidationError("bulk approve is only for pending tasks of kinds in approve-each "
                              "mode: " + "; ".join(problems[:5]))
    audit.record_now(session.vault, session, "task.bulk_approve", object_type="task",
                     details={"task_ids": task_ids})
    return [queue.approve(session, t) for t in task_ids]


def change_marker(session: Session) -> int:
    """The id of the audit log's last row that records a change. Every change by any
    process writes an audit row, so a new value since the last poll means the vault
    changed: the desktop's cheap backstop for changes by `offhold run` or another
    workstation (it walks back from the newest row). Views and searches are skipped: the
    refresh a change causes is itself audited as views, and must not look like a change."""
    require(session, "task.view")
    row = session.vault.query_one(
        "SELECT id FROM audit_log WHERE action NOT LIKE '%.view' AND action NOT LIKE "
        "'%.search' ORDER BY id DESC LIMIT 1")
    return int(row[0]) if row is not None else 0


def assignable_users(session: Session) -> list[str]:
    """Active user names a task may be reassigned to (for managers, who reassign)."""
    require(session, "task.reassign")
    return [str(r[0]) for r in session.vault.query(
        "SELECT username FROM users WHERE active = 1 ORDER BY username")]


@dataclass
class AppointmentRow:
    start_at: datetime
    provider: str
    visit_type: str
    status: str


@dataclass
class PatientPage:
    patient: Patient
    open_tasks: list[Task] = field(default_factory=list)
    closed_tasks: list[Task] = field(default_factory=list)
    appointments: list[AppointmentRow] = field(default_factory=list)


def patient_page(session: Session, patient_id: int) -> PatientPage:
    """A patient's record with coverage, their tasks (only kinds the user works) and
    appointments. Opening it is audited as a view (by `patients.get_patient`)."""
    patient = patients.get_patient(session, patient_id, purpose="patient page")
    open_tasks = queue.list_tasks(session, queue.QueueFilter(
        patient_id=patient_id, states=tuple(sorted(s.value for s in queue.OPEN_STATES))),
        limit=200)
    closed = queue.list_tasks(session, queue.QueueFilter(
        patient_id=patient_id, states=("done", "rejected")), limit=200, order="newest")
    rows: list[Any] = session.vault.query(
        "SELECT start_at, provider, visit_type, status FROM appointments WHERE patient_id = ? "
        "ORDER BY start_at DESC LIMIT 100", (patient_id,))
    appointments = [AppointmentRow(clock.parse_iso(r[0]), r[1] or "", r[2] or "", r[3] or "")
                    for r in rows]
    return PatientPage(patient, open_tasks, closed, appointments)


def patient_names(session: Session, patient_ids: list[int]) -> dict[int, str]:
    """'Last, First' for the patients on a queue page (display only; opening a record is
    the audited view)."""
    require(session, "patient.view")
    ids = sorted({int(i) for i in patient_ids})
    if not ids:
        return {}
    rows = session.vault.query(f"SELECT id, last_name, first_name FROM patients WHERE id IN "
                               f"({','.join('?' * len(ids))})", tuple(ids))
    return {int(r[0]): f"{r[1]}, {r[2]}" for r in rows}


@dataclass
class QueueView:
    """Everything the queue screen shows at once, loaded in one background call."""

    tasks: list[Task]
    names: dict[int, str]
    counts: dict[str, int]
    modes: dict[str, ActionMode]


def queue_view(session: Session, flt: queue.QueueFilter, limit: int = 200) -> QueueView:
    """A queue page with patient names, the sidebar counts and each kind's mode."""
    tasks = queue.list_tasks(session, flt, limit=limit)
    names = patient_names(session, [t.patient_id for t in tasks if t.patient_id is not None])
    return QueueView(tasks, names, queue.queue_counts(session), queue.all_modes(session))
