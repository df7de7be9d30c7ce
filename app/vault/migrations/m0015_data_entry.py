"""Everyday data entry (issue 12): who holds a coverage (subscriber and relationship), a
patient merged into another (kept, never deleted: the audit log points at it), and the
allowed amount per payer and visit type that estimates use before the practice-wide one."""

from typing import Any

VERSION = 15

SQL = """
ALTER TABLE coverages ADD COLUMN subscriber_name TEXT NOT NULL DEFAULT '';
ALTER TABLE coverages ADD COLUMN subscriber_relationship TEXT NOT NULL DEFAULT 'self';
ALTER TABLE patients ADD COLUMN merged_into INTEGER REFERENCES patients(id);
CREATE TABLE fee_schedule (
    payer_id INTEGER NOT NULL REFERENCES payers(id),
    visit_type TEXT NOT NULL,
    allowed_amount TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    PRIMARY KEY (payer_id, visit_type)
)
"""


def apply(conn: Any) -> None:
    for statement in SQL.split(";\n"):
        if statement.strip():
            conn.execute(statement)
