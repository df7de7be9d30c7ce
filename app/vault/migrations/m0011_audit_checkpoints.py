"""Owner-signed audit checkpoints: the row count and head hash of the audit chain, and the
roles every active user holds, signed with the owner key (app.audit.checkpoints). Rows are
append-only like the audit log itself."""

from typing import Any

VERSION = 11

SQL = """
CREATE TABLE audit_checkpoints (
    id INTEGER PRIMARY KEY,
    ts TEXT NOT NULL,
    row_count INTEGER NOT NULL,
    head_hash TEXT NOT NULL,
    roles TEXT NOT NULL,
    signer TEXT NOT NULL,
    signature TEXT NOT NULL
);
CREATE TRIGGER checkpoint_no_update BEFORE UPDATE ON audit_checkpoints
BEGIN SELECT RAISE(ABORT, 'audit checkpoints are append-only'); END;
CREATE TRIGGER checkpoint_no_delete BEFORE DELETE ON audit_checkpoints
BEGIN SELECT RAISE(ABORT, 'audit checkpoints are append-only'); END;
"""


def apply(conn: Any) -> None:
    for statement in SQL.strip().split(";\n"):
        if statement.strip():
            conn.execute(statement)
