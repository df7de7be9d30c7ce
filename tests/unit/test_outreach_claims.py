"""Outreach drafts pass the intake summaries' claim check: no clinical term that the
kind's template does not hold, whether the model's sentence or a person's edit adds it;
the restricted-terms list still applies."""

from __future__ import annotations

import pytest

from app import queue
from app.identity import Session
from app.services import outreach as outreach_service
from app.services import patients
from automations.workflows import outreach as flow
from tests.unit.planted_model import plant


@pytest.fixture
def pid(practice: Session) -> int:
    queue.set_mode(practice, "outreach", "approve_each")
    patient_id = int(practice.vault.query_one(
        "SELECT id FROM patients WHERE last_name = 'Zzyzxquell'")[0])
    patients.update_patient(practice, patient_id, phone="555-0101")
    return patient_id


def test_every_template_passes_its_own_claim_check() -> None:
    for kind in flow.templates()["kinds"]:
        source = flow.claim_source(kind, "Test Practice", "Ann")
        assert flow.clinical_claims(source, source) == []


def test_a_model_sentence_naming_a_symptom_is_dropped_with_the_reason(
        practice: Session, pid: int, monkeypatch: pytest.MonkeyPatch) -> None:
    plant(monkeypatch, flow, lambda _p: {"opening": "Hi Quintessa, we hope your sore throat "
                                          "is better."})
    out = flow.draft_outreach(practice, pid, "care_gap_reminder", "sms")
    assert "sore throat" not in out.task.draft and not out.message.personalized
    dropped = [c.message for c in out.message.checks if c.code == "model_dropped"]
    assert dropped and "the sentence names 'sore throat', which the message's template " \
        "does not say" in dropped[0]


def test_a_plain_model_sentence_is_still_used(
        practice: Session, pid: int, monkeypatch: pytest.MonkeyPatch) -> None:
    plant(monkeypatch, flow, lambda _p: {"opening": "Hi Quintessa, we hope you are doing well."})
    out = flow.draft_outreach(practice, pid, "care_gap_reminder", "sms")
    assert out.message.personalized and "we hope you are doing well" in out.task.draft
    assert not [c for c in out.message.checks if c.code == "clinical_claim"]


def test_an_edit_that_adds_a_body_site_or_symptom_fails_back_to_a_person(
        practice: Session, pid: int, caplog: pytest.LogCaptureFixture) -> None:
    out = flow.draft_outreach(practice, pid, "no_show", "sms", use_model=False)
    edited = out.task.draft.replace("Reply STOP", "Hope the knee pain is better. Reply STOP")
    assert flow.restricted_hits(edited, flow.restricted_terms(None)) == []  # list misses it
    done = queue.approve(practice, out.task.id, draft=edited)
    assert done.state.value == "failed"
    assert "the message names 'knee pain', which its template does not say" in \
        done.history[-1].note
    assert outreach_service.list_outbox(practice) == []
    assert [r.levelname for r in caplog.records] == ["WARNING"]  # the failed effect, by id
