"""The vault workload against the same workload on plain sqlite3.

Both sides run the app's own code path (queue.create_task with its audit rows, queue
pages, state changes); only the connection differs: SQLCipher with the vault key, or
the standard library's sqlite3 with the same pragmas (WAL, synchronous=FULL)."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import sqlcipher3
from _common import report

from app import queue
from app.identity import Session, init_vault
from app.vault import migrations
from app.vault.db import CACHE_KIB, Vault
from app.vault.keys import KeyEnvelope

TASKS = 10_000
BATCH = 25  # a workflow run writes its tasks in one transaction


def workload(session: Session) -> float:
    start = time.perf_counter()
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
    return time.perf_counter() - start


def plain_session(directory: Path) -> Session:
    conn = sqlite3.connect(str(directory / "plain.db"), check_same_thread=False,
                           isolation_level=None)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = FULL")
    conn.execute("PRAGMA foreign_keys = ON")
    conn.execute(f"PRAGMA cache_size = -{CACHE_KIB}")
    migrations.migrate(conn)
    envelope = KeyEnvelope.create(directory / "plain.keys")
    vault = Vault(directory, b"\x00" * 32, envelope, conn)
    return Session.system(vault, "bench")


def main() -> None:
    no_memsec = "--no-memory-security" in sys.argv
    if no_memsec:
        # Diagnostic only: SQLCipher's memory security is process-global and wraps every
        # allocation (zeroing, mlock); this run shows what it alone costs.
        import app.vault.db as vault_db
        vault_db.check_cipher_settings = lambda conn: None
        real_connect = sqlcipher3.connect

        class _Conn:
            def __init__(self, *a: object, **kw: object) -> None:
                self._c = real_connect(*a, **kw)

            def execute(self, sql: str, *args: object) -> object:
                if "cipher_memory_security" in sql:
                    sql = "PRAGMA cipher_memory_security = OFF"
                return self._c.execute(sql, *args)

            def __getattr__(self, name: str) -> object:
                return getattr(self._c, name)

        vault_db.sqlcipher3.connect = _Conn  # type: ignore[assignment]
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp)
        owner, _ = init_vault(base / "vault", "Bench", "owner", "bench-password")
        encrypted = Session.system(owner.vault, "bench")
        plain = plain_session(base)
        t_plain = workload(plain)
        t_vault = workload(encrypted)
        plain.vault.close()
        owner.vault.close()
    if no_memsec:
        print(f"bench vault_vs_sqlite_without_memory_security {t_vault / t_plain:.3f} "
              f"target <= 1.25  # diagnostic: vault {t_vault:.2f}s, sqlite3 {t_plain:.2f}s")
        return
    report("vault_vs_sqlite", t_vault / t_plain, "<=", 1.25,
           f"vault {t_vault:.2f}s, sqlite3 {t_plain:.2f}s; {TASKS} tasks + audit, pages, "
           "1000 approvals; cipher_memory_security ON")
    # The same workload with memory security off, in a fresh process (the setting is global).
    subprocess.run([sys.executable, __file__, "--no-memory-security"], check=True)


if __name__ == "__main__":
    main()
