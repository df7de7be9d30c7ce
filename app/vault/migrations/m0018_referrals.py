"""Referrals: incoming ones (keyed by their source and the source's own id, so a
re-import finds them) with the triage decision, and outbound ones tracked through their
loop, each step with its time and actor (the 'what happened to this referral' view)."""

from typing import Any

VERSION = 18

SQL = """
CREATE TABLE referrals (
    id INTEGER PRIMARY KEY,
    direction TEXT NOT NULL CHECK (direction IN ('in','out')),
    patient_id INTEGER REFERENCES patients(id),
    source TEXT NOT NULL,
    source_id TEXT NOT NULL,
    counterpart TEXT NOT NULL DEFAULT '',
    specialty TEXT NOT NULL DEFAULT '',
    reason TEXT NOT NULL DEFAULT '',
    urgency TEXT NOT NULL DEFAULT '',
    status TEXT NOT NULL,
    due_at TEXT,
    appointment_at TEXT,
    task_id INTEGER REFERENCES tasks(id),
    details TEXT NOT NULL DEFAULT '{}',
    created_by TEXT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    UNIQUE (direction, source, source_id)
);
CREATE INDEX referrals_patient ON referrals(patient_id);
CREATE INDEX referrals_open ON referrals(direction, status);
CREATE TABLE referral_steps (
    id INTEGER PRIMARY KEY,
    referral_id INTEGER NOT NULL REFERENCES referrals(id),
    step TEXT NOT NULL,
    at TEXT NOT NULL,
    actor TEXT NOT NULL,
    note TEXT NOT NULL DEFAULT '',
    recorded_at TEXT NOT NULL
);
CREATE INDEX referral_steps_referral ON referral_steps(referral_id, id);
"""


def apply(conn: Any) -> None:
    for statement in SQL.split(";\n"):
        if statement.strip():
            conn.execute(statement)
