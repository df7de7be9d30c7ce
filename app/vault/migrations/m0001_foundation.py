"""Foundation schema: practice, settings, users, audit log, payers, patients, coverage,
blobs, appointments, and the work queue."""

from typing import Any

VERSION = 1

SQL = """
CREATE TABLE practice (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    name TEXT NOT NULL,
    timezone TEXT NOT NULL DEFAULT 'America/New_York',
    created_at TEXT NOT NULL
);
CREATE TABLE settings (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE users (
    id INTEGER PRIMARY KEY,
    username TEXT NOT NULL UNIQUE,
    display_name TEXT NOT NULL DEFAULT '',
    pw_hash TEXT NOT NULL,
    roles TEXT NOT NULL,
    totp_secret TEXT,
    active INTEGER NOT NULL DEFAULT 1,
    created_at TEXT NOT NULL
);
CREATE TABLE audit_log (
    id INTEGER PRIMARY KEY,
    ts TEXT NOT NULL,
    actor TEXT NOT NULL,
    role TEXT NOT NULL,
    action TEXT NOT NULL,
    object_type TEXT NOT NULL DEFAULT '',
    object_id TEXT NOT NULL DEFAULT '',
    patient_id INTEGER,
    details TEXT NOT NULL DEFAULT '{}',
    prev_hash TEXT NOT NULL,
    row_hash TEXT NOT NULL,
    hmac TEXT NOT NULL
);
CREATE INDEX audit_ts ON audit_log(ts);
CREATE INDEX audit_patient ON audit_log(patient_id);
CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit_log
BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit_log
BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;

CREATE TABLE payers (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    plan_type TEXT NOT NULL CHECK (plan_type IN
        ('medicare_advantage','medicaid','chip','qhp','erisa','commercial','medicare_ffs')),
    payer_code TEXT NOT NULL DEFAULT '',
    appeal_window_days INTEGER,
    timely_filing_days INTEGER,
    decision_days_standard INTEGER,
    decision_hours_expedited INTEGER,
    portal_recipe TEXT,
    portal_enabled INTEGER NOT NULL DEFAULT 0,
    created_at TEXT NOT NULL
);
CREATE TABLE patients (
    id INTEGER PRIMARY KEY,
    first_name TEXT NOT NULL,
    last_name TEXT NOT NULL,
    dob TEXT NOT NULL,
    sex TEXT NOT NULL DEFAULT '',
    phone TEXT NOT NULL DEFAULT '',
    email TEXT NOT NULL DEFAULT '',
    address TEXT NOT NULL DEFAULT '',
    allergies TEXT NOT NULL DEFAULT '[]',
    medications TEXT NOT NULL DEFAULT '[]',
    problems TEXT NOT NULL DEFAULT '[]',
    sms_opt_out INTEGER NOT NULL DEFAULT 0,
    email_opt_out INTEGER NOT NULL DEFAULT 0,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE INDEX patients_name ON patients(last_name, first_name);
CREATE TABLE coverages (
    id INTEGER PRIMARY KEY,
    patient_id INTEGER NOT NULL REFERENCES patients(id),
    payer_id INTEGER NOT NULL REFERENCES payers(id),
    member_id TEXT NOT NULL,
    group_number TEXT NOT NULL DEFAULT '',
    plan_name TEXT NOT NULL DEFAULT '',
    priority INTEGER NOT NULL DEFAULT 1,
    active INTEGER NOT NULL DEFAULT 1,
    effective_date TEXT,
    termination_date TEXT
);
CREATE INDEX coverages_patient ON coverages(patient_id);
CREATE INDEX coverages_member ON coverages(member_id);
CREATE TABLE appointments (
    id INTEGER PRIMARY KEY,
    patient_id INTEGER NOT NULL REFERENCES patients(id),
    provider TEXT NOT NULL DEFAULT '',
    start_at TEXT NOT NULL,
    visit_type TEXT NOT NULL DEFAULT 'office_visit',
    status TEXT NOT NULL DEFAULT 'scheduled'
        CHECK (status IN ('scheduled','completed','no_show','cancelled')),
    created_at TEXT NOT NULL
);
CREATE INDEX appointments_start ON appointments(start_at);

CREATE TABLE blobs (
    id INTEGER PRIMARY KEY,
    sha256 TEXT NOT NULL,
    mime TEXT NOT NULL,
    size INTEGER NOT NULL,
    data BLOB NOT NULL,
    created_at TEXT NOT NULL
);
CREATE TABLE tasks (
    id INTEGER PRIMARY KEY,
    kind TEXT NOT NULL,
    state TEXT NOT NULL CHECK (state IN
        ('shadow','pending','approved','executing','done','rejected','failed','snoozed')),
    priority INTEGER NOT NULL DEFAULT 2,
    due_at TEXT,
    role TEXT NOT NULL,
    assignee TEXT,
    subject_type TEXT NOT NULL DEFAULT '',
    subject_id TEXT NOT NULL DEFAULT '',
    patient_id INTEGER REFERENCES patients(id),
    title TEXT NOT NULL,
    draft TEXT NOT NULL DEFAULT '',
    original_draft TEXT NOT NULL DEFAULT '',
    payload TEXT NOT NULL DEFAULT '{}',
    natural_key TEXT NOT NULL UNIQUE,
    shadow_verdict TEXT,
    escalation_level INTEGER NOT NULL DEFAULT 0,
    snoozed_until TEXT,
    resume_state TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    acted_at TEXT
);
CREATE INDEX tasks_queue ON tasks(state, kind, priority, due_at, id);
CREATE INDEX tasks_patient ON tasks(patient_id);
CREATE TABLE task_evidence (
    id INTEGER PRIMARY KEY,
    task_id INTEGER NOT NULL REFERENCES tasks(id),
    label TEXT NOT NULL,
    excerpt TEXT NOT NULL DEFAULT '',
    blob_id INTEGER REFERENCES blobs(id),
    created_at TEXT NOT NULL
);
CREATE INDEX task_evidence_task ON task_evidence(task_id);
CREATE TABLE task_history (
    id INTEGER PRIMARY KEY,
    task_id INTEGER NOT NULL REFERENCES tasks(id),
    ts TEXT NOT NULL,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    from_state TEXT,
    to_state TEXT,
    note TEXT NOT NULL DEFAULT '',
    draft_before TEXT,
    draft_after TEXT
);
CREATE INDEX task_history_task ON task_history(task_id);
CREATE TABLE notifications (
    id INTEGER PRIMARY KEY,
    ts TEXT NOT NULL,
    role TEXT,
    username TEXT,
    task_id INTEGER REFERENCES tasks(id),
    level TEXT NOT NULL DEFAULT 'info',
    message TEXT NOT NULL,
    read_at TEXT
);
CREATE INDEX notifications_unread ON notifications(read_at, role);
CREATE TABLE action_modes (
    kind TEXT PRIMARY KEY,
    mode TEXT NOT NULL CHECK (mode IN ('shadow','approve_each','automatic'))
);
"""


def apply(conn: Any) -> None:
    for statement in SQL.split(";\n"):
        if statement.strip():
            conn.execute(statement)
