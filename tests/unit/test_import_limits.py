"""Each importer's bounds (issue 12): size refused before parsing, a record cap, and a
wall-clock deadline, each a one-line refusal with nothing written."""

from __future__ import annotations

import pytest

from app.errors import ImportRejected
from app.identity import Session
from app.imports.common import Limits
from app.imports.fhir import Reader
from app.imports.tabular import Mapping, map_rows, read_table
from app.services import imports
from app.x12.tokenizer import MAX_X12_BYTES
from app.x12.x837 import parse_837
from tests.unit.test_import_837 import X12

PATIENT = (b'{"resourceType": "Patient", "id": "p%d", "name": [{"family": "Q"}], '
           b'"birthDate": "1970-01-01"}\n')
ROSTER = b"id,first,last,dob\n" + b"".join(b"C%d,A,B,1970-01-01\n" % i for i in range(50))
MAPPING = Mapping("m", "patients", {"id": "id", "first_name": "first", "last_name": "last",
                                    "dob": "dob"})


def test_sizes_are_refused_before_parsing(owner_session: Session) -> None:
    with pytest.raises(ImportRejected, match="limited to 16 MB"):
        imports.import_837(owner_session, b"ISA" + b" " * MAX_X12_BYTES)
    with pytest.raises(ImportRejected, match="limited to 1 MB"):
        Reader(Limits(max_bytes=1024 * 1024)).add_file("b.json", b"{" + b" " * 2 ** 21)
    with pytest.raises(ImportRejected, match="limited to 1 MB"):
        read_table(b"a\n" + b"x\n" * 2 ** 20, Limits(max_csv_bytes=1024 * 1024))
    assert owner_session.vault.query_one("SELECT count(*) FROM import_runs")[0] == 0


def test_record_caps() -> None:
    reader = Reader(Limits(max_records=10))
    with pytest.raises(ImportRejected, match="more than 10 records"):
        reader.add_file("n.ndjson", b"".join(PATIENT % i for i in range(20)))
    with pytest.raises(ImportRejected, match="more than 10 rows"):
        read_table(ROSTER, Limits(max_records=10))
    line = Reader(Limits(max_line_bytes=50))
    line.add_file("n.ndjson", (PATIENT % 1) * 2)
    assert [b.position for b in line.batch.bad] == ["n.ndjson line 1", "n.ndjson line 2"]
    assert all("the line is over" in b.reason for b in line.batch.bad)


def test_deadline_stops_the_import() -> None:
    with pytest.raises(ImportRejected, match="took longer than 0 s") as info:
        Reader(Limits(seconds=0)).add_file("n.ndjson", PATIENT % 1)
    assert "n.ndjson line 1" in str(info.value) and "\n" not in str(info.value)
    with pytest.raises(ImportRejected, match="took longer than 0 s"):
        map_rows(read_table(ROSTER), MAPPING, Limits(seconds=0))
    many = (X12 / "837p" / "imsweb__x12_many_claims.txt").read_bytes()
    with pytest.raises(ImportRejected, match="took longer than 0 s"):
        parse_837(many, lenient=True, limits=Limits(seconds=0))
