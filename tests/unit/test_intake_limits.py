"""Untrusted intake PDFs are read in a bounded worker process (issue 10 #3).

Stated bounds, checked below: a 150 MB Flate bomb is refused in under 15 s with the
worker's peak resident memory under 200 MB and this process's under +50 MB; a stream
that inflates past a lowered memory limit is refused with the limit named; page, text and
time caps each give a one-line refusal; nothing reaches the vault."""

from __future__ import annotations

import io
import signal
import subprocess
import sys
import time
import zlib
from pathlib import Path

import pytest

from app.errors import ImportRejected
from app.intake.bounded import LIMITS, PdfLimits, _death, inflated_size, read_pdf_bounded
from app.intake.source import MAX_TEXT_CHARS, read_source
from tests.conftest import OWNER_PASSWORD
from tests.fixtures.intake import pdfs

MB = 1024 * 1024


def flate_pdf(inflated_bytes: int, pages: int = 1) -> bytes:
    """A small PDF whose one content stream inflates to `inflated_bytes` of spaces."""
    content = zlib.compress(b" " * inflated_bytes, 9)
    kids = " ".join(f"{3 + i} 0 R" for i in range(pages))
    objs = [b"<< /Type /Catalog /Pages 2 0 R >>",
            f"<< /Type /Pages /Kids [{kids}] /Count {pages} >>".encode()]
    contents_id = 3 + pages
    objs += [f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents {contents_id}"
             " 0 R >>".encode() for _ in range(pages)]
    objs.append(b"<< /Length %d /Filter /FlateDecode >>\nstream\n" % len(content) + content
                + b"\nendstream")
    out = b"%PDF-1.4\n"
    offsets = []
    for number, body in enumerate(objs, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objs) + 1)
    out += b"".join(b"%010d 00000 n \n" % off for off in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objs) + 1,
                                                                              xref)
    return out


@pytest.fixture(scope="module")
def bomb() -> bytes:
    data = flate_pdf(150 * MB)
    assert len(data) < 500 * 1024  # the probe's was 490 KB
    return data


# Run in a fresh interpreter: RUSAGE_CHILDREN is a high-water mark over every child this
# process ever waited for (the model worker of other tests included).
_MEASURE = """
import resource, sys, time
from app.errors import ImportRejected
from app.intake.source import read_source
data = open(sys.argv[1], "rb").read()
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
started = time.perf_counter()
try:
    read_source(data, "bomb.pdf")
except ImportRejected as exc:
    print(exc)
print(time.perf_counter() - started)
print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024)
print((resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024)
"""


def test_a_flate_bomb_is_refused_fast_and_small(bomb: bytes, tmp_path: Path) -> None:
    path = tmp_path / "bomb.pdf"
    path.write_bytes(bomb)
    run = subprocess.run([sys.executable, "-c", _MEASURE, str(path)], capture_output=True,
                         text=True, timeout=120, check=True)
    message, elapsed, worker_mb, grown_mb = run.stdout.strip().splitlines()
    assert message == f"the PDF expands past {LIMITS.max_inflated_mb} MB (at bomb.pdf)"
    assert float(elapsed) < 15, f"took {float(elapsed):.1f}s"
    assert float(worker_mb) < 200, f"the worker peaked at {float(worker_mb):.0f} MB"
    assert float(grown_mb) < 50, f"the importing process grew by {float(grown_mb):.0f} MB"
    assert run.stderr == ""


def test_memory_and_cpu_limits_stop_what_the_prescan_lets_through() -> None:
    """With the pre-scan cap raised, pdfminer inflates and reads 300 MB itself; the worker's
    limits (250 MB of address space, 3 s of CPU) end it with a one-line refusal, in under
    20 s of wall time even on the shared 2-core box."""
    limits = PdfLimits(memory_mb=250, cpu_seconds=3, max_inflated_mb=10_000)
    started = time.perf_counter()
    with pytest.raises(ImportRejected, match=r"^(the PDF needs more than 250 MB of memory|"
                                             r"reading the PDF used more than 3 seconds of "
                                             r"CPU) \(at big.pdf\)$"):
        read_pdf_bounded(flate_pdf(300 * MB), "big.pdf", limits)
    assert time.perf_counter() - started < 20


