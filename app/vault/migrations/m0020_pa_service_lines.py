"""Issue 12 gaps: a PA requests several services; the portal URL belongs to the payer; a
coverage keeps its subscriber's date of birth.

- `pa_service_lines`: one row per requested service (CPT/HCPCS code only, never its
  licensed descriptor; units; optional modifier; local dates of service from/to). Each
  existing PA becomes one line from its own code, units and date of service. The PA's
  `cpt_code`, `units` and `service_date` stay as its summary (first code, total units,
  first date of service), kept in step by app.services.prior_auth.
- `payers.portal_url`: moved from the portal log-in (`portal_credentials.url`, no longer
  read), so the payer form sets it and the engine takes the origin from it.
- `coverages.subscriber_dob`: local date, empty when unknown or the patient is the
  subscriber.
"""

from typing import Any

VERSION = 20

SQL = """
CREATE TABLE pa_service_lines (
    id INTEGER PRIMARY KEY,
    pa_id INTEGER NOT NULL REFERENCES prior_auths(id),
    line_no INTEGER NOT NULL CHECK (line_no > 0),
    code TEXT NOT NULL CHECK (length(code) = 5),
    units INTEGER NOT NULL CHECK (units > 0),
    modifier TEXT NOT NULL DEFAULT '',
    service_from TEXT NOT NULL,
    service_to TEXT NOT NULL CHECK (service_to >= service_from),
    UNIQUE (pa_id, line_no)
);
INSERT INTO pa_service_lines (pa_id, line_no, code, units, service_from, service_to)
    SELECT id, 1, cpt_code, units, service_date, service_date FROM prior_auths;
ALTER TABLE payers ADD COLUMN portal_url TEXT NOT NULL DEFAULT '';
UPDATE payers SET portal_url = coalesce((SELECT c.url FROM portal_credentials c
    WHERE c.payer_id = payers.id), '');
ALTER TABLE coverages ADD COLUMN subscriber_dob TEXT
"""


def apply(conn: Any) -> None:
    for statement in SQL.split(";\n"):
        if statement.strip():
            conn.execute(statement)
