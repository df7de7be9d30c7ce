"""Revenue cycle: claims, 835 remittances (claims, lines, adjustments, remarks, PLB),
denial classifications, 271 eligibility responses and benefits, 277 claim statuses,
expected allowed amounts per visit type, and an X12 import log."""

from typing import Any

VERSION = 5

SQL = """
CREATE TABLE claims (
    id INTEGER PRIMARY KEY,
    claim_number TEXT NOT NULL,
    patient_id INTEGER REFERENCES patients(id),
    payer_id INTEGER REFERENCES payers(id),
    service_date TEXT,
    total_charge TEXT NOT NULL DEFAULT '0',
    frequency_code TEXT NOT NULL DEFAULT '1',
    payer_claim_number TEXT NOT NULL DEFAULT '',
    procedures TEXT NOT NULL DEFAULT '[]',
    status TEXT NOT NULL DEFAULT 'submitted',
    status_detail TEXT NOT NULL DEFAULT '',
    status_at TEXT,
    submitted_at TEXT,
    created_at TEXT NOT NULL,
    UNIQUE (claim_number, payer_id)
);
CREATE INDEX claims_patient ON claims(patient_id);

CREATE TABLE x12_imports (
    id INTEGER PRIMARY KEY,
    kind TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    size INTEGER NOT NULL,
    lenient INTEGER NOT NULL DEFAULT 0,
    findings TEXT NOT NULL DEFAULT '[]',
    summary TEXT NOT NULL DEFAULT '{}',
    actor TEXT NOT NULL,
    imported_at TEXT NOT NULL
);

CREATE TABLE remittances (
    id INTEGER PRIMARY KEY,
    import_id INTEGER NOT NULL REFERENCES x12_imports(id),
    payer_id INTEGER REFERENCES payers(id),
    payer_name TEXT NOT NULL,
    payer_ident TEXT NOT NULL,
    payee_name TEXT NOT NULL DEFAULT '',
    payee_ident TEXT NOT NULL DEFAULT '',
    trace_number TEXT NOT NULL,
    originator TEXT NOT NULL DEFAULT '',
    handling TEXT NOT NULL DEFAULT '',
    payment_amount TEXT NOT NULL,
    credit_debit TEXT NOT NULL DEFAULT '',
    method TEXT NOT NULL DEFAULT '',
    payment_date TEXT,
    production_date TEXT,
    received_at TEXT NOT NULL,
    balanced INTEGER NOT NULL,
    issues TEXT NOT NULL DEFAULT '[]',
    findings TEXT NOT NULL DEFAULT '[]',
    UNIQUE (trace_number, payer_ident)
);

CREATE TABLE remit_claims (
    id INTEGER PRIMARY KEY,
    remittance_id INTEGER NOT NULL REFERENCES remittances(id),
    ordinal INTEGER NOT NULL,
    claim_number TEXT NOT NULL,
    status_code TEXT NOT NULL,
    charge TEXT NOT NULL,
    paid TEXT NOT NULL,
    patient_responsibility TEXT,
    filing_indicator TEXT NOT NULL DEFAULT '',
    payer_claim_number TEXT NOT NULL DEFAULT '',
    frequency TEXT NOT NULL DEFAULT '',
    patient_last TEXT NOT NULL DEFAULT '',
    patient_first TEXT NOT NULL DEFAULT '',
    member_id TEXT NOT NULL DEFAULT '',
    received_date TEXT,
    service_from TEXT,
    service_to TEXT,
    patient_id INTEGER REFERENCES patients(id),
    claim_id INTEGER REFERENCES claims(id),
    balanced INTEGER NOT NULL DEFAULT 1,
    category TEXT NOT NULL DEFAULT '',
    next_action TEXT NOT NULL DEFAULT '',
    rule_id TEXT NOT NULL DEFAULT '',
    is_denial INTEGER NOT NULL DEFAULT 0,
    appealable INTEGER NOT NULL DEFAULT 1,
    appeal_deadline TEXT,
    task_id INTEGER REFERENCES tasks(id),
    worked_at TEXT,
    UNIQUE (remittance_id, ordinal)
);
CREATE INDEX remit_claims_number ON remit_claims(claim_number);
CREATE INDEX remit_claims_patient ON remit_claims(patient_id);

CREATE TABLE remit_lines (
    id INTEGER PRIMARY KEY,
    remit_claim_id INTEGER NOT NULL REFERENCES remit_claims(id),
    ordinal INTEGER NOT NULL,
    procedure TEXT NOT NULL,
    code TEXT NOT NULL,
    modifiers TEXT NOT NULL DEFAULT '[]',
    charge TEXT NOT NULL,
    paid TEXT NOT NULL,
    units TEXT,
    revenue_code TEXT NOT NULL DEFAULT '',
    service_date TEXT,
    control_number TEXT NOT NULL DEFAULT '',
    allowed TEXT,
    UNIQUE (remit_claim_id, ordinal)
);

CREATE TABLE remit_adjustments (
    id INTEGER PRIMARY KEY,
    remit_claim_id INTEGER NOT NULL REFERENCES remit_claims(id),
    remit_line_id INTEGER REFERENCES remit_lines(id),
    group_code TEXT NOT NULL,
    carc TEXT NOT NULL,
    amount TEXT NOT NULL,
    quantity TEXT
);
CREATE INDEX remit_adjustments_claim ON remit_adjustments(remit_claim_id);

CREATE TABLE remit_remarks (
    id INTEGER PRIMARY KEY,
    remit_claim_id INTEGER NOT NULL REFERENCES remit_claims(id),
    remit_line_id INTEGER REFERENCES remit_lines(id),
    code TEXT NOT NULL
);
CREATE INDEX remit_remarks_claim ON remit_remarks(remit_claim_id);

CREATE TABLE remit_plb (
    id INTEGER PRIMARY KEY,
    remittance_id INTEGER NOT NULL REFERENCES remittances(id),
    provider TEXT NOT NULL,
    fiscal_date TEXT,
    reason TEXT NOT NULL,
    reference TEXT NOT NULL DEFAULT '',
    amount TEXT NOT NULL
);

CREATE TABLE eligibility_responses (
    id INTEGER PRIMARY KEY,
    import_id INTEGER NOT NULL REFERENCES x12_imports(id),
    natural_key TEXT NOT NULL UNIQUE,
    patient_id INTEGER REFERENCES patients(id),
    payer_id INTEGER REFERENCES payers(id),
    payer_name TEXT NOT NULL DEFAULT '',
    member_id TEXT NOT NULL DEFAULT '',
    patient_last TEXT NOT NULL DEFAULT '',
    patient_first TEXT NOT NULL DEFAULT '',
    active INTEGER,
    plan_name TEXT NOT NULL DEFAULT '',
    group_number TEXT NOT NULL DEFAULT '',
    rejections TEXT NOT NULL DEFAULT '[]',
    received_at TEXT NOT NULL
);
CREATE INDEX eligibility_patient ON eligibility_responses(patient_id, received_at);

CREATE TABLE eligibility_benefits (
    id INTEGER PRIMARY KEY,
    response_id INTEGER NOT NULL REFERENCES eligibility_responses(id),
    info TEXT NOT NULL,
    coverage_level TEXT NOT NULL DEFAULT '',
    service_types TEXT NOT NULL DEFAULT '[]',
    insurance_type TEXT NOT NULL DEFAULT '',
    plan_description TEXT NOT NULL DEFAULT '',
    time_period TEXT NOT NULL DEFAULT '',
    amount TEXT,
    percent TEXT,
    quantity_qualifier TEXT NOT NULL DEFAULT '',
    quantity TEXT,
    auth_required TEXT NOT NULL DEFAULT '',
    in_network TEXT NOT NULL DEFAULT '',
    messages TEXT NOT NULL DEFAULT '[]'
);
CREATE INDEX eligibility_benefits_response ON eligibility_benefits(response_id);

CREATE TABLE claim_statuses (
    id INTEGER PRIMARY KEY,
    import_id INTEGER NOT NULL REFERENCES x12_imports(id),
    natural_key TEXT NOT NULL UNIQUE,
    claim_number TEXT NOT NULL,
    claim_id INTEGER REFERENCES claims(id),
    patient_id INTEGER REFERENCES patients(id),
    payer_name TEXT NOT NULL DEFAULT '',
    payer_claim_number TEXT NOT NULL DEFAULT '',
    category TEXT NOT NULL,
    code TEXT NOT NULL,
    entity TEXT NOT NULL DEFAULT '',
    status_date TEXT,
    charge TEXT,
    paid TEXT,
    outcome TEXT NOT NULL,
    task_id INTEGER REFERENCES tasks(id),
    received_at TEXT NOT NULL
);
CREATE INDEX claim_statuses_claim ON claim_statuses(claim_number);

CREATE TABLE visit_type_allowed (
    visit_type TEXT PRIMARY KEY,
    expected_allowed TEXT NOT NULL,
    service_type TEXT NOT NULL DEFAULT '30'
);
INSERT INTO visit_type_allowed (visit_type, expected_allowed, service_type) VALUES
    ('office_visit', '110.00', '98'),
    ('new_patient', '175.00', '98'),
    ('annual_wellness', '160.00', '30');
"""


def apply(conn: Any) -> None:
    for statement in SQL.split(";"):
        if statement.strip():
            conn.execute(statement)
