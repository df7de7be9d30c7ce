"""kill -9 during writes, then reopen: integrity holds and no acknowledged commit is lost."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from app import audit
from app.identity import unlock
from tests.conftest import OWNER_PASSWORD

CYCLES = 25


@pytest.mark.slow
def test_kill_nine_loses_no_acknowledged_commit(owner_session, vault_dir: Path) -> None:
    key = owner_session.vault.key.hex()
    owner_session.vault.close()
    rng = random.Random(7)
    next_id = 0
    acknowledged: list[int] = []
    root = Path(__file__).resolve().parents[2]
    for _cycle in range(CYCLES):
        proc = subprocess.Popen(
            [sys.executable, "-m", "tests.unit.crash_writer", str(vault_dir), str(next_id)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, cwd=root, text=True)
        assert proc.stdin and proc.stdout
        proc.stdin.write(key + "\n")
        proc.stdin.close()
        # wait for the first ack, then let it run a random while before the kill
        first = proc.stdout.readline()
        assert first.strip(), "writer produced no commit"
        acknowledged.append(int(first))
        time.sleep(rng.uniform(0.01, 0.15))
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        for line in proc.stdout:
            if line.strip():
                acknowledged.append(int(line))
        proc.stdout.close()
        next_id = max(acknowledged) + 1
    session = unlock(vault_dir, "owner", OWNER_PASSWORD)
    try:
        assert session.vault.integrity_problems() == []
        present = {int(r[0]) for r in session.vault.query(
            "SELECT object_id FROM audit_log WHERE action = 'crash.tick'")}
        missing = set(acknowledged) - present
        assert not missing, f"lost acknowledged commits: {sorted(missing)[:10]}"
        # the owner's login signed a checkpoint over every row the killed writers left
        assert session.vault.warnings == []
        result = audit.verify(session.vault)
        assert result.ok, result.problems
        assert result.checkpoint_rows >= len(acknowledged)
        assert len(acknowledged) >= CYCLES
    finally:
        session.vault.close()
