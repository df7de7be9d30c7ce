"""X12 imports are bounded before parsing (issue 10 #3): the probe's 50 MB garbage file
used 730 MB before its refusal; 10 MB of one-letter segments measured 938 MB here.

Stated bounds, checked below with tracemalloc (Python allocations beyond the input):
a file over the size cap is refused before decoding (under 1 MB, under 1 s); garbage
under the cap is refused by the segment-ID scan or the segment cap before any segment is
built (under 40 MB); the largest file the caps allow parses under 500 MB."""

from __future__ import annotations

import io
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path

import pytest

from app.x12 import X12Error, tokenize
from app.x12.tokenizer import MAX_SEGMENTS, MAX_X12_BYTES

MB = 1024 * 1024
ISA = (b"ISA*00*          *00*          *ZZ*SENDER         *ZZ*RECEIVER       *260101*1200*^*"
       b"00501*000000001*0*P*:~")


def _measure(fn: Callable[[], object]) -> tuple[float, float, BaseException | None]:
    """(peak MB allocated, seconds, the exception raised)"""
    tracemalloc.start()
    started = time.perf_counter()
    error: BaseException | None = None
    try:
        fn()
    except X12Error as exc:
        error = exc
    finally:
        elapsed = time.perf_counter() - started
        peak = tracemalloc.get_traced_memory()[1] / MB
        tracemalloc.stop()
    return peak, elapsed, error


def test_a_50mb_garbage_file_is_refused_before_decoding() -> None:
    data = ISA + b"A~" * (25 * MB)
    peak, elapsed, error = _measure(lambda: tokenize(data))
    assert error is not None and str(error).startswith(
        f"the file is 50.0 MB; X12 imports are limited to {MAX_X12_BYTES // MB} MB")
    assert peak < 1 and elapsed < 1, (peak, elapsed)


def test_garbage_under_the_size_cap_is_refused_before_segments_are_built() -> None:
    data = ISA + b"A~" * (6 * MB)  # 12 MB of one-letter segments
    peak, elapsed, error = _measure(lambda: tokenize(data))
    assert error is not None and "invalid segment ID 'A'" in str(error)
    assert "segment 2 (A) at byte 106" in str(error)
    assert peak < 40, f"{peak:.0f} MB"


def test_too_many_segments_are_refused_before_they_are_built() -> None:
    data = ISA + b"NM1~" * (MAX_SEGMENTS + 1)
    assert len(data) < MAX_X12_BYTES
    peak, elapsed, error = _measure(lambda: tokenize(data))
    assert error is not None and f"more than {MAX_SEGMENTS:,} segments" in str(error)
    assert peak < 40, f"{peak:.0f} MB"


def test_the_largest_file_the_caps_allow_parses_in_bounded_memory() -> None:
    data = ISA + b"NM1*IL*1*LAST*FIRST~" * (MAX_SEGMENTS - 10)
    assert len(data) < MAX_X12_BYTES
    peak, elapsed, error = _measure(lambda: tokenize(data, lenient=True))
    assert error is None
    assert peak < 500, f"{peak:.0f} MB"


def test_trailing_terminators_and_line_breaks_still_read() -> None:
    body = ISA + b"\nGS*HP*S*R*20260101*1200*1*X*005010X221A1~\nGE*0*1~\nIEA*1*000000001~\n~\n"
    assert [s[0] for s in tokenize(body).segments] == ["ISA", "GS", "GE", "IEA"]


def test_the_cli_refuses_an_oversized_file_in_one_line(
        practice, tmp_path: Path, vault_dir: Path,  # type: ignore[no-untyped-def]
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    from tests.conftest import OWNER_PASSWORD
    from ui.cli import main
    big = tmp_path / "big.835"
    with big.open("wb") as f:
        f.write(ISA)
        f.truncate(MAX_X12_BYTES + 1)
    monkeypatch.setenv("OFFHOLD_VAULT", str(vault_dir))
    monkeypatch.setenv("OFFHOLD_USER", "owner")
    monkeypatch.setenv("OFFHOLD_PASSWORD", OWNER_PASSWORD)
    code = main(["import", "835", str(big)], stdin=io.StringIO(""))
    _out, err = capsys.readouterr()
    assert code == 1
    [line] = err.strip().splitlines()
    assert line.startswith(f"{big}: REJECTED, nothing imported: the file is 16.0 MB; X12 "
                           f"imports are limited to {MAX_X12_BYTES // MB} MB")
    assert practice.vault.query_one("SELECT count(*) FROM x12_imports")[0] == 0
