"""The outbox sends: a claim on each message (so a retry or a second scheduler never sends
it twice), the reason a send failed, the sent text kept in the vault, the channel's
reference, and the practice's secrets (the SMTP password) kept apart from the settings
every role reads."""

from typing import Any

VERSION = 14

SQL = """
ALTER TABLE outbox ADD COLUMN claimed_at TEXT;
ALTER TABLE outbox ADD COLUMN claimed_by TEXT;
ALTER TABLE outbox ADD COLUMN attempts INTEGER NOT NULL DEFAULT 0;
ALTER TABLE outbox ADD COLUMN last_error TEXT NOT NULL DEFAULT '';
ALTER TABLE outbox ADD COLUMN sent_blob_id INTEGER REFERENCES blobs(id);
ALTER TABLE outbox ADD COLUMN sent_ref TEXT NOT NULL DEFAULT '';
ALTER TABLE outbox ADD COLUMN failure_task_id INTEGER REFERENCES tasks(id);
CREATE TABLE practice_secrets (
    name TEXT PRIMARY KEY,
    value TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    updated_by TEXT NOT NULL
)
"""


def apply(conn: Any) -> None:
    for statement in SQL.split(";\n"):
        if statement.strip():
            conn.execute(statement)
