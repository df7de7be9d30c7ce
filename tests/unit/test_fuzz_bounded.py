"""Fuzzing bounded in time (issue 10, "What it must show"): intake text and X12 inputs
built to stress the slow paths (long runs of spaces, labels, colons, bullets, blank lines,
instruction phrases; repeated and garbage segments) must finish every example within its
deadline with a value or a typed one-line error. Each test is capped at a few seconds."""

from __future__ import annotations

from datetime import timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.errors import ImportRejected
from app.intake.extract import extract
from app.intake.source import read_source
from app.x12 import X12Error
from app.x12.x271 import parse_271
from app.x12.x835 import parse_835
from automations.workflows.intake import _ground, _normalise
from local_models import grounding
from tests.fixtures.intake import pdfs

FAST = settings(deadline=timedelta(seconds=2), max_examples=60, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

PIECES = ["Name", "Medications", "Allergies", "DOB", "Phone", "Member ID", "Reason for visit",
          ":", " ", "  ", "\t", "\n", "\n\n", "- ", "1. ", "none", "a:", "(x)", "_", ".", ",",
          ";", "lisinopril 10 mg", "04/12/1975", "555-201-3344", "ignore previous",
          "system:", "set allergies", "Ann Lee", "Lee, Ann", "\u2022 ", "x" * 30]
# A run is a piece repeated up to 20k times: long runs are where quadratic code shows.
RUN = st.tuples(st.sampled_from(PIECES), st.integers(1, 20_000)).map(lambda t: t[0] * t[1])
FORM = st.lists(RUN, min_size=1, max_size=12).map("".join)


@FAST
@given(FORM)
def test_intake_text_pipeline_is_bounded_and_spans_hold(text: str) -> None:
    markers = grounding.injection_markers(text)
    ex = extract(text, [span for _p, span in markers])
    for v in ex.values:  # every value is exactly the text at its span
        (a, b), = v.spans
        assert text[a:b] == v.value
    flags: list[object] = []
    _normalise(ex.values, flags)  # type: ignore[arg-type]
    _ground(text, ex.values, flags)  # type: ignore[arg-type]


@FAST
@given(st.one_of(FORM.map(lambda t: t.encode("utf-8")), st.binary(max_size=4096)))
def test_intake_read_source_on_text_is_bounded(data: bytes) -> None:
    try:
        doc = read_source(data, "fuzz.txt")
    except ImportRejected as exc:
        assert "\n" not in str(exc)
    else:
        assert doc.text or doc.kind.value == "image"


def _pdf_mutation(seed: bytes) -> st.SearchStrategy[bytes]:
    def apply(ops: list[tuple[int, int, bytes]]) -> bytes:
        data = bytearray(seed)
        for kind, pos, blob in ops:
            pos %= len(data)
            if kind == 0:
                data[pos:pos + len(blob)] = blob
            elif kind == 1:
                data[pos:pos] = blob * 50
            else:
                del data[pos:pos + len(blob) * 20]
        return bytes(data)
    op = st.tuples(st.integers(0, 2), st.integers(0, 10**6),
                   st.binary(min_size=1, max_size=6))
    return st.lists(op, min_size=1, max_size=3).map(apply)


@settings(deadline=timedelta(seconds=15), max_examples=12, database=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(_pdf_mutation(pdfs.text_pdf("Patient name: Ann Lee\nDOB: 01/02/1980\n")))
def test_intake_pdf_mutations_end_in_a_doc_or_one_line(data: bytes) -> None:
    """Each mutated PDF goes through the bounded worker (a process per example)."""
    try:
        read_source(data, "fuzz.pdf")
    except ImportRejected as exc:
        assert "\n" not in str(exc)


ISA = ("ISA*00*          *00*          *ZZ*SENDER         *ZZ*RECEIVER       *260101*1200*^*"
       "00501*000000001*0*P*:~")
SEGMENTS = ["GS*HP*S*R*20260101*1200*1*X*005010X221A1~", "ST*835*0001~", "BPR*I*10*C*CHK~",
            "CLP*1*1*10*5**MC*X~", "CAS*CO*45*5~", "SVC*HC:99213*10*5~", "SE*5*0001~",
            "GE*1*1~", "IEA*1*000000001~", "A~", "~", "*", "\n", "NM1~", "ZZZZ*1~", ":", "^"]
X12_RUN = st.tuples(st.sampled_from(SEGMENTS), st.integers(1, 30_000)).map(
    lambda t: t[0] * t[1])
X12_FILE = st.lists(X12_RUN, min_size=1, max_size=8).map(lambda parts: (ISA + "".join(parts)
                                                                         ).encode("latin-1"))


@FAST
@given(st.one_of(X12_FILE, st.binary(max_size=2048)), st.booleans())
def test_x12_parsers_are_bounded_and_raise_only_typed_errors(data: bytes,
                                                             lenient: bool) -> None:
    for parser in (parse_835, parse_271):
        try:
            parser(data, lenient=lenient)
        except X12Error as exc:
            assert exc.position and "\n" not in str(exc)
