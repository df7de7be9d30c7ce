"""The case-blind patient lookups of imports use an index (m0024): with the binary-collated
m0001 indexes SQLite scanned every coverage and patient for each imported row, so a roster
import grew quadratically (40k rows took 85 s)."""

from __future__ import annotations

from app.identity import Session

LOOKUPS = {
    "coverages_member_nocase":
        "SELECT p.id FROM coverages c JOIN patients p ON p.id = c.patient_id "
        "WHERE c.member_id = ? COLLATE NOCASE ORDER BY p.id",
    "patients_name_dob_nocase":
        "SELECT id FROM patients WHERE last_name = ? COLLATE NOCASE AND first_name = ? "
        "COLLATE NOCASE AND dob = ? ORDER BY id LIMIT 1",
}


def test_case_blind_lookups_use_an_index(owner_session: Session) -> None:
    for index, sql in LOOKUPS.items():
        params = ("x",) * sql.count("?")
        plan = " ".join(str(row[-1]) for row in
                        owner_session.vault.query("EXPLAIN QUERY PLAN " + sql, params))
        assert f"USING INDEX {index}" in plan or f"USING COVERING INDEX {index}" in plan, plan
