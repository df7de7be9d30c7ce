"""Local models, intake and outreach: the model registry (pinned by SHA-256), the active
model per task kind, one row per model run (prompt, output, hash, prompt version,
parameters, duration), intake forms as received, and the outreach outbox."""

from typing import Any

VERSION = 4

SQL = """
CREATE TABLE models (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    filename TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    size INTEGER NOT NULL,
    context_length INTEGER,
    chat_template TEXT NOT NULL DEFAULT '',
    license TEXT NOT NULL DEFAULT '',
    architecture TEXT NOT NULL DEFAULT '',
    bundled INTEGER NOT NULL DEFAULT 0,
    note TEXT NOT NULL DEFAULT '',
    imported_at TEXT NOT NULL,
    imported_by TEXT NOT NULL,
    grounding_checks INTEGER NOT NULL DEFAULT 0,
    grounding_passes INTEGER NOT NULL DEFAULT 0,
    active INTEGER NOT NULL DEFAULT 1
);
CREATE TABLE model_assignments (
    task_kind TEXT PRIMARY KEY,
    model_id INTEGER NOT NULL REFERENCES models(id)
);
CREATE TABLE model_runs (
    id INTEGER PRIMARY KEY,
    ts TEXT NOT NULL,
    actor TEXT NOT NULL,
    model_id INTEGER REFERENCES models(id),
    model_sha256 TEXT NOT NULL,
    prompt_name TEXT NOT NULL,
    prompt_version INTEGER NOT NULL,
    params TEXT NOT NULL DEFAULT '{}',
    prompt TEXT NOT NULL,
    output TEXT NOT NULL,
    finish_reason TEXT NOT NULL,
    prompt_tokens INTEGER NOT NULL DEFAULT 0,
    completion_tokens INTEGER NOT NULL DEFAULT 0,
    duration_ms INTEGER NOT NULL,
    ttft_ms INTEGER,
    valid INTEGER,
    grounded INTEGER,
    task_kind TEXT NOT NULL DEFAULT '',
    subject TEXT NOT NULL DEFAULT '',
    patient_id INTEGER REFERENCES patients(id)
);
CREATE INDEX model_runs_ts ON model_runs(ts);
CREATE INDEX model_runs_model ON model_runs(model_sha256);
CREATE TABLE intake_forms (
    id INTEGER PRIMARY KEY,
    sha256 TEXT NOT NULL,
    source_kind TEXT NOT NULL CHECK (source_kind IN
        ('fillable_pdf','text_pdf','text','scanned_pdf','image')),
    blob_id INTEGER REFERENCES blobs(id),
    patient_id INTEGER REFERENCES patients(id),
    task_id INTEGER REFERENCES tasks(id),
    status TEXT NOT NULL DEFAULT 'review'
        CHECK (status IN ('review','manual_entry','applied','rejected')),
    received_at TEXT NOT NULL,
    received_by TEXT NOT NULL
);
CREATE INDEX intake_forms_sha ON intake_forms(sha256);
CREATE TABLE outbox (
    id INTEGER PRIMARY KEY,
    task_id INTEGER NOT NULL UNIQUE REFERENCES tasks(id),
    patient_id INTEGER REFERENCES patients(id),
    kind TEXT NOT NULL,
    channel TEXT NOT NULL CHECK (channel IN ('sms','email','letter')),
    recipient TEXT NOT NULL,
    subject TEXT NOT NULL DEFAULT '',
    body TEXT NOT NULL,
    tcpa_exempt INTEGER NOT NULL DEFAULT 1,
    state TEXT NOT NULL DEFAULT 'ready' CHECK (state IN ('ready','sent','failed','cancelled')),
    created_at TEXT NOT NULL,
    created_by TEXT NOT NULL,
    sent_at TEXT
);
CREATE INDEX outbox_state ON outbox(state, channel);
"""


def apply(conn: Any) -> None:
    for statement in SQL.split(";\n"):
        if statement.strip():
            conn.execute(statement)
