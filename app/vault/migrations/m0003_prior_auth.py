"""Prior authorizations and their status history.

Times are ISO-8601 UTC strings (app.clock.iso); service/approval dates are local
YYYY-MM-DD. CPT codes only, never descriptions. The APScheduler job table
(`apscheduler_jobs`) is created by the job store itself when the scheduler starts.
"""

from typing import Any

VERSION = 3

SQL = """
CREATE TABLE prior_auths (
    id INTEGER PRIMARY KEY,
    patient_id INTEGER NOT NULL REFERENCES patients(id),
    payer_id INTEGER NOT NULL REFERENCES payers(id),
    coverage_id INTEGER REFERENCES coverages(id),
    plan_type TEXT NOT NULL,
    cpt_code TEXT NOT NULL CHECK (length(cpt_code) = 5),
    units INTEGER NOT NULL CHECK (units > 0),
    service_date TEXT NOT NULL,
    urgency TEXT NOT NULL CHECK (urgency IN ('expedited','standard')),
    submitted_at TEXT NOT NULL,
    payer_ref TEXT NOT NULL DEFAULT '',
    status TEXT NOT NULL CHECK (status IN ('submitted','pending','info_requested','approved',
        'partially_approved','denied','cancelled','expired','not_found')),
    status_changed_at TEXT NOT NULL,
    decision_due_at TEXT NOT NULL,
    clock_basis TEXT NOT NULL DEFAULT '',
    approved_units INTEGER,
    approved_from TEXT,
    approved_through TEXT,
    expires_on TEXT,
    last_checked_at TEXT,
    next_check_at TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE INDEX prior_auths_board ON prior_auths(status, decision_due_at);
CREATE INDEX prior_auths_next_check ON prior_auths(next_check_at);
CREATE INDEX prior_auths_patient ON prior_auths(patient_id);
CREATE TABLE pa_status_history (
    id INTEGER PRIMARY KEY,
    pa_id INTEGER NOT NULL REFERENCES prior_auths(id),
    ts TEXT NOT NULL,
    status TEXT NOT NULL,
    source TEXT NOT NULL,
    payer_wording TEXT NOT NULL DEFAULT '',
    evidence_blob_id INTEGER REFERENCES blobs(id),
    actor TEXT NOT NULL,
    note TEXT NOT NULL DEFAULT ''
);
CREATE INDEX pa_status_history_pa ON pa_status_history(pa_id, id);
"""


def apply(conn: Any) -> None:
    for statement in SQL.split(";\n"):
        if statement.strip():
            conn.execute(statement)
