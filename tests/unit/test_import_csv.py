"""CSV roster and schedule imports (issue 12): the first import takes a column mapping
(suggested from the headers, previewed, saved under a name and reused); a bad row is
refused with its line number, or skipped, listed and audited; a re-import changes
nothing; fuzzed files never crash the reader."""

from __future__ import annotations

import json
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.errors import ImportRejected, NotFound, PermissionDenied
from app.identity import Session
from app.identity.permissions import Role
from app.imports.tabular import Mapping, map_rows, read_table, suggest
from app.services import imports
from tests.unit.imports_cli import use_cli
from ui.cli import main

ROSTER = (b"Chart Number,Patient First Name,Patient Last Name,Date of Birth,Gender,"
          b"Insurance,Policy Number\r\n"
          b"C-1,Ann,Zzyzxquell,04/02/1961,F,Acme Health,M123\r\n"
          b"C-2,Bo,Quorvath,1975-11-30,Male,,\r\n"
          b"C-3,Cy,Plimsett,02/30/1980,M,,\r\n"
          b"C-4,Di,Varnock,12/01/1990,F,,\r\n")
SCHEDULE = (b"Appt ID;MRN;Appt Date;Appt Time;Provider;Appt Type;Status\n"
            b"A1;C-1;01/05/2027;9:30 AM;Dr. Lee;Office Visit;Confirmed\n"
            b"A2;C-2;01/05/2027;10:00 AM;Dr. Lee;New Patient;No Show\n")
ROSTER_MAP = {"id": "Chart Number", "first_name": "Patient First Name",
              "last_name": "Patient Last Name", "dob": "Date of Birth", "sex": "Gender",
              "payer": "Insurance", "member_id": "Policy Number"}


def _snapshot(session: Session) -> dict[str, Any]:
    q = session.vault.query
    return {t: q(f"SELECT * FROM {t} ORDER BY 1") for t in
            ("patients", "coverages", "appointments", "source_ids", "payers")}


def test_suggested_mapping_from_ehr_headers() -> None:
    table = read_table(ROSTER)
    assert suggest("patients", table.headers) == ROSTER_MAP
    sched = read_table(SCHEDULE)
    assert suggest("appointments", sched.headers) == {
        "id": "Appt ID", "patient_id": "MRN", "date": "Appt Date", "time": "Appt Time",
        "provider": "Provider", "visit_type": "Appt Type", "status": "Status"}


def test_bad_row_refused_with_its_line_then_skipped_listed_and_audited(
        owner_session: Session) -> None:
    imports.save_mapping(owner_session, "acme roster", "patients", ROSTER_MAP,
                         source="acme")
    before = _snapshot(owner_session)
    with pytest.raises(ImportRejected) as info:
        imports.import_csv(owner_session, ROSTER, "acme roster", file_name="roster.csv")
    message = str(info.value)
    assert "roster.csv line 4" in message and "dob: not a date" in message
    assert "02/30/1980" not in message and "Plimsett" not in message
    assert _snapshot(owner_session) == before
    out = imports.import_csv(owner_session, ROSTER, "acme roster", skip_bad=True)
    assert (out.created, out.records) == (3, 4)
    assert [str(b) for b in out.skipped] == ["line 4: dob: not a date in YYYY-MM-DD or "
                                             "MM/DD/YYYY"]
    q = owner_session.vault.query
    assert q("SELECT first_name, dob, sex FROM patients ORDER BY id") == [
        ("Ann", "1961-04-02", "F"), ("Bo", "1975-11-30", "M"), ("Di", "1990-12-01", "F")]
    assert q("SELECT p.name, c.member_id FROM coverages c JOIN payers p ON "
             "p.id = c.payer_id") == [("Acme Health", "M123")]
    details = json.loads(owner_session.vault.query_one(
        "SELECT details FROM audit_log WHERE action = 'import.run' ORDER BY id DESC")[0])
    assert details["skip_bad"] is True and details["skipped_positions"] == ["line 4"]
    assert "Plimsett" not in json.dumps(details)
    # a re-import changes nothing
    middle = _snapshot(owner_session)
    again = imports.import_csv(owner_session, ROSTER, "acme roster", skip_bad=True)
    assert (again.created, again.updated, again.unchanged) == (0, 0, 3)
    assert _snapshot(owner_session) == middle


