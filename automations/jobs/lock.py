"""One scheduler per vault: an OS lock on `scheduler.lock` in the vault's folder.

`offhold run` and the desktop app both host the same APScheduler jobs; two of them on one
vault would run every job twice. The lock is the operating system's (flock on POSIX,
msvcrt on Windows), so a scheduler that crashes or is killed releases it with its
process: no stale lock to clear by hand. The file holds only the holder's process id and
kind, the machine's name and when it took the lock, for the message ("offhold run, pid
4242, on frontdesk-2 since 2026-12-01 08:02 EST"); never PHI.
"""

from __future__ import annotations

import os
import socket
import sys
from datetime import datetime
from pathlib import Path
from typing import IO

from app.errors import KnownError

LOCK_NAME = "scheduler.lock"


class SchedulerBusy(KnownError):
    """Another process is running this vault's scheduler."""


class SchedulerLock:
    def __init__(self, vault_dir: str | Path, holder: str) -> None:
        self.path = Path(vault_dir) / LOCK_NAME
        self.holder = holder  # "offhold run" | "desktop app" | ...
        self._file: IO[str] | None = None

    @property
    def held(self) -> bool:
        return self._file is not None

    def acquire(self) -> None:
        """Take the lock without waiting; SchedulerBusy names the holder when it is taken."""
        if self._file is not None:
            return
        # errors="replace": a damaged holder line must still read as "busy", not crash
        handle = open(self.path, "a+", encoding="utf-8",  # noqa: SIM115 - held while running
                      errors="replace")
        try:
            _lock(handle)
        except OSError:
            handle.seek(0)
            who = handle.read(200).strip() or "another process"
            handle.close()
            raise SchedulerBusy(f"the scheduler for this vault is already running ({who}); "
                                "only one runs its jobs at a time") from None
        handle.seek(0)
        handle.truncate()
        since = datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z")
        handle.write(f"{self.holder}, pid {os.getpid()}, on {socket.gethostname()[:64]} "
                     f"since {since}\n")
        handle.flush()
        self._file = handle

    def release(self) -> None:
        handle, self._file = self._file, None
        if handle is None:
            return
        try:
            handle.seek(0)
            handle.truncate()  # the next holder writes its own line
            _unlock(handle)
        finally:
            handle.close()


def _lock(handle: IO[str]) -> None:
    if sys.platform == "win32":
        import msvcrt
        handle.seek(0)
        msvcrt.locking(handle.fileno(), msvcrt.LK_NBLCK, 1)  # type: ignore[attr-defined]
    else:
        import fcntl
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)


def _unlock(handle: IO[str]) -> None:
    if sys.platform == "win32":
        import msvcrt
        handle.seek(0)
        msvcrt.locking(handle.fileno(), msvcrt.LK_UNLCK, 1)  # type: ignore[attr-defined]
    else:
        import fcntl
        fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
