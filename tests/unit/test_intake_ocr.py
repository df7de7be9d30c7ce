"""Scanned and faxed intake forms are read by OCR (tesseract) in the bounded worker, like
a text PDF: values keep their page and box, unsure words are flagged, and no page image
or OCR text touches disk (issue 12, "Intake forms as they really arrive")."""

from __future__ import annotations

import shutil
from datetime import timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.domain.intake import IntakeResult, IntakeValue, SourceKind
from app.errors import ImportRejected
from app.identity import Session
from app.intake import ocr
from app.intake.bounded import PdfLimits, read_pdf_bounded
from app.intake.source import read_source
from app.services import intake as intake_service
from automations.workflows.intake import _place_ocr, import_intake
from tests.conftest import files_containing
from tests.fixtures.intake import pdfs

pytestmark = pytest.mark.skipif(shutil.which("tesseract") is None,
                                reason="tesseract-ocr is not installed")

FORM = ("New Patient Form\n"
        "Name: Zzyzxquell, Quintessa\n"
        "Date of Birth: 04/12/1975\n"
        "Member ID: ZQM4455667\n"
        "Allergies: NKDA\n"
        "Medications: Metformin 500 mg, Lisinopril 10 mg\n")


def test_a_scanned_form_is_read_like_a_text_pdf(practice: Session) -> None:
    data = pdfs.image_only_pdf([FORM])
    out = import_intake(practice, data, "scan.pdf", use_model=False)
    r = out.result
    assert r.source_kind is SourceKind.SCANNED_PDF and r.source_text
    fields = r.fields_dict()
    assert fields["first_name"] == "Quintessa" and fields["last_name"] == "Zzyzxquell"
    assert fields["dob"] == "1975-04-12" and fields["member_id"] == "ZQM4455667"
    assert "Metformin 500 mg" in fields["medications"]
    assert [v.value for v in r.stated_none] == ["NKDA"]
    assert "manual_entry" not in {f.code for f in r.flags} and "ocr" in {f.code for f in r.flags}
    for v in [*r.values, *r.stated_none]:
        assert v.origin == "ocr" and v.grounded
        [(page, x0, y0, x1, y1)] = v.boxes
        assert page == 1 and 0 <= x0 < x1 <= 1 and 0 <= y0 < y1 <= 1
    dob = next(v for v in r.values if v.field == "dob")
    assert dob.boxes[0][2] < 0.3  # near the top of the page, where the form printed it
    status = practice.vault.query_one("SELECT status FROM intake_forms WHERE task_id = ?",
                                      (out.task.id,))[0]
    assert status == "review"
    view = intake_service.review(practice, out.task.id)
    assert any(h.field == "member_id" and h.boxes for h in view.highlights)


def test_a_faxed_tiff_keeps_each_values_page(practice: Session) -> None:
    data = pdfs.fax_tiff(["Fax cover sheet\nTo: Front desk\n",
                          "Name: Zzyzxquell, Quintessa\nDate of Birth: 04/12/1975\n"])
    out = import_intake(practice, data, "fax.tif", use_model=False)
    r = out.result
    assert r.source_kind is SourceKind.IMAGE
    assert r.first("last_name") == "Zzyzxquell"
    assert {v.boxes[0][0] for v in r.values if v.field in ("last_name", "dob")} == {2}


def test_pages_past_the_ocr_limit_are_named_for_manual_entry() -> None:
    data = pdfs.image_only_pdf(["Name: Ann Lee\n", "Date of Birth: 01/02/1980\n"])
    doc = read_pdf_bounded(data, "two.pdf", PdfLimits(ocr_pages=1))
    assert "Ann Lee" in doc.text and "1980" not in doc.text
    assert doc.ocr_note.startswith("OCR read 1 of 2 pages")
    assert all(w.page == 1 for w in doc.ocr_words)


def test_ocr_writes_no_file(practice: Session, private_tmp: Path, tmp_path: Path) -> None:
    import_intake(practice, pdfs.image_only_pdf([FORM]), "scan.pdf", use_model=False)
    assert list(private_tmp.iterdir()) == []  # no rendered page, no OCR output file
    assert files_containing(tmp_path, b"Zzyzxquell") == []  # the vault is encrypted


