"""837 and FHIR files are parsed in a spawned worker under an address-space cap (issue 12):
a file that needs more memory than the cap is refused with a one-line reason, nothing is
written, and the app (this test process) carries on and imports the next file."""

from __future__ import annotations

import os
import signal
import struct
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.errors import ImportRejected
from app.identity import Session
from app.imports.common import LIMITS
from app.imports.worker import parse_837_bounded, read_fhir_bounded
from app.services import imports
from app.x12.errors import X12Error

X12 = Path(__file__).resolve().parents[3] / "shared" / "corpus" / "x12"
LOW = replace(LIMITS, memory_mb=100)  # the worker itself needs ~45 MB of address space
# One entry of a type OffHold does not import, holding 3M numbers: 12 MB on disk (inside
# the 32 MB bundle cap, one record), ~120 MB of Python floats and list once parsed.
FLOATS = (b'{"resourceType": "Bundle", "entry": [{"resource": {"resourceType": "Basic", '
          b'"id": "b", "x": [' + b"0.5," * 3_000_000 + b'0.5]}}]}')
# 390k segments of twelve 2-letter elements: 14.8 MB, inside the 16 MB and segment caps,
# ~500 MB of Python lists and strings once split.
X12_SPRAWL = (b"ISA*00*          *00*          *ZZ*SENDER         *ZZ*RECEIVER       *260101*"
              b"1200*^*00501*000000001*0*P*:~" + (b"ZZ" + b"*ab" * 12 + b"~") * 390_000)
PATIENT = (b'{"resourceType": "Patient", "id": "p1", "name": [{"family": "Q", "given": '
           b'["A"]}], "birthDate": "1970-01-01"}\n')
needs_rlimit_as = pytest.mark.skipif(not os.uname().sysname == "Linux",
                                     reason="RLIMIT_AS is enforced on Linux only")


def _counts(session: Session) -> tuple[int, int, int]:
    one = session.vault.query_one
    return (one("SELECT count(*) FROM import_runs")[0], one("SELECT count(*) FROM patients")[0],
            one("SELECT count(*) FROM claims")[0])


