"""A checkpoint an owner signs as a new baseline after reviewing a damaged or tampered
audit log (`offhold audit rebaseline`): verification starts again from it."""

from typing import Any

VERSION = 12


def apply(conn: Any) -> None:
    conn.execute("ALTER TABLE audit_checkpoints ADD COLUMN baseline INTEGER NOT NULL DEFAULT 0")
