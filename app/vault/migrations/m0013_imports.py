"""Imports from the practice's own systems (837 claims, FHIR, CSV exports): claim lines
and codes as billed, one log row per import, the source's own IDs mapped to our rows
(what makes a re-import change nothing), saved CSV column mappings, and the clinical
records care gaps read (conditions, observations, procedures, immunizations, encounters,
service requests)."""

from typing import Any

VERSION = 13

SQL = """
ALTER TABLE claims ADD COLUMN source TEXT NOT NULL DEFAULT '';
ALTER TABLE claims ADD COLUMN diagnoses TEXT NOT NULL DEFAULT '[]';
ALTER TABLE claims ADD COLUMN facility_code TEXT NOT NULL DEFAULT '';
ALTER TABLE claims ADD COLUMN service_to TEXT;
ALTER TABLE claims ADD COLUMN original_reference TEXT NOT NULL DEFAULT '';
ALTER TABLE claims ADD COLUMN source_hash TEXT NOT NULL DEFAULT '';
CREATE TABLE claim_lines (
    id INTEGER PRIMARY KEY,
    claim_id INTEGER NOT NULL REFERENCES claims(id),
    ordinal INTEGER NOT NULL,
    procedure TEXT NOT NULL DEFAULT '',
    code TEXT NOT NULL DEFAULT '',
    modifiers TEXT NOT NULL DEFAULT '[]',
    revenue_code TEXT NOT NULL DEFAULT '',
    charge TEXT NOT NULL,
    units TEXT,
    unit_basis TEXT NOT NULL DEFAULT '',
    service_date TEXT,
    diagnosis_pointers TEXT NOT NULL DEFAULT '[]',
    UNIQUE (claim_id, ordinal)
);
CREATE TABLE import_runs (
    id INTEGER PRIMARY KEY,
    kind TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    size INTEGER NOT NULL,
    actor TEXT NOT NULL,
    skip_bad INTEGER NOT NULL DEFAULT 0,
    summary TEXT NOT NULL DEFAULT '{}',
    skipped TEXT NOT NULL DEFAULT '[]',
    findings TEXT NOT NULL DEFAULT '[]',
    imported_at TEXT NOT NULL
);
CREATE TABLE source_ids (
    source TEXT NOT NULL,
    resource TEXT NOT NULL,
    source_id TEXT NOT NULL,
    local_id INTEGER NOT NULL,
    content_hash TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (source, resource, source_id)
);
CREATE INDEX source_ids_local ON source_ids(resource, local_id);
CREATE TABLE import_mappings (
    name TEXT PRIMARY KEY,
    target TEXT NOT NULL CHECK (target IN ('patients','appointments')),
    columns TEXT NOT NULL,
    created_by TEXT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE TABLE clinical_records (
    id INTEGER PRIMARY KEY,
    patient_id INTEGER NOT NULL REFERENCES patients(id),
    kind TEXT NOT NULL CHECK (kind IN ('condition','observation','procedure','immunization',
                                       'encounter','service_request')),
    code_system TEXT NOT NULL DEFAULT '',
    code TEXT NOT NULL DEFAULT '',
    display TEXT NOT NULL DEFAULT '',
    status TEXT NOT NULL DEFAULT '',
    recorded_on TEXT,
    ended_on TEXT,
    value TEXT,
    unit TEXT NOT NULL DEFAULT '',
    created_at TEXT NOT NULL
);
CREATE INDEX clinical_records_patient ON clinical_records(patient_id, kind, code);
"""


def apply(conn: Any) -> None:
    for statement in SQL.split(";\n"):
        if statement.strip():
            conn.execute(statement)
