"""Running an approved task's effect, and recovering tasks a dead process left executing."""

from __future__ import annotations

import logging
import os
import socket

from app.domain import Task, TaskState
from app.identity import Session, require
from app.queue import effects as _effects
from app.queue.effects import KindEffect
from app.queue.history import move
from app.queue.reads import get_task_unchecked

log = logging.getLogger("app.queue")


def execute(session: Session, task: Task, effect: KindEffect | None) -> Task:
    vault = session.vault
    if effect is None:
        with vault.write() as conn:
            move(session, conn, task.id, TaskState.APPROVED, TaskState.DONE, "complete",
                 note="approved; nothing to send automatically")
        return get_task_unchecked(session, task.id)
    with vault.write() as conn:
        # Who runs it, so a later open can tell a killed run from one still under way.
        move(session, conn, task.id, TaskState.APPROVED, TaskState.EXECUTING, "execute",
             note=_RUNNER_PREFIX + _runner())
    try:
        result = effect.effect(session, get_task_unchecked(session, task.id))
    except Exception as exc:  # the failure goes back to a person as a visible task
        log.warning("effect for task %s (%s) failed: %s", task.id, task.kind,
                    type(exc).__name__)
        with vault.write() as conn:
            move(session, conn, task.id, TaskState.EXECUTING, TaskState.FAILED, "fail",
                 note=str(exc)[:500])
    else:
        with vault.write() as conn:
            move(session, conn, task.id, TaskState.EXECUTING, TaskState.DONE, "complete",
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
                move(session, conn, task.id, TaskState.EXECUTING, TaskState.DONE, "complete",
                     note=f"confirmed after an interruption: {done_note}")
            else:
                move(session, conn, task.id, TaskState.EXECUTING, TaskState.FAILED, "fail",
                     note=INTERRUPTED)
        recovered.append(int(task_id))
    if recovered:
        log.warning("%d task(s) interrupted while executing were returned as failed",
                    len(recovered))
    return recovered
