"""The intake evaluation set: 30+ forms written for the tests with hand-written expected
facts. Without a model, the grounding gate is scored on planted summaries: faithful
paraphrases should pass, and every summary with one invented claim (a complaint from
another form, a flipped negation, a medication stated as an allergy, a new drug, a wrong
dose) must be rejected. The same report runs on real models in bench/intake_eval.py and
tests/e2e/test_intake_eval_model.py."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from app.identity import Session
from app.queue import get_task
from automations.workflows import intake as intake_flow
from automations.workflows import intake_eval
from local_models import grounding
from local_models.prompts import load_prompt
from tests.unit.planted_model import plant

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "intake"
FORMS = intake_eval.load_forms(FIXTURES / "eval")


def test_the_set_has_30_varied_forms_each_with_expected_facts() -> None:
    assert len(FORMS) >= 30
    assert all(f.facts.get("reason") for f in FORMS)
    with_negations = [f for f in FORMS if f.facts.get("negated")]
    long_lists = [f for f in FORMS if len(f.facts.get("medications", [])) >= 10]
    rare = [f for f in FORMS if f.facts.get("rare")]
    misspelled = [f for f in FORMS if re.search(r"migrane|sholder|presure|ibuprofin|allergys",
                                                f.text)]
    layouts = {bool(re.search(r"^\s+-", f.text, re.M)) for f in FORMS} | \
        {bool(re.search(r"\S {4,}\S+:", f.text)) for f in FORMS}
    assert len(with_negations) >= 20 and long_lists and len(rare) >= 2 and misspelled
    assert layouts == {True, False}  # bullet lists, two-column lines and plain lines


@pytest.mark.parametrize("form", FORMS, ids=[f.name for f in FORMS])
def test_extraction_and_the_deterministic_summary(form: intake_eval.EvalForm) -> None:
    result = intake_eval.read_form(form.text)
    assert result.first("reason") == form.facts["reason"]
    allergies = [a.lower() for a in result.items("allergies")]
    for allergen in form.facts["allergies"]:
        assert any(allergen.lower() in a for a in allergies), (allergen, allergies)
    report = grounding.check_text(result.deterministic_summary, form.text, strict=True)
    assert report.passed, report.reasons
    assert intake_eval.invented_claims(result.deterministic_summary, form) == []
    for term in form.facts.get("rare", []):  # real, rare terms ground when copied
        assert grounding.check_text(f"History of {term}.", form.text).passed, term


def test_planted_summaries_report() -> None:
    faithful, invented = intake_eval.planted_report(FORMS)
    print("\n" + faithful.line() + "\n" + invented.line())
    assert len(invented.runs) >= 5 * len(FORMS)
    assert invented.invented_passed == 0
    assert not [r.summary for r in invented.runs if r.passed]
    assert faithful.invented_passed == 0
    # A faithful paraphrase may be refused (the reviewer then sees the deterministic
    # summary), but the gate must not refuse most of them.
    assert faithful.grounded_rate >= 0.9, [r.reasons for r in faithful.runs if not r.passed]


def test_extractive_summary_only_reorders_our_sentences() -> None:
    result = intake_eval.read_form(FORMS[0].text)
    sentences = intake_flow.summary_sentences(result)
    text, unknown = intake_flow.extractive_summary(
        result, ["allergies", "reason", "allergies", "screenings"])
    assert text == " ".join([sentences["name"], sentences["allergies"], sentences["reason"]])
    assert unknown == ["screenings"]  # the form has none: dropped, never invented
    schema = load_prompt("intake_extractive").schema
    assert schema is not None
    ids = schema["properties"]["order"]["items"]["enum"]
    assert set(ids) == set(intake_flow.SENTENCE_IDS)


def test_a_model_summary_that_invents_a_complaint_is_rejected_on_the_task(
        practice: Session, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(intake_flow, "SUMMARY_STYLE", "prose")
    monkeypatch.setattr(intake_flow, "MODEL_SUMMARY_SHOWN", True)
    plant(monkeypatch, intake_flow, lambda _prompt: {
        "summary": "Quintessa Zzyzxquell has a sore throat. Takes metformin 500 mg.",
        "reason_for_visit": "knee pain after a fall"})
    out = intake_flow.import_intake(practice, (FIXTURES / "base.txt").read_bytes(),
                                    "base.txt")
    assert out.result.summary_origin == "deterministic"
    assert out.result.summary == out.result.deterministic_summary
    task = get_task(practice, out.task.id)
    flags = [f for f in task.payload["flags"] if f["code"] == "model_ungrounded"]
    assert flags and "the summary names 'sore throat', which the form does not say" in \
        flags[0]["message"]
    assert task.payload["model_summary"].endswith("Takes metformin 500 mg.")
    marked = task.payload["model_ungrounded"]
    assert [task.payload["model_summary"][a:b] for a, b in marked] == ["sore throat"]


def test_an_extractive_model_summary_is_kept_but_not_shown_by_default(
        practice: Session, monkeypatch: pytest.MonkeyPatch) -> None:
    plant(monkeypatch, intake_flow, lambda _prompt: {
        "order": ["reason", "allergies", "medications"]})
    out = intake_flow.import_intake(practice, (FIXTURES / "base.txt").read_bytes(),
                                    "base.txt")
    result = out.result
    assert result.summary == result.deterministic_summary
    assert result.model_summary.startswith("Quintessa Zzyzxquell (DOB 1975-04-12). Reason")
    assert "model_grounded" in {f.code for f in result.flags}
