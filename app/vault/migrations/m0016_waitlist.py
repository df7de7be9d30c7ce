"""The waitlist (who wants an earlier visit, in which window, with which preferences),
the slot offers made from it (one row per freed slot and candidate: drafted, offered with
a hold, accepted, expired), and when the schedule workflow first saw each cancellation
(schedule exports carry no cancellation time; a late cancellation is judged from it)."""

from typing import Any

VERSION = 16

SQL = """
CREATE TABLE waitlist_entries (
    id INTEGER PRIMARY KEY,
    patient_id INTEGER NOT NULL REFERENCES patients(id),
    provider TEXT NOT NULL DEFAULT '',
    visit_type TEXT NOT NULL DEFAULT '',
    earliest TEXT NOT NULL,
    latest TEXT NOT NULL,
    preferred_days TEXT NOT NULL DEFAULT '[]',
    preferred_times TEXT NOT NULL DEFAULT '[]',
    state TEXT NOT NULL DEFAULT 'waiting' CHECK (state IN ('waiting','booked','removed')),
    booked_appointment_id INTEGER REFERENCES appointments(id),
    created_by TEXT NOT NULL,
    created_at TEXT NOT NULL
);
CREATE INDEX waitlist_entries_state ON waitlist_entries(state);
CREATE TABLE waitlist_offers (
    id INTEGER PRIMARY KEY,
    entry_id INTEGER NOT NULL REFERENCES waitlist_entries(id),
    slot_appointment_id INTEGER NOT NULL REFERENCES appointments(id),
    rank INTEGER NOT NULL,
    reasons TEXT NOT NULL DEFAULT '[]',
    state TEXT NOT NULL DEFAULT 'drafted'
        CHECK (state IN ('drafted','offered','accepted','expired','withdrawn')),
    task_id INTEGER REFERENCES tasks(id),
    offered_at TEXT,
    hold_until TEXT,
    decided_at TEXT,
    booked_appointment_id INTEGER REFERENCES appointments(id),
    created_at TEXT NOT NULL,
    UNIQUE (slot_appointment_id, entry_id)
);
CREATE INDEX waitlist_offers_state ON waitlist_offers(state, hold_until);
CREATE TABLE schedule_seen (
    appointment_id INTEGER PRIMARY KEY REFERENCES appointments(id),
    cancelled_seen_at TEXT NOT NULL
)
"""


def apply(conn: Any) -> None:
    for statement in SQL.split(";\n"):
        if statement.strip():
            conn.execute(statement)