def test_without_tesseract_a_scan_goes_to_manual_entry_and_says_why(
        practice: Session, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", "/nonexistent")
    out = import_intake(practice, pdfs.image_only_pdf([FORM]), "scan.pdf", use_model=False)
    [flag] = out.result.flags
    assert flag.code == "manual_entry" and "OCR is not installed" in flag.message


def test_an_unreadable_image_goes_to_manual_entry(practice: Session) -> None:
    out = import_intake(practice, b"\x89PNG\r\n\x1a\n" + b"\x00" * 64, "p.png",
                        use_model=False)
    assert [f.code for f in out.result.flags] == ["manual_entry"]
    assert "OCR could not read" in out.result.flags[0].message


TSV_HEAD = "level\tpage_num\tblock_num\tpar_num\tline_num\tword_num\tleft\ttop\twidth\theight\tconf\ttext\n"


def _tsv(words: list[tuple[str, int, int, float]]) -> str:
    rows = [TSV_HEAD.rstrip("\n"), "1\t1\t0\t0\t0\t0\t0\t0\t1000\t2000\t-1\t"]
    for i, (text, left, line, conf) in enumerate(words, 1):
        rows.append(f"5\t1\t1\t1\t{line}\t{i}\t{left}\t{line * 40}\t{len(text) * 10}\t30\t"
                    f"{conf}\t{text}")
    return "\n".join(rows) + "\n"


def test_low_confidence_words_are_flagged_on_their_field() -> None:
    text, words = ocr.page_text(_tsv([("Member", 10, 1, 96.0), ("ID:", 80, 1, 95.0),
                                      ("ZQM44S5667", 120, 1, 41.5),
                                      ("Sex:", 600, 1, 90.0), ("F", 650, 1, 92.0)]), 1, 0)
    assert text == "Member ID: ZQM44S5667   Sex: F"  # a wide gap kept as a column break
    start = text.index("ZQM")
    result = IntakeResult(SourceKind.SCANNED_PDF, text, values=[
        IntakeValue("member_id", "ZQM44S5667", "labelled_line", [(start, start + 10)]),
        IntakeValue("sex", "F", "labelled_line", [(len(text) - 1, len(text))])])
    _place_ocr(result, words, "")
    [flag] = [f for f in result.flags if f.code == "ocr_low_confidence"]
    assert flag.field == "member_id" and "ZQM44S5667" in flag.message
    assert flag.spans == [(start, start + 10)]
    assert result.values[0].boxes == [(1, 0.12, 0.02, 0.22, 0.035)]
    # the unsure word's own box, for the review pane to draw on the scan; kept through JSON
    assert flag.boxes == [(1, 0.12, 0.02, 0.22, 0.035)]
    assert IntakeResult.from_json(result.to_json()).flags == result.flags


@settings(deadline=timedelta(seconds=2), max_examples=80, database=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(st.text(min_size=0, max_size=12), st.integers(-5, 3000),
                          st.integers(0, 5), st.floats(-5, 100)), max_size=40),
       st.text(max_size=200))
def test_tesseract_output_parsing_never_fails_and_spans_hold(
        words: list[tuple[str, int, int, float]], garbage: str) -> None:
    tsv = _tsv([(w.replace("\t", " ").replace("\n", " "), left, line, conf)
                for w, left, line, conf in words]) + garbage
    text, parsed = ocr.page_text(tsv, 1, 7)
    for w in parsed:
        assert text[w.start - 7:w.end - 7].strip() and w.page == 1


def _mutations(seed: bytes) -> st.SearchStrategy[bytes]:
    op = st.tuples(st.integers(0, 10**6), st.binary(min_size=1, max_size=8))

    def apply(ops: list[tuple[int, bytes]]) -> bytes:
        data = bytearray(seed)
        for pos, blob in ops:
            pos %= len(data)
            data[pos:pos + len(blob)] = blob
        return bytes(data)
    return st.lists(op, min_size=1, max_size=4).map(apply)


@settings(deadline=timedelta(seconds=30), max_examples=8, database=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(_mutations(pdfs.fax_tiff(["Name: Ann Lee\n"])))
def test_damaged_faxes_end_in_a_doc_or_one_line(data: bytes) -> None:
    """Each mutated image goes through the bounded worker and tesseract."""
    try:
        doc = read_source(data, "fuzz.tif")
    except ImportRejected as exc:
        assert "\n" not in str(exc)
    else:
        assert doc.kind is SourceKind.IMAGE
