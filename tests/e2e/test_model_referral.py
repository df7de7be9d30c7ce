"""A referral letter summarised by the real bundled model (issue 13): the call goes through
the worker runtime and is recorded with the model hash and prompt version; only sentences
whose every claim is in the letter are kept; the triage suggestion is the same with or
without the model. A model marked broken is never called and the task says why."""

from __future__ import annotations

import pytest

from app import queue
from app.identity import Session
from app.services import models as model_service
from automations.workflows import models as flow
from automations.workflows import referrals as referral_flow
from local_models import grounding, registry
from local_models.prompts import load_prompt

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

LETTER = b"""Lakeside Clinic - Referral
Patient: Quintessa Zzyzxquell
DOB: 04/12/1975
Member ID: ZQM4455667
Referring provider: Dr. Ames, Lakeside Clinic
Referred to: Family medicine
Reason for referral: Worsening diabetic foot ulcer, please see soon.
"""


def _summary_runs(session: Session) -> list[tuple[object, ...]]:
    return session.vault.query("SELECT model_sha256, prompt_version, valid, grounded, prompt "
                               "FROM model_runs WHERE prompt_name = 'referral_summary'")


def test_a_letter_summarised_by_the_bundled_model_is_checked_claim_by_claim(
        practice: Session) -> None:
    result = referral_flow.import_referral(practice, LETTER, "letter.txt")
    task = queue.get_task(practice, result.tasks[0])
    summary = task.payload["summary"]
    sha = registry.sha256_file(registry.bundled_model_path())
    runs = _summary_runs(practice)
    assert 1 <= len(runs) <= 2  # one try, and one retry if the first was invalid
    for model_sha, version, _valid, _grounded, prompt in runs:
        assert (model_sha, version) == (sha, load_prompt("referral_summary").version)
        assert "<<<BEGIN DATA REFERRAL_LETTER>>>" in str(prompt)  # the letter went in fenced
    assert summary["asked"] is True and summary["model"] == registry.BUNDLED_NAME
    source = next(e.excerpt for e in task.evidence
                  if e.label == "Reason for referral (source text)")
    # whatever the small model wrote: what is kept passes the check, sentence by sentence,
    # and what is dropped says why
    for sentence in referral_flow.sentences(summary["text"]):
        assert grounding.check_text(sentence, source, strict=True,
                                    allowed=(referral_flow.REFERRAL_PHRASING,)).passed
    assert all(d["why"] for d in summary["dropped"])
    assert all(0 <= s < e <= len(source) for s, e in summary["spans"])
    if runs[-1][2]:  # a valid answer was judged and counts toward the model's pass rate
        assert runs[-1][3] == (bool(summary["text"]) and not summary["dropped"])
    labels = [e.label for e in task.evidence]
    assert labels[0] == "Summary from the extracted fields"
    assert labels[1].startswith("Model summary")
    # the rule read the fields, never the model's words
    plain = referral_flow.import_referral(practice, LETTER + b"\n", "again.txt",
                                          use_model=False)
    again = queue.get_task(practice, plain.tasks[0])
    assert (again.title, again.draft) == (task.title, task.draft)


def test_a_broken_model_is_never_called_for_a_referral(practice: Session) -> None:
    rec = flow.ensure_bundled(practice)
    model_service.record_health(practice, rec, flow.runtime_id(), "broken",
                                "it crashed in its self-test", 0.0)
    result = referral_flow.import_referral(practice, LETTER, "letter.txt")
    task = queue.get_task(practice, result.tasks[0])
    assert _summary_runs(practice) == []
    note = next(e for e in task.evidence if e.label == "Model summary: not used")
    assert note.excerpt.startswith("Drafted from the template: the model is unavailable "
                                   f"(model {rec.name} is broken: it crashed in its self-test)")
    assert task.payload["summary"]["origin"] == "fields"
    assert task.evidence[0].excerpt.startswith("Referring: Dr. Ames, Lakeside Clinic.")
