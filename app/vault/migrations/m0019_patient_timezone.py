"""A patient's own time zone (IANA name, empty = the practice's), so quiet hours for
texts and email are kept in the patient's time, not only the practice's."""

from typing import Any

VERSION = 19


def apply(conn: Any) -> None:
    conn.execute("ALTER TABLE patients ADD COLUMN timezone TEXT NOT NULL DEFAULT ''")
