"""Numbered schema steps, recorded in PRAGMA user_version.

Each module `mNNNN_name.py` defines VERSION (its number) and `apply(conn)`. Steps run in
order, each in its own transaction together with the user_version bump, so a failed
step rolls back whole. A vault newer than the highest step is refused.
"""

from __future__ import annotations

import importlib
import pkgutil
from types import ModuleType
from typing import Any

from app.errors import VaultTooNew


def steps() -> list[ModuleType]:
    mods = [
        importlib.import_module(f"{__name__}.{info.name}")
        for info in pkgutil.iter_modules(__path__)
        if info.name.startswith("m") and info.name[1:5].isdigit()
    ]
    mods.sort(key=lambda m: int(m.VERSION))
    versions = [int(m.VERSION) for m in mods]
    if len(set(versions)) != len(versions):
        raise RuntimeError(f"duplicate migration numbers: {versions}")
    return mods


def latest_version() -> int:
    all_steps = steps()
    return int(all_steps[-1].VERSION) if all_steps else 0


def migrate(conn: Any) -> int:
    """Bring the schema up to date; return the version now in force."""
    current = int(conn.execute("PRAGMA user_version").fetchone()[0])
    latest = latest_version()
    if current > latest:
        raise VaultTooNew(current, latest)
    for step in steps():
        version = int(step.VERSION)
        if version <= current:
            continue
        conn.execute("BEGIN IMMEDIATE")
        try:
            step.apply(conn)
            conn.execute(f"PRAGMA user_version = {version}")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")
        current = version
    return current
