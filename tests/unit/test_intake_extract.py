"""Intake sources and deterministic extraction: fillable PDF fields, text PDFs, plain
text, scans queued for manual entry, malformed files refused with nothing imported, and
real blank forms processed without a crash."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import pytest

from app.domain.intake import SourceKind
from app.errors import ImportRejected
from app.identity import Session
from app.intake.extract import extract
from app.intake.source import read_source
from automations.workflows.intake import import_intake
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "intake"


def _load_pdfs() -> ModuleType:
    spec = importlib.util.spec_from_file_location("intake_fixture_pdfs", FIXTURES / "pdfs.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


pdfs = _load_pdfs()
CORPUS = Path("/work/shared/corpus/forms/gilman_family_practice")
BASE = (FIXTURES / "base.txt").read_text(encoding="utf-8")


def _fields(text: str) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for v in extract(text).values:
        out.setdefault(v.field, []).append(v.value)
    return out


def test_labelled_lines_with_spans() -> None:
    ex = extract(BASE)
    got = {v.field: v for v in ex.values}
    assert got["first_name"].value == "Quintessa" and got["last_name"].value == "Zzyzxquell"
    assert got["dob"].value == "04/12/1975"
    assert got["member_id"].value == "ZQM4455667"
    assert got["insurance"].value == "Acme Health"
    assert got["reason"].value == "knee pain after a fall"
    for v in ex.values:  # every span points at exactly the value in the source
        (start, end), = v.spans
        assert BASE[start:end] == v.value
    fields = _fields(BASE)
    assert fields["medications"] == ["Metformin 500 mg twice daily", "Lisinopril 10 mg daily"]
    assert fields["allergies"] == ["penicillin", "sulfa"]
    assert fields["problems"] == ["type 2 diabetes", "hypertension"]
    assert fields["last_screenings"] == ["Last mammogram: 05/2024", "Last colonoscopy: 2021"]


def test_name_last_comma_first_and_none_answers() -> None:
    ex = extract("Name: Doe, Jane A.\nDate of Birth (MM/DD/YYYY): 3/4/80\nAllergies: NKDA\n")
    fields = {v.field: v.value for v in ex.values}
    assert fields["last_name"] == "Doe" and fields["first_name"] == "Jane"
    assert fields["dob"] == "3/4/80"
    assert "allergies" in ex.none_reported and "allergies" not in fields


def test_first_answer_wins_and_conflicts_are_reported() -> None:
    ex = extract("DOB: 04/12/1975\nMember ID: A1\nDOB: 01/01/2000\n")
    assert [v.value for v in ex.values if v.field == "dob"] == ["04/12/1975"]
    assert [o.field for o in ex.conflicts] == ["dob"]


def test_fillable_pdf_is_read_through_its_fields() -> None:
    doc = read_source(pdfs.fillable_pdf(), "form.pdf")
    assert doc.kind is SourceKind.FILLABLE_PDF
    assert doc.form_fields["member_id"] == "ZQM4455667"
    fields = _fields(doc.text)
    assert fields["first_name"] == ["Quintessa"] and fields["dob"] == ["04/12/1975"]
    assert fields["medications"] == ["Metformin 500 mg twice daily", "Lisinopril 10 mg daily"]


def test_text_pdf_is_read_with_pdfplumber() -> None:
    doc = read_source(pdfs.text_pdf(BASE), "form.pdf")
    assert doc.kind is SourceKind.TEXT_PDF
    assert _fields(doc.text)["member_id"] == ["ZQM4455667"]


def test_scan_is_stored_and_queued_for_manual_entry(practice: Session) -> None:
    data = pdfs.scanned_pdf()
    out = import_intake(practice, data, "scan.pdf", use_model=False)
    assert out.result.source_kind is SourceKind.SCANNED_PDF
    assert [f.code for f in out.result.flags] == ["manual_entry"]
    assert "manual entry" in out.task.title
    form = practice.vault.query_one("SELECT status, blob_id FROM intake_forms WHERE task_id = ?",
                                    (out.task.id,))
    assert form[0] == "manual_entry"
    stored = practice.vault.query_one("SELECT data FROM blobs WHERE id = ?", (form[1],))[0]
    assert bytes(stored) == data  # kept in the vault, not dropped


def test_image_is_accepted_for_manual_entry(practice: Session) -> None:
    png = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
    out = import_intake(practice, png, "photo.png", use_model=False)
    assert out.result.source_kind is SourceKind.IMAGE
    assert out.result.flags[0].code == "manual_entry"


@pytest.mark.parametrize("data, reason", [
    (pdfs.damaged_pdf(), "not a readable PDF"),
    (b"%PDF-1.7\n%%EOF", "not a readable PDF"),
    (b"\x00\x01\x02binary", "binary content"),
    (b"", "empty"),
    (b"Name: J\xff\xfe Doe", "not UTF-8"),
])
def test_malformed_input_is_refused_and_nothing_is_imported(practice: Session, data: bytes,
                                                            reason: str) -> None:
    tasks = practice.vault.query_one("SELECT count(*) FROM tasks")[0]
    blobs = practice.vault.query_one("SELECT count(*) FROM blobs")[0]
    with pytest.raises(ImportRejected) as err:
        import_intake(practice, data, "bad.pdf", use_model=False)
    assert reason in str(err.value)
    assert practice.vault.query_one("SELECT count(*) FROM tasks")[0] == tasks
    assert practice.vault.query_one("SELECT count(*) FROM blobs")[0] == blobs
    assert practice.vault.query_one("SELECT count(*) FROM intake_forms")[0] == 0


@pytest.mark.skipif(not CORPUS.is_dir(), reason="shared corpus not present")
def test_real_blank_forms_give_a_clear_result(practice: Session) -> None:
    for path in sorted(CORPUS.glob("*.pdf")):
        out = import_intake(practice, path.read_bytes(), path.name, use_model=False)
        r = out.result
        assert out.task.kind == "intake_review", path.name
        assert r.source_kind in (SourceKind.TEXT_PDF, SourceKind.SCANNED_PDF), path.name
        assert r.summary  # always a deterministic summary, even for a blank form
        for v in r.values:  # junk read from a blank form is flagged, never kept silently
            assert v.grounded or any(f.code == "ungrounded" and f.field == v.field
                                     for f in r.flags), (path.name, v.field)
        if not r.first("last_name"):
            assert any(f.code == "missing" for f in r.flags), path.name


def test_reimporting_the_same_file_makes_no_duplicate(practice: Session) -> None:
    first = import_intake(practice, BASE.encode(), "a.txt", use_model=False)
    again = import_intake(practice, BASE.encode(), "a.txt", use_model=False)
    assert first.created and not again.created and again.task.id == first.task.id
    assert practice.vault.query_one("SELECT count(*) FROM tasks WHERE kind = 'intake_review'"
                                    )[0] == 1


@pytest.mark.parametrize("line", [
    "Patient Name: Last                     First                  M.I.       Gender:   M    F",
    "Home Phone:             Cell Phone:                  Work Phone:               ext.",
    "Subscriber's Date of Birth:      /       /         Subscriber's Name:",
    "Email:_______________________________ If you sign up for a Portal account,",
    "Medications: (Include dosage, frequency and list all herbal, over-the-counter.)",
    "Drug Allergies: List drug and reaction:               No Known Drug Allergies",
    "Tobacco/ Smoking:   Never   previous, date you quit?________   Yes, I Smoke.",
    "Pharmacy Name: Main Street Pharmacy",
])
def test_a_printed_forms_own_words_are_never_values(line: str) -> None:
    ex = extract(line + "\n")
    assert ex.values == [] and not ex.none_reported, [(v.field, v.value) for v in ex.values]


def test_filled_answers_next_to_printed_words_are_kept() -> None:
    ex = extract("Patient Name: Jane Doe     Gender: F\n"
                 "Cell Phone: 555-201-3344     Work Phone:\n"
                 "Date of Birth: 04/12/1975    Subscriber's Date of Birth: 01/01/1950\n")
    fields = {v.field: v.value for v in ex.values}
    # the subscriber's date of birth is the subscriber's, never the patient's
    assert fields == {"first_name": "Jane", "last_name": "Doe", "sex": "F",
                      "phone": "555-201-3344", "dob": "04/12/1975",
                      "subscriber_dob": "01/01/1950"}


def test_none_known_is_a_stated_answer_with_its_span(practice: Session) -> None:
    text = "Name: Doe, Jane\nDOB: 04/12/1975\nAllergies: None known\nMedications: NKDA.\n"
    ex = extract(text)
    assert {v.field: text[v.spans[0][0]:v.spans[0][1]] for v in ex.stated_none} == {
        "allergies": "None known", "medications": "NKDA"}
    out = import_intake(practice, text.encode(), "f.txt", use_model=False)
    stated = {v.field: v.value for v in out.result.stated_none}
    assert stated == {"allergies": "None known", "medications": "NKDA"}
    from app.services import intake as intake_service
    view = intake_service.review(practice, out.task.id)
    assert any(h.field == "allergies" and text[h.start:h.end] == "None known"
               for h in view.highlights)
    assert view.result.stated_none[0].spans  # survives the task payload's JSON
