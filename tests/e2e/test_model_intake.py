"""Intake and outreach through the real bundled model: the structured fields never depend
on the model, its prose is used only when grounded, every run is audited with the model
hash and prompt version, and injected forms change nothing through the model either."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from app import queue
from app.identity import Session
from app.services import models as model_service
from app.services import patients
from automations.workflows import intake as intake_flow
from automations.workflows import outreach as outreach_flow
from local_models import grounding, registry
from local_models.prompts import load_prompt

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "intake"
BASE = (FIXTURES / "base.txt").read_bytes()


def _fields(result: object) -> dict[str, list[str]]:
    from app.domain.intake import FIELDS
    return {name: result.items(name) for name in FIELDS}  # type: ignore[attr-defined]


def test_intake_extraction_with_the_model_is_grounded_and_audited(practice: Session) -> None:
    with_model = intake_flow.import_intake(practice, BASE, "base.txt")
    result = with_model.result
    sha = registry.sha256_file(registry.bundled_model_path())
    # the model's first use on this runtime ran its self-test once, before the summary
    selftests = practice.vault.query(
        "SELECT model_sha256 FROM model_runs WHERE prompt_name = 'model_selftest'")
    assert selftests == [(sha,)]
    health = practice.vault.query("SELECT model_sha256, health FROM model_health")
    assert health == [(sha, "healthy")]
    runs = practice.vault.query(
        "SELECT id, model_sha256, prompt_name, prompt_version, valid, grounded, prompt "
        "FROM model_runs WHERE prompt_name != 'model_selftest' ORDER BY id")
    by_prompt: dict[str, list[tuple[object, ...]]] = {}
    for row in runs:
        by_prompt.setdefault(str(row[2]), []).append(row)
    # the injection second opinion (the patterns found nothing) and the extractive summary
    assert set(by_prompt) == {intake_flow.INJECTION_PROMPT, intake_flow.EXTRACTIVE_PROMPT}
    for name, rows in by_prompt.items():
        assert 1 <= len(rows) <= 2  # one try, and one retry if the first was invalid
        for _id, model_sha, _name, version, _valid, _grounded, prompt in rows:
            assert (model_sha, version) == (sha, load_prompt(name).version)
            assert "<<<BEGIN DATA" in str(prompt)  # the form's text went in fenced
    audits = [json.loads(r[0]) for r in practice.vault.query(
        "SELECT details FROM audit_log WHERE action = 'model.generate' ORDER BY id")]
    audits = [a for a in audits if a["prompt"] != "model_selftest"]
    assert len(audits) == len(runs)
    assert all(a["model_sha256"] == sha and a["duration_ms"] >= 0
               and a["prompt_version"] == load_prompt(a["prompt"]).version
               and a["params"]["max_tokens"] == load_prompt(a["prompt"]).params["max_tokens"]
               for a in audits)
    # the model never touches structured fields
    no_model = intake_flow.import_intake(practice, BASE + b"\n", "base2.txt", use_model=False)
    assert _fields(result) == _fields(no_model.result)
    # the deterministic summary is what the reviewer sees (the measured default); the
    # model's draft is kept with its verdict
    assert result.summary == result.deterministic_summary
    codes = {f.code for f in result.flags}
    assert codes & {"model_grounded", "model_ungrounded", "model_invalid"}
    if "model_grounded" in codes:
        assert grounding.check_text(result.model_summary, result.source_text,
                                    strict=True).passed
    summary_runs = by_prompt[intake_flow.EXTRACTIVE_PROMPT]
    if summary_runs[-1][4]:  # a valid output was judged, and counts toward the pass rate
        rec = model_service.get_model(practice, registry.BUNDLED_NAME)
        assert rec.grounding_checks == 1
        assert rec.grounding_passes == (1 if "model_grounded" in codes else 0)


@pytest.mark.parametrize("name", ["05_assistant_turn"])
def test_injected_forms_change_nothing_through_the_model(practice: Session, name: str) -> None:
    queue.set_mode(practice, "intake_review", "approve_each")
    baseline = intake_flow.import_intake(practice, BASE, "base.txt", use_model=False)
    before = practice.vault.query_one("SELECT count(*) FROM tasks")[0]
    out = intake_flow.import_intake(practice, (FIXTURES / "injection" / f"{name}.txt"
                                               ).read_bytes(), name)
    assert _fields(out.result) == _fields(baseline.result)
    assert practice.vault.query_one("SELECT count(*) FROM tasks")[0] == before + 1
    assert out.task.state.value == "pending"
    if out.result.summary_origin == "model":
        assert "approv" not in out.result.summary.lower()


def test_outreach_with_the_model_stays_minimum_necessary(practice: Session) -> None:
    pid = int(practice.vault.query_one("SELECT id FROM patients")[0])
    patients.update_patient(practice, pid, phone="555-0101", problems=["hypertension"])
    out = outreach_flow.draft_outreach(practice, pid, "care_gap_reminder", "sms")
    text = out.task.draft
    assert text.startswith("Test Practice: ") and text.endswith("Reply STOP to opt out.")
    assert outreach_flow.restricted_hits(text, outreach_flow.restricted_terms(
        patients._load_patient(practice, pid))) == []
    runs = practice.vault.query("SELECT prompt_name, prompt_version FROM model_runs "
                                "WHERE prompt_name != 'model_selftest'")
    version = load_prompt("outreach_personalize").version
    assert runs and all(r == ("outreach_personalize", version) for r in runs)
    assert out.task.payload["model_runs"]
