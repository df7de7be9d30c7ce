"""The vault workload against the same workload on plain sqlite3.

Both sides run the app's own code path (queue.create_task with its audit rows, queue
pages, state changes); only the connection differs: SQLCipher with the vault key, or
the standard library's sqlite3 with the same pragmas (WAL, synchronous=FULL)."""

from __future__ import annotations

import sqlite3
import sys
import tempfile
import time
from pathlib import Path

import sqlcipher3
from _common import report

from app import queue
from app.identity import Session, init_vault
from app.vault import migrations
from app.vault.db import CACHE_KIB, STATEMENT_CACHE, Vault
from app.vault.keys import KeyEnvelope

TASKS = 10_000
BATCH = 25  # a workflow run writes its tasks in one transaction
ROUNDS = 3  # best of three per side, fresh databases each round (2 shared cores)


def workload(session: Session) -> tuple[float, float]:
    """(wall, CPU) seconds: CPU time is what the other processes on the 2 cores disturb
    least, so the note prints its ratio too."""
    start, cpu = time.perf_counter(), time.process_time()
    for first in range(0, TASKS, BATCH):
        with session.vault.write():
            for i in range(first, first + BATCH):
                queue.create_task(session, "pa_followup", f"bench:{i}", f"Check PA {i}",
                                  draft="Status unchanged on the portal.", priority=1 + i % 3)
    for page in range(40):
        queue.list_tasks(session, limit=50, offset=page * 50)
    queue.set_mode(session, "pa_followup", "approve_each")  # promotes all 10k in one go
    for task in queue.list_tasks(session, limit=1000):
        queue.approve(session, task.id)
    for page in range(40):
        queue.list_tasks(session, limit=50, offset=page * 50)
    return time.perf_counter() - start, time.process_time() - cpu


def plain_connect(path: Path, readonly: bool = False) -> sqlite3.Connection:
    conn = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None,
                           cached_statements=STATEMENT_CACHE)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = FULL")
    conn.execute("PRAGMA foreign_keys = ON")
    conn.execute(f"PRAGMA cache_size = -{CACHE_KIB}")
    if readonly:
        conn.execute("PRAGMA query_only = ON")
    return conn


def plain_session(directory: Path) -> Session:
    path = directory / "plain.db"
    conn = plain_connect(path)
    migrations.migrate(conn)
    envelope = KeyEnvelope.create(directory / "plain.keys")
    # The same writer-plus-pooled-readers shape as the vault, on plain connections.
    vault = Vault(directory, b"\x00" * 32, envelope, conn,
                  reader=lambda: plain_connect(path, readonly=True))
    return Session.system(vault, "bench")


def main() -> None:
    memsec = "--memory-security" in sys.argv
    if memsec:
        # Diagnostic only (not run by `make bench`): SQLCipher's memory security is
        # process-global and wraps every allocation (zeroing, mlock); this run shows what
        # turning it back on would cost.
        real_connect = sqlcipher3.connect

        class _Conn:
            def __init__(self, *a: object, **kw: object) -> None:
                self._c = real_connect(*a, **kw)

            def execute(self, sql: str, *args: object) -> object:
                if "cipher_memory_security" in sql:
                    sql = "PRAGMA cipher_memory_security = ON"
                return self._c.execute(sql, *args)

            def __getattr__(self, name: str) -> object:
                return getattr(self._c, name)

        sqlcipher3.connect = _Conn  # the module app.vault.db calls
    t_plain = t_vault = c_plain = c_vault = float("inf")
    for rnd in range(ROUNDS):
        with tempfile.TemporaryDirectory() as tmp:
            base = Path(tmp)
            owner, _ = init_vault(base / "vault", "Bench", "owner", "bench-password")
            encrypted = Session.system(owner.vault, "bench")
            plain = plain_session(base)
            # Alternate who goes first, so neither side always runs second in the process.
            runs = {}
            for side in ("vault", "plain") if rnd % 2 else ("plain", "vault"):
                runs[side] = workload(encrypted if side == "vault" else plain)
            t_vault, c_vault = min(t_vault, runs["vault"][0]), min(c_vault, runs["vault"][1])
            t_plain, c_plain = min(t_plain, runs["plain"][0]), min(c_plain, runs["plain"][1])
            plain.vault.close()
            owner.vault.close()
    if memsec:
        print(f"bench vault_vs_sqlite_with_memory_security {t_vault / t_plain:.3f} "
              f"# diagnostic: vault {t_vault:.2f}s, sqlite3 {t_plain:.2f}s")
        return
    report("vault_vs_sqlite", t_vault / t_plain, "<=", 1.25,
           f"best of {ROUNDS}: vault {t_vault:.2f}s, sqlite3 {t_plain:.2f}s (CPU ratio "
           f"{c_vault / c_plain:.2f}); {TASKS} tasks + "
           "audit, pages, 1000 approvals; cipher_memory_security OFF "
           "(--memory-security: the cost of ON)")


if __name__ == "__main__":
    main()
