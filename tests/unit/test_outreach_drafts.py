"""Outreach drafts: every kind names the practice and carries the opt-out line; no
diagnosis, test, result or medication (incl. the patient's own) in SMS or email;
readability and length checks; opt-outs honoured; approval puts the message in the
outbox as 'ready'; the balance notice is marked as the non-TCPA-exempt kind."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from app import clock, queue
from app.errors import PermissionDenied, ValidationError
from app.identity import Session
from app.services import outreach as outreach_service
from app.services import patients, practice as practice_service, users
from automations.workflows import outreach as flow

KINDS = ["no_show", "cancellation_rebook", "waitlist_offer", "care_gap_reminder", "pa_delay",
         "balance_notice"]
WHEN = datetime(2026, 11, 20, 15, 0, tzinfo=timezone.utc)


@pytest.fixture
def pid(practice: Session) -> int:
    queue.set_mode(practice, "outreach", "approve_each")
    patient_id = int(practice.vault.query_one(
        "SELECT id FROM patients WHERE last_name = 'Zzyzxquell'")[0])
    patients.update_patient(practice, patient_id, phone="555-0101", email="q@example.org",
                            problems=["Graves thyroiditis"], medications=["methimazole 5 mg"])
    return patient_id


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("channel", ["sms", "email"])
def test_every_kind_is_identified_opt_out_and_minimum_necessary(
        practice: Session, pid: int, kind: str, channel: str) -> None:
    out = flow.draft_outreach(practice, pid, kind, channel, when=WHEN, amount="$45.00",
                              use_model=False)
    text = out.task.draft
    assert out.task.kind == "outreach" and out.task.role == "office_manager"
    assert "Test Practice" in text
    assert flow.templates()["opt_out"][channel] in text
    assert flow.restricted_hits(text, flow.restricted_terms(
        patients._load_patient(practice, pid))) == []
    assert out.message.grade <= 8.0
    assert out.task.payload["recipient"] == ("555-0101" if channel == "sms" else
                                             "q@example.org")
    if channel == "sms":
        assert len(text) <= 320
    assert out.message.tcpa_exempt is (kind != "balance_notice")
    assert out.task.payload["tcpa_exempt"] is (kind != "balance_notice")
    if kind == "balance_notice":
        assert "not TCPA-exempt" in out.task.title or "not TCPA-exempt" in \
            flow.templates()["kinds"][kind]["label"]
        assert "not_tcpa_exempt" in [c.code for c in out.message.checks]


def test_restricted_terms_include_the_patients_own_problems_and_medications(
        practice: Session, pid: int) -> None:
    terms = flow.restricted_terms(patients._load_patient(practice, pid))
    assert flow.restricted_hits("About your thyroiditis.", terms) == ["thyroiditis"]
    assert flow.restricted_hits("Your methimazole refill", terms) == ["methimazole", "refill"]
    assert flow.restricted_hits("Your A1c result is in", terms) == ["A1c"]
    assert flow.restricted_hits("We missed you today.", terms) == []


def test_opted_out_patients_get_no_draft_for_that_channel(practice: Session, pid: int) -> None:
    patients.update_patient(practice, pid, sms_opt_out=True)
    with pytest.raises(ValidationError, match="opted out of text"):
        flow.draft_outreach(practice, pid, "no_show", "sms", use_model=False)
    assert flow.draft_outreach(practice, pid, "no_show", "email", use_model=False).created
    patients.update_patient(practice, pid, email_opt_out=True)
    with pytest.raises(ValidationError, match="opted out of email"):
        flow.draft_outreach(practice, pid, "care_gap_reminder", "email", use_model=False)


def test_sms_is_cut_to_the_setting_keeping_the_opt_out(practice: Session, pid: int) -> None:
    practice_service.set_setting(practice, "sms_max_chars", 120)
    out = flow.draft_outreach(practice, pid, "pa_delay", "sms", use_model=False)
    assert len(out.task.draft) <= 120
    assert out.task.draft.startswith("Test Practice: ")
    assert out.task.draft.endswith("Reply STOP to opt out.")
    assert "truncated" in [c.code for c in out.message.checks]


def test_readability_over_the_setting_is_flagged(practice: Session, pid: int) -> None:
    practice_service.set_setting(practice, "readability_max_grade", 1.0)
    out = flow.draft_outreach(practice, pid, "pa_delay", "sms", use_model=False)
    assert "readability" in [c.code for c in out.message.checks]


def test_no_show_uses_the_missed_appointment(practice: Session, pid: int) -> None:
    with practice.vault.write() as conn:
        conn.execute("INSERT INTO appointments (patient_id, start_at, status, created_at) "
                     "VALUES (?,?,?,?)", (pid, clock.iso(WHEN), "no_show", clock.iso(WHEN)))
    out = flow.draft_outreach(practice, pid, "no_show", "sms", use_model=False)
    assert "Fri Nov 20 at 10:00 AM" in out.task.draft  # America/New_York
    again = flow.draft_outreach(practice, pid, "no_show", "sms", use_model=False)
    assert again.task.id == out.task.id and not again.created


def test_approval_puts_the_message_in_the_outbox(practice: Session, pid: int) -> None:
    out = flow.draft_outreach(practice, pid, "waitlist_offer", "sms",
                              when=clock.now() + timedelta(days=1), use_model=False)
    done = queue.approve(practice, out.task.id)
    assert done.state.value == "done", done.history[-1].note
    row = outreach_service.get_outbox_for_task(practice, out.task.id)
    assert row["state"] == "ready" and row["channel"] == "sms"
    assert row["recipient"] == "555-0101" and row["body"] == out.task.draft
    assert row["tcpa_exempt"] == 1
    assert practice.vault.query_one("SELECT count(*) FROM audit_log WHERE action = "
                                    "'outbox.ready'")[0] == 1


@pytest.mark.expected_logs(r"effect for task \d+ \(outreach\) failed: ValidationError")
def test_an_edit_that_names_a_diagnosis_fails_back_to_a_person(practice: Session,
                                                                pid: int) -> None:
    out = flow.draft_outreach(practice, pid, "care_gap_reminder", "sms", use_model=False)
    edited = out.task.draft.replace("routine preventive visit", "diabetes check")
    done = queue.approve(practice, out.task.id, draft=edited)
    assert done.state.value == "failed" and "diabetes" in done.history[-1].note
    assert outreach_service.list_outbox(practice) == []


@pytest.mark.expected_logs(r"effect for task \d+ \(outreach\) failed: ValidationError")
def test_opt_out_after_drafting_blocks_the_outbox(practice: Session, pid: int) -> None:
    out = flow.draft_outreach(practice, pid, "care_gap_reminder", "sms", use_model=False)
    patients.update_patient(practice, pid, sms_opt_out=True)
    done = queue.approve(practice, out.task.id)
    assert done.state.value == "failed" and "opted out" in done.history[-1].note


def test_roles_are_checked_in_the_service(practice: Session, pid: int) -> None:
    users.add_user(practice, "bill", "biller-password-1", ["biller"])
    from app.identity import unlock
    biller = unlock(practice.vault.directory, "bill", "biller-password-1")
    try:
        with pytest.raises(PermissionDenied):
            flow.draft_outreach(biller, pid, "no_show", "sms", use_model=False)
    finally:
        biller.vault.close()


def test_missing_inputs_are_clear_errors(practice: Session, pid: int) -> None:
    with pytest.raises(ValidationError, match="--when"):
        flow.draft_outreach(practice, pid, "waitlist_offer", "sms", use_model=False)
    with pytest.raises(ValidationError, match="--amount"):
        flow.draft_outreach(practice, pid, "balance_notice", "sms", use_model=False)
    with pytest.raises(ValidationError, match="unknown outreach kind"):
        flow.draft_outreach(practice, pid, "collections", "sms", use_model=False)


@pytest.mark.expected_logs(r"effect for task \d+ \(outreach\) failed: ValidationError")
def test_outreach_task_without_channel_fails_with_a_clear_reason(owner_session) -> None:
    """Regression: a hand-made outreach task failed with a bare KeyError('channel')."""
    from app import queue
    queue.set_mode(owner_session, "outreach", "approve_each")
    task, _ = queue.create_task(owner_session, "outreach", "hand:1", "Say hi", draft="hi")
    failed = queue.approve(owner_session, task.id)
    assert failed.state.value == "failed"
    assert "no channel, kind, recipient" in failed.history[-1].note
