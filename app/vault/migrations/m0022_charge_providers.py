"""Who rendered and how much, for charge capture: the rendering provider of each claim
(837P 2310B / 837I 2310D NM1*82; when the claim names none, the attending 2310A or the
billing provider 2010AA, and `rendering_from` says which loop it came from) and of a line
that names its own (2420A); on the chart side, the documenting provider of a record
(FHIR Encounter.participant, or Procedure/Immunization.performer) and the quantity the
documentation states (NULL: not stated, counted as one).

Columns only, all with defaults: claims and records stored before this step keep working
(no provider: the E/M rule falls back to the appointment's provider, as before; no
quantity: one), and re-importing the same 837 fills the provider in.
"""

from typing import Any

VERSION = 22

SQL = """
ALTER TABLE claims ADD COLUMN rendering_name TEXT NOT NULL DEFAULT '';
ALTER TABLE claims ADD COLUMN rendering_npi TEXT NOT NULL DEFAULT '';
ALTER TABLE claims ADD COLUMN rendering_from TEXT NOT NULL DEFAULT '';
ALTER TABLE claim_lines ADD COLUMN rendering_name TEXT NOT NULL DEFAULT '';
ALTER TABLE claim_lines ADD COLUMN rendering_npi TEXT NOT NULL DEFAULT '';
ALTER TABLE clinical_records ADD COLUMN provider_name TEXT NOT NULL DEFAULT '';
ALTER TABLE clinical_records ADD COLUMN provider_npi TEXT NOT NULL DEFAULT '';
ALTER TABLE clinical_records ADD COLUMN provider_from TEXT NOT NULL DEFAULT '';
ALTER TABLE clinical_records ADD COLUMN quantity TEXT
"""


def apply(conn: Any) -> None:
    for statement in SQL.split(";\n"):
        if statement.strip():
            conn.execute(statement)