@needs_rlimit_as
def test_a_fhir_file_over_the_memory_cap_is_refused_and_the_app_carries_on(
        owner_session: Session, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(imports, "LIMITS", LOW)
    with pytest.raises(ImportRejected) as info:
        imports.import_fhir(owner_session, [("b.json", FLOATS)])
    assert str(info.value).startswith(
        "the file needs more memory than the import allows (100 MB)")
    assert "\n" not in str(info.value)
    assert _counts(owner_session) == (0, 0, 0)
    # the same process, the same low cap: an ordinary file still imports
    outcome = imports.import_fhir(owner_session, [("p.ndjson", PATIENT)])
    assert (outcome.created, _counts(owner_session)[:2]) == (1, (1, 1))


@needs_rlimit_as
def test_an_837_over_the_memory_cap_is_refused_with_nothing_written(
        owner_session: Session, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(imports, "LIMITS", LOW)
    with pytest.raises(ImportRejected, match=r"needs more memory than the import allows "
                                             r"\(100 MB\)"):
        imports.import_837(owner_session, X12_SPRAWL, lenient=True)
    with pytest.raises(ImportRejected, match="needs more memory"):
        imports.preview_import(owner_session, "837", [("x.837", X12_SPRAWL)], lenient=True)
    assert _counts(owner_session) == (0, 0, 0)
    data = (X12 / "837p" / "imsweb__x12_complex.txt").read_bytes()
    assert imports.import_837(owner_session, data, lenient=True).created > 0


def test_the_default_cap_reads_the_largest_files_the_size_caps_allow() -> None:
    """The sprawl above needs ~500 MB: the default cap (measured, common.Limits) lets it
    be read, and the parser then refuses it for what it is, with its position."""
    with pytest.raises(X12Error) as info:
        parse_837_bounded(X12_SPRAWL, lenient=True)
    assert info.value.segment_index == 1 and "segment 2 (ZZ)" in str(info.value)


def test_a_parse_error_keeps_its_type_and_position_through_the_worker() -> None:
    data = (X12 / "837p" / "imsweb__x12_complex.txt").read_bytes()
    broken = data.replace(b"DMG*D8*", b"DMG*D9*", 1)
    with pytest.raises(X12Error) as info:
        parse_837_bounded(broken, lenient=True)
    assert info.value.segment_id == "DMG" and info.value.byte_offset
    with pytest.raises(ImportRejected, match="not JSON"):
        read_fhir_bounded([("b.json", b"{nope")])


@settings(deadline=timedelta(seconds=20), max_examples=10, database=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=2048), st.booleans())
def test_fuzzed_input_through_the_worker_ends_in_a_result_or_one_line(data: bytes,
                                                                      ndjson: bool) -> None:
    """Each example is a spawned worker: whatever the bytes, a value or a one-line
    refusal comes back, never a crash of this process."""
    for run in (lambda: parse_837_bounded(b"ISA" + data, lenient=True, skip_bad=True),
                lambda: read_fhir_bounded([("f.ndjson" if ndjson else "f.json", data)])):
        try:
            run()
        except ImportRejected as exc:
            assert "\n" not in str(exc)


def test_bad_records_count_against_the_record_cap() -> None:
    """Before, only good records were counted: a bundle of empty objects held every one
    of them as a bad record (11M for 32 MB, 3 GB) and took 35 s to refuse."""
    from app.imports.fhir import Reader
    reader = Reader(replace(LIMITS, max_records=1000))
    with pytest.raises(ImportRejected, match="more than 1000 records") as info:
        reader.add_file("b.json", b'{"resourceType": "Bundle", "entry": [' + b"{}," * 5000
                        + b"{}]}")
    assert "b.json entry 1001" in str(info.value) and len(reader.batch.bad) == 1000


def _dies_mid_reply(conn: Any) -> None:
    """A worker killed while sending its result (its CPU limit, mid-pickle-stream): the
    length of a large message, part of it, then the process ends."""
    conn._send(struct.pack("!i", 1_000_000) + b"\x80\x04partial")  # noqa: SLF001
    os._exit(0)


def test_a_worker_killed_while_sending_its_result_is_a_one_line_refusal() -> None:
    """Before, the parent's recv raised OSError ('got end of file during message'),
    which no caller expects: the CLI ended with a traceback, the watched folder filed
    'an unexpected error'."""
    from app.intake.bounded import one_reply
    with pytest.raises(ImportRejected, match="died 0"):
        one_reply(_dies_mid_reply, (), name="offhold-test", wall_seconds=30,
                  too_slow="slow", died=lambda code: f"died {code}")


def _pdf_dies_mid_reply(conn: Any, *_args: Any) -> None:
    _dies_mid_reply(conn)


def test_the_pdf_worker_killed_while_sending_is_a_one_line_refusal_too(
        monkeypatch: pytest.MonkeyPatch) -> None:
    from app.intake import bounded
    monkeypatch.setattr(bounded, "_worker", _pdf_dies_mid_reply)  # spawned by reference
    with pytest.raises(ImportRejected, match="stopped unexpectedly") as info:
        bounded.read_pdf_bounded(b"%PDF-1.4", "form.pdf")
    assert "\n" not in str(info.value)


def test_a_killed_worker_is_not_reported_as_a_cpu_overrun() -> None:
    """SIGKILL comes from the CPU hard limit but also from the OOM killer or a person;
    SIGXCPU is the CPU limit alone."""
    from app.imports.worker import _death

    assert "seconds of CPU" in _death(-signal.SIGXCPU, LIMITS, "file")
    killed = _death(-signal.SIGKILL, LIMITS, "file")
    assert "stopped by the system" in killed and "ran short of memory" in killed


@needs_rlimit_as
def test_a_referral_file_is_read_in_the_bounded_worker(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """A FHIR referral is json.loads-ed whole: 8 MB of empty objects cost the app ~260 MB
    before its entry cap said no. Read in the worker it costs the app nothing, and under
    a low cap it is a one-line memory refusal."""
    from app.imports import worker
    from app.referrals.sources import MAX_REFERRAL_BYTES
    from automations.workflows.referrals import read_referrals
    empty = (b'{"resourceType": "Bundle", "entry": [' + b"{}," * (MAX_REFERRAL_BYTES // 3 - 20)
             + b"{}]}")
    with pytest.raises(ImportRejected, match="entries are not a list"):
        read_referrals(empty, "r.json")
    monkeypatch.setattr(worker, "REFERRAL_LIMITS", replace(worker.REFERRAL_LIMITS,
                                                            memory_mb=100))
    with pytest.raises(ImportRejected, match="more memory than the import allows"):
        read_referrals(empty, "r.json")
