"""Issue 10 #8 and #9: a refusal inside a write transaction is audited even though the
work rolls back; tasks left `executing` by a killed process come back on open."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from app import audit, queue
from app.domain import TaskState
from app.errors import PermissionDenied
from app.identity import Session, unlock
from app.identity.permissions import Role
from tests.conftest import OWNER_PASSWORD

ROOT = Path(__file__).resolve().parents[2]


def test_cross_role_refusals_are_audited_in_their_own_transaction(owner_session) -> None:
    """The probe: 10 of 10 cross-role approvals left no permission.denied row."""
    desk = Session(owner_session.vault, "desk", frozenset({Role.FRONT_DESK}))
    ids = [queue.create_task(owner_session, "denial_review", f"d{i}", "Denial")[0].id
           for i in range(10)]
    queue.set_mode(owner_session, "denial_review", "approve_each")
    for task_id in ids:
        with pytest.raises(PermissionDenied):
            queue.approve(desk, task_id)
    rows = owner_session.vault.query("SELECT object_id FROM audit_log WHERE actor = 'desk' "
                                     "AND action = 'permission.denied'")
    assert sorted(int(r[0]) for r in rows) == sorted(ids)
    assert audit.verify(owner_session.vault).ok


def test_refusal_inside_an_outer_transaction_survives_its_rollback(owner_session) -> None:
    from app.identity import require
    desk = Session(owner_session.vault, "desk", frozenset({Role.FRONT_DESK}))
    with pytest.raises(PermissionDenied):
        with owner_session.vault.write():
            require(desk, "backup.create")
    row = owner_session.vault.query_one("SELECT actor, action FROM audit_log ORDER BY id DESC")
    assert tuple(row) == ("desk", "permission.denied")


KILLER = """
import os, sys, time
from pathlib import Path
from app import queue
from app.identity import unlock
from app.queue import effects
session = unlock(Path(sys.argv[1]), "owner", sys.argv[2])
def hang(session, task):
    print("running", flush=True)
    time.sleep(60)
    return "never"
effects.install(effects.Effects({"outreach": effects.KindEffect(hang)}))
queue.approve(session, int(sys.argv[3]))
"""


@pytest.mark.expected_logs(r"task\(s\) interrupted while executing were returned as failed")
def test_task_killed_while_executing_comes_back_as_failed(owner_session,
                                                          vault_dir: Path) -> None:
    task, _ = queue.create_task(owner_session, "outreach", "o1", "Reminder", draft="Hello")
    queue.set_mode(owner_session, "outreach", "approve_each")
    owner_session.vault.close()
    proc = subprocess.Popen([sys.executable, "-c", KILLER, str(vault_dir), OWNER_PASSWORD,
                             str(task.id)], cwd=ROOT, stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "running"
    # another process opening the vault now leaves the live run alone
    live = unlock(vault_dir, "owner", OWNER_PASSWORD)
    assert queue.get_task_unchecked(live, task.id).state is TaskState.EXECUTING
    live.vault.close()
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    proc.stdout.close()
    time.sleep(0.05)
    session = unlock(vault_dir, "owner", OWNER_PASSWORD)
    try:
        again = queue.get_task_unchecked(session, task.id)
        assert again.state is TaskState.FAILED
        assert any("interrupted while executing" in w for w in session.vault.warnings)
        notes = [r[0] for r in session.vault.query(
            "SELECT note FROM task_history WHERE task_id = ? ORDER BY id", (task.id,))]
        assert notes[-1].startswith("interrupted")
        queue.retry(session, task.id)  # a person can act on it again
        assert queue.get_task_unchecked(session, task.id).state is TaskState.PENDING
        assert audit.verify(session.vault).ok
    finally:
        session.vault.close()


@pytest.mark.expected_logs(r"task\(s\) interrupted while executing were returned as failed")
def test_interrupted_effect_that_took_place_is_confirmed_done(owner_session,
                                                             replace_effects,
                                                             vault_dir: Path) -> None:
    """An effect keyed on the task id can say it happened: the task is then done, not
    returned; one that cannot say so goes back to a person."""
    import socket
    sent: set[int] = set()
    replace_effects(human_handoff=queue.KindEffect(
        lambda s, t: "sent", confirm=lambda s, t: "found in the outbox" if t.id in sent else None))
    queue.set_mode(owner_session, "human_handoff", "approve_each")
    done_task, _ = queue.create_task(owner_session, "human_handoff", "h1", "One")
    lost_task, _ = queue.create_task(owner_session, "human_handoff", "h2", "Two")
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)
    runner = f"runner {socket.gethostname()}:{int(dead.stdout)}"
    with owner_session.vault.write() as conn:  # as a killed approve leaves them
        for task in (done_task, lost_task):
            conn.execute("UPDATE tasks SET state = 'executing' WHERE id = ?", (task.id,))
            queue._history(conn, task.id, "owner", "execute", "approved", "executing", runner)
    sent.add(done_task.id)
    assert queue.recover_interrupted(Session.system(owner_session.vault, "recovery")) == [
        done_task.id, lost_task.id]
    assert queue.get_task_unchecked(owner_session, done_task.id).state is TaskState.DONE
    assert queue.get_task_unchecked(owner_session, lost_task.id).state is TaskState.FAILED