def test_inflated_size_counts_no_further_than_the_cap(bomb: bytes) -> None:
    started = time.perf_counter()
    assert 10 * MB < inflated_size(bomb, 10 * MB) <= 11 * MB
    assert time.perf_counter() - started < 2
    assert inflated_size(flate_pdf(1000), MB) == 1000


def test_page_text_and_time_caps() -> None:
    three = flate_pdf(100, pages=3)
    with pytest.raises(ImportRejected, match="^the PDF has 3 pages; intake forms over 2 pages"):
        read_pdf_bounded(three, "long.pdf", PdfLimits(max_pages=2))
    text_pdf = pdfs.text_pdf("Patient name: Ann Lee\nDOB: 01/02/1980\n" * 20)
    with pytest.raises(ImportRejected, match="^the PDF's text is longer than 100 characters"):
        read_pdf_bounded(text_pdf, "t.pdf", PdfLimits(max_chars=100))
    with pytest.raises(ImportRejected, match=r"^reading the PDF took longer than 0.05 seconds"):
        read_pdf_bounded(text_pdf, "t.pdf", PdfLimits(wall_seconds=0.05))
    with pytest.raises(ImportRejected, match=r"^the text is longer than"):
        read_source(b"a" * (MAX_TEXT_CHARS + 1), "big.txt")


def test_a_worker_killed_by_a_limit_or_a_crash_reads_as_one_line() -> None:
    assert _death(-signal.SIGXCPU, LIMITS) == ("reading the PDF used more than "
                                               f"{LIMITS.cpu_seconds} seconds of CPU")
    assert "the PDF crashed the reader (signal 11)" in _death(-signal.SIGSEGV, LIMITS)
    # SIGKILL is not only the CPU hard limit: the OOM killer sends it too
    assert _death(-signal.SIGKILL, LIMITS).startswith(
        "the PDF reader was stopped by the system (past its CPU limit")


def test_an_ordinary_pdf_still_reads(tmp_path: Path) -> None:
    doc = read_source(pdfs.text_pdf("Patient name: Ann Lee\nDOB: 01/02/1980\n"), "ok.pdf")
    assert "Ann Lee" in doc.text and doc.pages == 1


def test_a_bomb_import_writes_nothing_and_the_cli_says_one_line(
        practice, bomb: bytes, tmp_path: Path, vault_dir: Path,  # type: ignore[no-untyped-def]
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    from automations.workflows.intake import import_intake
    from ui.cli import main

    def counts() -> tuple[int, ...]:
        return tuple(int(practice.vault.query_one(f"SELECT count(*) FROM {t}")[0])
                     for t in ("tasks", "intake_forms", "blobs"))

    before = counts()
    with pytest.raises(ImportRejected, match="expands past"):
        import_intake(practice, bomb, "bomb.pdf", use_model=False)
    path = tmp_path / "bomb.pdf"
    path.write_bytes(bomb)
    monkeypatch.setenv("OFFHOLD_VAULT", str(vault_dir))
    monkeypatch.setenv("OFFHOLD_USER", "owner")
    monkeypatch.setenv("OFFHOLD_PASSWORD", OWNER_PASSWORD)
    code = main(["intake", "import", str(path), "--no-model"], stdin=io.StringIO(""))
    out, err = capsys.readouterr()
    assert code == 1 and out == ""
    assert err == f"offhold: the PDF expands past {LIMITS.max_inflated_mb} MB (at bomb.pdf)\n"
    assert counts() == before


def test_reader_failures_are_one_line_and_print_nothing(capfd: pytest.CaptureFixture[str]
                                                        ) -> None:
    """pypdf's warnings and any reader error stay inside the worker (issue 10 #12 too)."""
    broken = [pdfs.damaged_pdf(), b"%PDF-1.4\n1 0 obj << /Type /Catalog /Pages 2 0 R >>\n",
              flate_pdf(1000)[:-60], flate_pdf(1000).replace(b"/Count 1", b"/Count 9")]
    for data in broken:
        try:
            read_source(data, "broken.pdf")
        except ImportRejected as exc:
            assert "\n" not in str(exc)
    out, err = capfd.readouterr()
    assert out == "" and err == ""
