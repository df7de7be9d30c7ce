"""Every corpus X12 file: the valid 835/271/270/277 files parse (strictly, or in lenient
mode for a short documented list, or are rejected for a documented content reason);
every malformed file is rejected with the segment and its byte offset; every other
transaction type tokenizes or is rejected cleanly. Cross-checked against pyx12."""

from __future__ import annotations

import io
import json
import logging
import re
from collections import Counter
from pathlib import Path
from typing import Any, Callable

import pytest

from app.x12.envelope import parse_envelope
from app.x12.errors import X12Error
from app.x12.tokenizer import tokenize
from app.x12.x271 import parse_270, parse_271
from app.x12.x277 import parse_277
from app.x12.x835 import parse_835

X12 = Path(__file__).resolve().parents[3] / "shared" / "corpus" / "x12"  # ../shared/corpus
MANIFEST = {e["file"]: e for e in json.loads((X12.parent / "manifest_x12.json").read_text())}

PARSERS: dict[str, Callable[..., list[Any]]] = {
    "835": parse_835, "271": parse_271, "270": parse_270, "277": parse_277}
VALID_FOLDERS = ["835", "271", "271/aaa_validation_cases", "270", "277"]

# Files meant to be valid that need lenient mode, with the finding that needs it. Each
# is also checked to be REJECTED in strict mode, so this list cannot silently widen.
LENIENT = {
    "835/affect835__exhaustive_sample.txt": "no ISA/GS envelope (ST..SE only)",
    "835/affect835__nevada_medicaid.txt": "IEA02 does not repeat ISA13",
    "835/chs835__test.835": "SE01 off by one",
    "835/edi835parser__blue_cross_nc_sample.txt": "no envelope; SE01 off; empty SVC02",
    "835/lfh__cob-contractural-adjustment.835": "SVC01 uses '>' but ISA16 is ':'",
    "835/lfh__managed-care.835": "BPR16 '20002316' is not a date (source slip)",
    "835/lfh__secondary-payment.835": "SVC01 uses '>' but ISA16 is ':'",
    "835/lfh__tertiary-payment.835": "SVC01 'HC' has no procedure code",
    "835/stupidedi__1.edi": "prose before the ISA (fixture description)",
    "835/stupidedi__2.edi": "prose before the ISA",
    "835/stupidedi__3a.edi": "prose before the ISA; SE01 not maintained",
    "271/lfh__subscriber-health-benefit-check-error.271": "SE02 does not match ST02",
    "271/nodex12__271.edi": "file ends at SE: no GE/IEA",
    "277/imsweb__x12_277_x212.txt": "IEA02 does not repeat ISA13",
    "277/stupidedi__1.era": "IEA02 does not repeat ISA13",
    **{f"271/aaa_validation_cases/{p.name}": "SE01 not maintained by the source"
       for p in (X12 / "271" / "aaa_validation_cases").glob("*")},
}
# Files in the valid folders whose content is not a conformant transaction; rejected in
# both modes (decided per file; the manifest notes agree).
REJECTED = {
    "835/affect835__sample_835.txt": "placeholder tokens: CAS*grp_code*reason_code*amount",
    "835/affect835__sample_835_with_interests.txt": "placeholder tokens as segment IDs",
    "835/stupidedi__recover.txt": "error-recovery demo input with an 'LXXXX' segment",
    "835/oopfactory__Example1.txt": "GS08 '5010' and a CLP with only two elements",
    "277/oopfactory__FromLatitude81uk.txt": "STC02 '2trtrtrt' is not a date",
}

POSITION = re.compile(r"segment (\d+) \((\w*)\) at byte (\d+)|byte (\d+)")


def _files(folder: str) -> list[str]:
    if not (X12 / folder).is_dir():
        return []
    return sorted(str(p.relative_to(X12)) for p in (X12 / folder).iterdir() if p.is_file())