def test_schedule_refers_to_the_roster_of_its_source(owner_session: Session) -> None:
    imports.save_mapping(owner_session, "acme roster", "patients", ROSTER_MAP,
                         source="acme")
    imports.import_csv(owner_session, ROSTER, "acme roster", skip_bad=True)
    sched_map = suggest("appointments", read_table(SCHEDULE).headers)
    imports.save_mapping(owner_session, "acme schedule", "appointments", sched_map,
                         source="acme")
    out = imports.import_csv(owner_session, SCHEDULE, "acme schedule")
    assert out.created == 2
    q = owner_session.vault.query
    assert q("SELECT p.first_name, a.start_at, a.provider, a.visit_type, a.status FROM "
             "appointments a JOIN patients p ON p.id = a.patient_id ORDER BY a.id") == [
        ("Ann", "2027-01-05T09:30:00", "Dr. Lee", "office_visit", "scheduled"),
        ("Bo", "2027-01-05T10:00:00", "Dr. Lee", "new_patient", "no_show")]
    moved = SCHEDULE.replace(b"9:30 AM", b"11:15 AM")
    out = imports.import_csv(owner_session, moved, "acme schedule")
    assert (out.created, out.updated, out.unchanged) == (0, 1, 1)
    orphan = SCHEDULE + b"A3;C-9;01/06/2027;9:00 AM;Dr. Lee;Office Visit;Booked\n"
    with pytest.raises(ImportRejected) as info:
        imports.import_csv(owner_session, orphan, "acme schedule")
    assert "line 4" in str(info.value) and "not in this source's roster" in str(info.value)


def test_mapping_must_name_the_required_fields_and_columns(owner_session: Session) -> None:
    with pytest.raises(ImportRejected, match="does not say which column holds: dob"):
        imports.save_mapping(owner_session, "m", "patients",
                             {"id": "a", "first_name": "b", "last_name": "c"})
    imports.save_mapping(owner_session, "m", "patients", dict(ROSTER_MAP, dob="Birth"))
    with pytest.raises(ImportRejected, match="no column 'Birth'"):
        imports.import_csv(owner_session, ROSTER, "m")
    with pytest.raises(NotFound):
        imports.import_csv(owner_session, ROSTER, "never saved")
    assert [m["name"] for m in imports.list_mappings(owner_session)] == ["m"]


def test_csv_import_checks_the_role(owner_session: Session) -> None:
    front = Session(owner_session.vault, "fd", frozenset({Role.FRONT_DESK}))
    with pytest.raises(PermissionDenied):
        imports.preview_csv(front, ROSTER)


def test_cli_first_import_saves_the_mapping_then_reuses_it(
        owner_session: Session, tmp_path: Path, vault_dir: Path,
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    use_cli(owner_session, vault_dir, monkeypatch)
    roster = tmp_path / "roster.csv"
    roster.write_bytes(ROSTER)
    assert main(["import", "csv", str(roster), "--preview", "--target", "patients"]) == 0
    out, _err = capsys.readouterr()
    assert "--map dob='Date of Birth'" in out and "as OffHold reads them" in out
    assert main(["import", "csv", str(roster), "--mapping", "acme"]) == 2  # target?
    capsys.readouterr()
    assert main(["import", "csv", str(roster), "--mapping", "acme", "--target",
                 "patients"]) == 1
    _out, err = capsys.readouterr()
    assert "saved mapping 'acme'" in err and "line 4" in err and "Traceback" not in err
    assert main(["import", "csv", str(roster), "--mapping", "acme", "--skip-bad",
                 "--json"]) == 0
    out, err = capsys.readouterr()
    assert json.loads(out)[0]["created"] == 3 and "skipped line 4" in err


@settings(deadline=timedelta(seconds=2), max_examples=120, database=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=600) | st.text(alphabet=',;"\n\r\tab1/-: ', max_size=300)
       .map(lambda t: t.encode()))
def test_fuzzed_csv_is_read_or_refused_cleanly(data: bytes) -> None:
    mapping = Mapping("m", "patients", {"id": "a", "first_name": "a", "last_name": "a",
                                        "dob": "a"})
    started = time.monotonic()
    try:
        batch = map_rows(read_table(b"a,b\n" + data), mapping)
    except ImportRejected as exc:
        assert "\n" not in str(exc)
    else:
        assert all(b.position.startswith("line ") for b in batch.bad)
    assert time.monotonic() - started < 1.0
