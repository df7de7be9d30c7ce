"""Indexes for the case-blind patient lookups imports and duplicate checks make (member ID,
name and birth date compared COLLATE NOCASE). The m0001 indexes use the column's binary
collation, which SQLite cannot use for a NOCASE comparison, so each imported row scanned
every coverage and patient: a 40k-row roster took 85 s, almost all in that lookup."""

from typing import Any

VERSION = 24


def apply(conn: Any) -> None:
    conn.execute("CREATE INDEX IF NOT EXISTS coverages_member_nocase "
                 "ON coverages(member_id COLLATE NOCASE)")
    conn.execute("CREATE INDEX IF NOT EXISTS patients_name_dob_nocase ON patients("
                 "last_name COLLATE NOCASE, first_name COLLATE NOCASE, dob)")