def _parser_for(rel: str) -> Callable[..., list[Any]]:
    return PARSERS[rel.split("/")[0] if "malformed" not in rel else rel.split("/")[1]]


def _check_position(data: bytes, exc: X12Error) -> None:
    """The message names the segment and byte offset, and the offset is right."""
    assert exc.position, str(exc)
    m = POSITION.search(exc.position)
    assert m, exc.position
    if m.group(1):
        offset = int(m.group(3))
        assert exc.byte_offset == offset and exc.segment_index == int(m.group(1)) - 1
        tag = m.group(2)
        if tag and offset < len(data):
            assert data[offset:offset + len(tag)].decode("latin-1") == tag


@pytest.mark.parametrize("rel", [f for d in VALID_FOLDERS for f in _files(d)])
def test_valid_corpus_file_parses(rel: str) -> None:
    data = (X12 / rel).read_bytes()
    parser = _parser_for(rel)
    if rel in REJECTED:
        for lenient in (False, True):
            with pytest.raises(X12Error) as info:
                parser(data, lenient=lenient)
            _check_position(data, info.value)
        return
    if rel in LENIENT:
        with pytest.raises(X12Error) as info:
            parser(data)
        _check_position(data, info.value)
    result = parser(data, lenient=rel in LENIENT)
    stats = MANIFEST[f"x12/{rel}"]["stats"]["counts"]
    if rel.startswith("835"):
        assert sum(len(r.claims) for r in result) == stats.get("CLP", 0)
        cas = sum(1 for r in result for c in r.claims for a in c.all_adjustments())
        assert cas >= stats.get("CAS", 0)  # a CAS segment carries 1-6 adjustments
        assert sum(len(r.provider_adjustments) > 0 for r in result) <= stats.get("PLB", 0)
    elif rel.startswith("271"):
        assert result, "every 271 yields at least one response (or rejection)"
        assert sum(len(r.benefits) for r in result) == stats.get("EB", 0)
        for r in result:
            assert r.benefits or r.rejections
    elif rel.startswith("270"):
        assert len(result) == stats.get("HL", 0) // 3 or result
        assert all(r.service_types for r in result)
    elif rel.startswith("277"):
        statuses = sum(len(c.statuses) + len(c.line_statuses) for c in result)
        assert statuses <= stats.get("STC", 0)


def test_tolerance_lists_name_real_files() -> None:
    for rel in [*LENIENT, *REJECTED]:
        assert (X12 / rel).is_file(), rel


@pytest.mark.parametrize("rel", _files("malformed/835") + _files("malformed/277")
                         + _files("malformed/270"))
def test_malformed_transaction_is_rejected(rel: str) -> None:
    data = (X12 / rel).read_bytes()
    with pytest.raises(X12Error) as info:
        _parser_for(rel)(data)
    _check_position(data, info.value)


OTHER = sorted(str(p.relative_to(X12)) for p in (X12 / "malformed").rglob("*")
               if p.is_file() and p.parent.name not in ("835", "277", "270"))


@pytest.mark.parametrize("rel", OTHER)
def test_malformed_other_types_are_rejected_cleanly(rel: str) -> None:
    """Not transaction types OffHold imports: the envelope layer rejects the broken
    ones with a position, and the 835 importer refuses whatever is left (no crash)."""
    data = (X12 / rel).read_bytes()
    try:
        parse_envelope(data)
    except X12Error as exc:
        _check_position(data, exc)
    with pytest.raises(X12Error) as info:
        parse_835(data)
    _check_position(data, info.value)


@pytest.mark.parametrize("rel", [f for d in ("276", "278", "837p", "837i", "ack",
                                             "legacy_4010/835", "legacy_4010/271",
                                             "legacy_4010/270") for f in _files(d)])
