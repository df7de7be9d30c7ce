"""Patients' replies to the outbox's messages: each reply kept once (its text in the
vault, never in a file or log), the message it answers (or none: a person matches it),
what it said (yes, no, stop, other) and what OffHold did with it; and which reply sources
were already read (a vendor's export by its SHA-256, a Maildir message by its key), so a
source read again records nothing twice."""

from typing import Any

VERSION = 21

SQL = """
CREATE TABLE outbox_replies (
    id INTEGER PRIMARY KEY,
    reply_key TEXT NOT NULL UNIQUE,
    outbox_id INTEGER REFERENCES outbox(id),
    patient_id INTEGER REFERENCES patients(id),
    channel TEXT NOT NULL CHECK (channel IN ('sms','email')),
    sender TEXT NOT NULL,
    body TEXT NOT NULL,
    received_at TEXT NOT NULL,
    reference TEXT NOT NULL DEFAULT '',
    source TEXT NOT NULL DEFAULT '',
    matched_by TEXT NOT NULL DEFAULT '' CHECK (matched_by IN ('', 'reference', 'contact')),
    intent TEXT NOT NULL CHECK (intent IN ('yes','no','stop','other')),
    outcome TEXT NOT NULL DEFAULT '',
    task_id INTEGER REFERENCES tasks(id),
    recorded_at TEXT NOT NULL,
    recorded_by TEXT NOT NULL
);
CREATE INDEX outbox_replies_outbox ON outbox_replies(outbox_id);
CREATE TABLE reply_sources (
    source_key TEXT PRIMARY KEY,
    read_at TEXT NOT NULL,
    replies INTEGER NOT NULL DEFAULT 0
)
"""


def apply(conn: Any) -> None:
    for statement in SQL.split(";\n"):
        if statement.strip():
            conn.execute(statement)
