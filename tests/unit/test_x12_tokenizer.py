"""Separators come from the ISA, never assumed; positions are exact; envelopes and
counts are validated (strict) or flagged (lenient)."""

from __future__ import annotations

import random
from datetime import date
from pathlib import Path

import pytest

from app.x12.envelope import parse_envelope
from app.x12.errors import X12Error
from app.x12.synth import build_835, bulk_claims
from app.x12.tokenizer import Separators, tokenize
from app.x12.x271 import parse_270
from app.x12.x835 import parse_835

X12 = Path(__file__).resolve().parents[3] / "shared" / "corpus" / "x12"  # ../shared/corpus


@pytest.mark.parametrize("rel, element, component, repetition, segment", [
    ("270/x12edittools__270_custom_delimiters.x12", "|", ":", "~", "!"),
    # ISA12 00401: ISA11 is the 'U' standards ID, not a repetition separator
    ("270/oopfactory__Example1_IG_0x1D.txt", "*", ":", None, "\x1d"),
    ("835/tastypackets__multi-line-not-delimited.edi", "*", ":", "^", "\n"),
    ("277/imsweb__x12_277CA_rejected.txt", "*", "|", "^", "~"),
    ("835/edi835parser__united_healthcare_legacy_sample.txt", "*", ">", "^", "~"),
])
def test_separators_read_from_isa(rel: str, element: str, component: str, repetition: str | None,
                                  segment: str) -> None:
    tokens = tokenize((X12 / rel).read_bytes())
    assert tokens.separators == Separators(element, component, repetition, segment)


def test_cr_terminator_plus_separator_and_tilde_repetition() -> None:
    """stupidedi case 1: '+' elements, '>' components, '~' as the REPETITION separator
    and CR LF after each segment: a reader assuming '~' would split it wrongly."""
    tokens = tokenize((X12 / "835/stupidedi__1.edi").read_bytes(), lenient=True)
    assert tokens.separators.element == "+"
    assert tokens.separators.repetition == "~"
    assert tokens.separators.segment in ("\r", "\r\n")
    assert [s[0] for s in tokens.segments][:3] == ["ISA", "GS", "ST"]
    remits = parse_835((X12 / "835/stupidedi__1.edi").read_bytes(), lenient=True)
    assert len(remits[0].claims) == 2


def test_non_fixed_width_isa() -> None:
    data = (X12 / "835/affect835__nevada_medicaid.txt").read_bytes()
    tokens = tokenize(data)
    assert tokens.separators == Separators("*", ":", "^", "~")
    assert len(tokens.segments[0]) == 17


def test_line_breaks_and_indentation_between_segments() -> None:
    claims = bulk_claims(5, random.Random(1))
    plain = build_835(claims, payer_name="P", payer_id="123", trace="T", paid_on=date(2026, 1, 5))
    broken = plain.replace(b"~", b"~\r\n    ")
    a, b = parse_835(plain)[0], parse_835(broken)[0]
    assert [c.claim_number for c in a.claims] == [c.claim_number for c in b.claims]
    assert a.payment_amount == b.payment_amount and b.balanced


@pytest.mark.parametrize("seps", [Separators("|", "^", "~", "\n"),
                                  Separators("+", ">", "^", "'"),
                                  Separators("\x1f", "\x1e", "^", "\x1c")])
def test_synthetic_835_with_other_separators(seps: Separators) -> None:
    claims = bulk_claims(20, random.Random(3))
    data = build_835(claims, payer_name="P", payer_id="123", trace="T",
                     paid_on=date(2026, 1, 5), seps=seps)
    remit = parse_835(data)[0]
    assert len(remit.claims) == 20 and remit.balanced
    assert remit.claims[0].lines[0].procedure.startswith("HC" + seps.component)


def _valid() -> bytes:
    return build_835(bulk_claims(3, random.Random(5)), payer_name="P", payer_id="123",
                     trace="T9", paid_on=date(2026, 1, 5))


def _replace(data: bytes, old: bytes, new: bytes) -> bytes:
    assert old in data
    return data.replace(old, new, 1)


@pytest.mark.parametrize("mutate, reason, tag", [
    (lambda d: d.replace(b"SE*", b"SE*9", 1), "SE01", "SE"),
    (lambda d: _replace(d, b"GE*1*1~", b"GE*2*1~"), "GE01", "GE"),
    (lambda d: _replace(d, b"GE*1*1~", b"GE*1*7~"), "GE02", "GE"),
    (lambda d: _replace(d, b"IEA*1*000000001~", b"IEA*1*000000002~"), "IEA02", "IEA"),
    (lambda d: _replace(d, b"IEA*1*", b"IEA*3*"), "IEA01", "IEA"),
    (lambda d: d[:d.index(b"SE*")], "no SE", "ST"),
    (lambda d: d[:d.index(b"GE*")], "no GE", "SE"),
    (lambda d: _replace(d, b"SE*", b"SE*1*X~SE*"), "SE", "SE"),
])
def test_envelope_errors_name_segment_and_byte(mutate, reason: str, tag: str) -> None:  # type: ignore[no-untyped-def]
    data = mutate(_valid())
    with pytest.raises(X12Error) as info:
        parse_835(data)
    err = info.value
    assert reason in str(err) or reason in err.reason
    assert err.byte_offset is not None and err.segment_index is not None
    assert f"at byte {err.byte_offset}" in str(err)
    if err.segment_id:
        assert data[err.byte_offset:err.byte_offset + len(err.segment_id)].decode() == \
            err.segment_id


def test_lenient_counts_flag_instead_of_reject() -> None:
    data = _valid().replace(b"SE*", b"SE*9", 1)
    with pytest.raises(X12Error):
        parse_envelope(data)
    inter = parse_envelope(data, lenient=True)
    assert any("SE01" in f for f in inter.findings)
    remit = parse_835(data, lenient=True)[0]
    assert any("SE01" in f for f in remit.findings)
    # a truncated transaction is never tolerated
    with pytest.raises(X12Error, match="no SE"):
        parse_envelope(data[:data.index(b"SE*")], lenient=True)


@pytest.mark.parametrize("data, reason", [
    (b"", "empty"),
    (b"   \n", "empty"),
    (b"GS*HP*1~", "does not start with an ISA"),
    (b"ISA*00*", "truncated"),
    ("ISA".encode("utf-16"), "NUL bytes"),
    (b"ISA*00*          *00*          *ZZ*A              *ZZ*B              *260101*1200*^*"
     b"00501*000000001*0*T*:~GS*HP*A*B*20260101*1200*1*X*005010X221A1~st*835*1~", "segment ID"),
])
def test_garbage_is_rejected(data: bytes, reason: str) -> None:
    with pytest.raises(X12Error, match=reason):
        parse_835(data)


def test_270_code_value_error_is_positioned() -> None:
    rel = "malformed/270/x12edittools__batch_with_one_bad_transaction.x12"
    data = (X12 / rel).read_bytes()
    with pytest.raises(X12Error) as info:
        parse_270(data)
    assert "NM102" in str(info.value)
    off = info.value.byte_offset
    assert off is not None and data[off:off + 9] == b"NM1*IL*9*"