def test_other_types_tokenize_or_reject_cleanly(rel: str) -> None:
    data = (X12 / rel).read_bytes()
    for lenient in (False, True):
        try:
            inter = parse_envelope(data, lenient=lenient)
        except X12Error as exc:
            _check_position(data, exc)
        else:
            assert inter.transactions() or rel.endswith("TA1.edi") or "997" in rel


def _pyx12_segments(text: str) -> list[str]:
    from pyx12.x12file import X12Reader
    logging.getLogger("pyx12").setLevel(logging.CRITICAL)
    out = []
    with X12Reader(io.StringIO(text)) as reader:
        for seg in reader:
            # pyx12 keeps tab indentation in the segment ID; we strip it.
            out.append(seg.format("", "\x01", "\x02").strip(" \t"))
    return out


def _ours(text: str) -> list[str]:
    tokens = tokenize(text)
    comp = tokens.separators.component
    out = []
    for s in tokens.segments:
        elements = list(s)
        while len(elements) > 1 and not elements[-1]:
            elements.pop()
        if elements[0] != "ISA":
            elements = [e.replace(comp, "\x02").rstrip("\x02") if comp in e else e
                        for e in elements]
        out.append("\x01".join(elements))
    return out


STRICT_5010 = [f for d in ("835", "271", "270", "277") for f in _files(d)
               if f not in LENIENT and f not in REJECTED]


@pytest.mark.parametrize("rel", STRICT_5010)
def test_tokenizer_matches_pyx12(rel: str) -> None:
    """pyx12's reader and our tokenizer see the same segments and elements."""
    text = (X12 / rel).read_bytes().decode("latin-1")
    # pyx12 cannot read a UTF-8 byte order mark; ours skips it (and sees the same rest).
    theirs = _pyx12_segments(text.removeprefix("\xef\xbb\xbf"))
    ours = _ours(text)
    assert Counter(s.split("\x01")[0] for s in ours) == Counter(
        s.split("\x01")[0] for s in theirs)
    assert [s for s in ours if not s.startswith("ISA")] == \
        [s for s in theirs if not s.startswith("ISA")]


PYX12_VALID_835 = ["835/edi835parser__emedny_sample.txt", "835/pyx12__835_mult_loops.txt",
                   "835/stupidedi__era-sample.edi",
                   "835/stupidedi__multiple-claims-single-check.edi",
                   "835/stupidedi__secondary-payments.edi", "835/tastypackets__profee.edi"]


@pytest.mark.parametrize("rel", PYX12_VALID_835)
def test_pyx12_valid_files_parse_strictly(rel: str) -> None:
    """Where pyx12's implementation-guide validation passes, our strict parse does too
    and finds the same number of claims as pyx12's reader."""
    from app.x12.strict import pyx12_validate
    data = (X12 / rel).read_bytes()
    ok, messages = pyx12_validate(data)
    assert ok, messages
    theirs = sum(1 for s in _pyx12_segments(data.decode("latin-1")) if s.startswith("CLP"))
    assert sum(len(r.claims) for r in parse_835(data)) == theirs


def test_every_malformed_file_imports_nothing(practice: Any) -> None:
    """Through the real import workflows (one transaction each): every file under
    x12/malformed/ is rejected with a position and leaves every table as it was."""
    from automations.workflows import claim_status, denials, eligibility
    tables = ["x12_imports", "remittances", "remit_claims", "eligibility_responses",
              "claim_statuses", "tasks", "blobs"]

    def counts() -> list[int]:
        return [practice.vault.query_one(f"SELECT count(*) FROM {t}")[0] for t in tables]

    before = counts()
    files = sorted(p for p in (X12 / "malformed").rglob("*") if p.is_file())
    assert len(files) >= 20
    for path in files:
        data = path.read_bytes()
        for importer in (denials.import_835_file, eligibility.import_271_file,
                         claim_status.import_277_file):
            with pytest.raises(X12Error) as info:
                importer(practice, data)
            _check_position(data, info.value)
        assert counts() == before, path.name
