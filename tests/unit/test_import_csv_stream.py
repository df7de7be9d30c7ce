"""A CSV import streams (issue 12): the validation pass holds the rows' IDs, not the rows,
the preview reads only its first rows, and the write reads each row again as it stores it
(same records, same bad rows)."""

from __future__ import annotations

import tracemalloc
from datetime import timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.errors import ImportRejected
from app.identity import Session
from app.imports.common import BadRecord, Limits
from app.imports.tabular import Mapping, iter_records, map_rows, read_table, validate_csv
from app.services import imports

HEADER = ("Chart Number,First Name,Last Name,Date of Birth,Gender,Phone,Email,Address,"
          "Policy Number,Insurance,Group\r\n")
COLUMNS = {"id": "Chart Number", "first_name": "First Name", "last_name": "Last Name",
           "dob": "Date of Birth", "sex": "Gender", "phone": "Phone", "email": "Email",
           "address": "Address", "member_id": "Policy Number", "payer": "Insurance",
           "group_number": "Group"}
MAPPING = Mapping("roster", "patients", COLUMNS)


def roster(rows: int, start: int = 0) -> bytes:
    return (HEADER + "".join(
        f"C{i:07d},Ann{i % 97},Zzyzxquell{i % 89},0{1 + i % 9}/{10 + i % 18}/19{50 + i % 49},"
        f"{'FM'[i % 2]},555-201-{i % 10000:04d},a{i}@example.org,\"{i % 999} Elm St, "
        f"Springfield\",M{i:09d},Acme Health,G{i % 50}\r\n"
        for i in range(start, start + rows))).encode()


def test_validation_holds_ids_not_rows() -> None:
    """Held as lists and dicts, this roster peaked at 12x its size (39x for a narrow
    one); streamed, the peak is the IDs seen."""
    data = roster(16_000)  # ~2 MB
    tracemalloc.start()
    try:
        checked = validate_csv(data, MAPPING)
        _now, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert (checked.rows, checked.bad) == (16_000, [])
    assert peak < 1.5 * len(data), f"peak {peak / len(data):.1f}x the file"


def test_two_passes_see_the_same_rows_and_the_same_bad_ones() -> None:
    data = roster(30) + b"C9,Bo,Q,13/45/1980,F,,,,,,\r\nC0000003,Bo,Q,01/02/1980,F,,,,,,\r\n" \
        + roster(5, 100)[len(HEADER):]
    checked = validate_csv(data, MAPPING)
    assert checked.rows == 37
    assert [(b.position, b.reason) for b in checked.bad] == [
        ("line 32", "dob: not a date in YYYY-MM-DD or MM/DD/YYYY"),
        ("line 33", "id repeats the row on line 5")]
    streamed = list(iter_records(data, MAPPING))
    assert [r for _p, r in streamed if isinstance(r, BadRecord)] == checked.bad
    assert len([r for _p, r in streamed if not isinstance(r, BadRecord)]) == 35


def test_the_preview_reads_only_its_first_rows() -> None:
    """A row past the preview that the csv module cannot read (an unclosed quote running
    to the end) and a row cap the file is over do not stop the preview."""
    data = roster(20) + b'C99,"unclosed\r\n' + roster(5, 200)[len(HEADER):]
    table = read_table(data, Limits(max_records=10), max_rows=5)
    assert [line for line, _cells in table.rows] == [2, 3, 4, 5, 6]
    try:
        validate_csv(data, MAPPING, Limits(max_records=10))
    except ImportRejected as exc:
        assert "more than 10 rows" in str(exc) and "line 12" in str(exc)
    else:
        raise AssertionError("the whole file was not read")


def test_a_streamed_import_stores_every_row_once(owner_session: Session) -> None:
    imports.save_mapping(owner_session, "roster", "patients", COLUMNS)
    data = roster(120)
    ticks: list[tuple[int, int]] = []
    out = imports.import_csv(owner_session, data, "roster",
                             progress=lambda done, total: ticks.append((done, total)))
    assert (out.records, out.created, out.skipped) == (120, 120, [])
    assert ticks == [(50, 120), (100, 120), (120, 120)]
    assert owner_session.vault.query_one("SELECT count(*) FROM patients")[0] == 120
    again = imports.import_csv(owner_session, data, "roster")
    assert (again.created, again.unchanged) == (0, 120)


@settings(deadline=timedelta(seconds=2), max_examples=150, database=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=600) | st.text(alphabet=',;"\n\r\tC01/-:abFM ', max_size=400)
       .map(lambda t: t.encode()))
def test_fuzzed_exports_stream_as_they_read_whole(body: bytes) -> None:
    """The streamed passes and the whole-table read (the preview's) agree on every input:
    the same bad rows and the same records, or the same one-line refusal."""
    data = b"id,first,last,dob\n" + body
    mapping = Mapping("m", "patients", {"id": "id", "first_name": "first",
                                        "last_name": "last", "dob": "dob"})
    try:
        whole = map_rows(read_table(data), mapping)
    except ImportRejected as exc:
        assert "\n" not in str(exc)
        with pytest.raises(ImportRejected) as streamed:
            validate_csv(data, mapping)
        assert str(streamed.value) == str(exc)
        return
    checked = validate_csv(data, mapping)
    assert (checked.rows, checked.bad) == (whole.rows, whole.bad)
    assert [(p, r) for p, r in iter_records(data, mapping)
            if not isinstance(r, BadRecord)] == whole.records


def test_the_validation_pass_is_bounded_in_time(owner_session: Session,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    from dataclasses import replace
    imports.save_mapping(owner_session, "roster", "patients", COLUMNS)
    monkeypatch.setattr(imports, "LIMITS", replace(imports.LIMITS, seconds=0))
    with pytest.raises(ImportRejected, match="took longer than 0 s") as info:
        imports.import_csv(owner_session, roster(3), "roster")
    assert "line 2" in str(info.value)
    assert owner_session.vault.query_one("SELECT count(*) FROM patients")[0] == 0


def test_a_row_judged_differently_by_the_write_pass_refuses_the_file(
        owner_session: Session, monkeypatch: pytest.MonkeyPatch) -> None:
    """A birth date of tomorrow is refused by the check; past midnight the write pass
    finds it valid. Before, the write stored that row while the outcome (and the audit)
    listed it as skipped; now the import is refused and nothing is written."""
    from datetime import datetime, timezone

    from app import clock

    evening = datetime(2026, 3, 9, 23, 59, 59, tzinfo=timezone.utc)
    clock.set_clock(lambda: evening)
    imports.save_mapping(owner_session, "roster", "patients", COLUMNS)
    data = (HEADER + "C1,Ann,Zzyzxquell,03/09/1960,F,,,,,,\r\n"
            "C2,Newborn,Quorvath,03/10/2026,M,,,,,,\r\n").encode()
    real = imports.validate_csv

    def check_before_midnight(*args: object) -> object:
        checked = real(*args)  # type: ignore[arg-type]
        clock.set_clock(lambda: evening + timedelta(seconds=2))  # the write: the next day
        return checked

    monkeypatch.setattr(imports, "validate_csv", check_before_midnight)
    with pytest.raises(ImportRejected, match="judged differently"):
        imports.import_csv(owner_session, data, "roster", skip_bad=True)
    assert owner_session.vault.query_one("SELECT count(*) FROM patients")[0] == 0
    assert owner_session.vault.query_one("SELECT count(*) FROM import_runs")[0] == 0
