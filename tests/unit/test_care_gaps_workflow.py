"""Care gaps end to end: Synthea bundles imported through the FHIR import, the nightly
check, care_gap tasks with their reason and source, approval putting the reminder in the
outbox with its audit rows; a re-run makes nothing; evidence arriving closes the gap; an
opted-out patient gets no message; a declined gap waits out the cool-down."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from app import clock, queue
from app.identity import Session
from app.services import imports
from automations.workflows import care_gaps

CORPUS = Path("/work/shared/corpus/fhir/synthea_r4_bundles")
NOW = datetime(2026, 12, 1, 17, 0, tzinfo=timezone.utc)


def _bundle(prefix: str) -> tuple[str, bytes]:
    path = next(CORPUS.glob(f"{prefix}_*.json"))
    return path.name, path.read_bytes()


@pytest.fixture
def imported(owner_session: Session) -> dict[str, int]:
    if not CORPUS.is_dir():
        pytest.skip("the shared FHIR corpus is not on this machine")
    clock.set_clock(lambda: NOW)
    queue.set_mode(owner_session, "care_gap", "approve_each")
    imports.import_fhir(owner_session, [_bundle("Patria_Schimmel"), _bundle("Sandi_Gerlach")])
    rows = owner_session.vault.query("SELECT first_name, id FROM patients")
    return {str(first): int(pid) for first, pid in rows}


def _gaps(session: Session, patient_id: int, state: str | None = None) -> dict[str, int]:
    rows = session.vault.query("SELECT subject_id, id, state FROM tasks WHERE kind = "
                               "'care_gap' AND patient_id = ? ORDER BY id", (patient_id,))
    return {str(rule): int(tid) for rule, tid, st in rows if state is None or st == state}


def test_synthea_import_to_care_gap_task_approval_and_audit(
        owner_session: Session, imported: dict[str, int]) -> None:
    s = owner_session
    system = Session.system(s.vault, care_gaps.SYSTEM_ACTOR)
    summary = care_gaps.run_care_gaps(system)
    patria, sandi = imported["Patria"], imported["Sandi"]
    # Patria: 52, type 2 diabetes since 2019, last HbA1c 2019, no mammogram or colon test
    assert set(_gaps(s, patria)) == {"breast_cancer_screening", "colorectal_cancer_screening",
                                     "diabetes_hba1c", "influenza_vaccine"}
    # Sandi: 72, colonoscopy 2019-01-17 (good for 10 years): no colorectal gap
    assert set(_gaps(s, sandi)) == {"breast_cancer_screening", "influenza_vaccine"}
    assert summary.tasks_created == 6

    task = queue.get_task_unchecked(s, _gaps(s, patria)["diabetes_hba1c"])
    assert task.state.value == "pending" and task.role == "office_manager"
    why = task.evidence[0].excerpt
    assert "no HbA1c test on record in the last 12 months" in why
    assert "American Diabetes Association" in why and "https://" in why
    assert "Patria" in task.draft and "Reply STOP to opt out." in task.draft
    for term in ("A1c", "diabetes", "HbA1c", "glucose"):  # minimum necessary
        assert term.lower() not in task.draft.lower()

    done = queue.approve(s, task.id)
    assert done.state.value == "done", done.history
    assert s.vault.query_one("SELECT kind, channel, state FROM outbox WHERE task_id = ?",
                             (task.id,)) == ("care_gap_reminder", "sms", "ready")
    actions = [r[0] for r in s.vault.query(
        "SELECT action FROM audit_log WHERE object_type IN ('task', 'outbox') AND "
        "(object_id = ? OR action = 'outbox.ready') ORDER BY id", (str(task.id),))]
    assert "task.approve" in actions and "outbox.ready" in actions

    again = care_gaps.run_care_gaps(system)
    assert (again.tasks_created, again.tasks_closed) == (0, 0)

    # the mammogram result arrives: the open breast-screening gap closes itself
    with s.vault.write() as conn:
        conn.execute("INSERT INTO clinical_records (patient_id, kind, code_system, code, "
                     "recorded_on, created_at) VALUES (?, 'observation', 'http://loinc.org', "
                     "'24606-6', '2026-11-30', ?)", (patria, clock.iso(NOW)))
    closed = care_gaps.run_care_gaps(system)
    assert (closed.tasks_created, closed.tasks_closed) == (0, 1)
    breast = queue.get_task_unchecked(s, _gaps(s, patria)["breast_cancer_screening"])
    assert breast.state.value == "rejected"
    assert "screening mammography on 2026-11-30 (LOINC 24606-6)" in breast.history[-1].note


def test_opted_out_patient_gets_the_task_but_no_message(
        owner_session: Session, imported: dict[str, int]) -> None:
    s = owner_session
    with s.vault.write() as conn:
        conn.execute("UPDATE patients SET sms_opt_out = 1, email_opt_out = 1 WHERE id = ?",
                     (imported["Sandi"],))
    summary = care_gaps.run_care_gaps(Session.system(s.vault, care_gaps.SYSTEM_ACTOR))
    assert summary.no_channel == 2
    task = queue.get_task_unchecked(s, _gaps(s, imported["Sandi"])["influenza_vaccine"])
    assert task.draft == "" and "opted out" in task.evidence[-1].excerpt
    assert queue.approve(s, task.id).state.value == "done"
    assert s.vault.query_one("SELECT count(*) FROM outbox")[0] == 0


def test_a_declined_gap_waits_out_the_cool_down(owner_session: Session,
                                                imported: dict[str, int]) -> None:
    s = owner_session
    system = Session.system(s.vault, care_gaps.SYSTEM_ACTOR)
    care_gaps.run_care_gaps(system)
    flu = _gaps(s, imported["Sandi"])["influenza_vaccine"]
    queue.reject(s, flu, "patient declined for now")
    clock.set_clock(lambda: NOW + timedelta(days=89))
    waiting = care_gaps.run_care_gaps(system)
    assert waiting.tasks_created == 0 and waiting.cooling_down >= 1
    clock.set_clock(lambda: NOW + timedelta(days=90))  # Mar 1: still flu season
    after = care_gaps.run_care_gaps(system)
    assert _gaps(s, imported["Sandi"], "pending").get("influenza_vaccine", flu) != flu
    assert after.tasks_created >= 1


def test_the_nightly_job_is_registered(owner_session: Session) -> None:
    from automations.jobs import build_scheduler, patient_jobs
    from automations.jobs.runtime import install

    def no_portal(session: Session) -> None:
        raise AssertionError("the care-gap job never visits a portal")

    scheduler = build_scheduler(owner_session.vault, no_portal)  # type: ignore[arg-type]
    try:
        job = {j.id: j for j in scheduler.get_jobs()}[patient_jobs.CARE_GAPS_ID]
        assert job.args == () and "hour='2'" in str(job.trigger)
        patient_jobs.care_gap_check()
        assert owner_session.vault.query_one(
            "SELECT actor FROM audit_log WHERE action = 'care_gaps.run'")[0] == \
            care_gaps.SYSTEM_ACTOR
    finally:
        install(None)
        scheduler.remove_all_jobs()


def test_demo_seed_makes_real_care_gap_tasks(owner_session: Session) -> None:
    import random

    from automations.seeds import s10_practice, s72_care_gaps
    s10_practice.seed(owner_session, random.Random(7))
    assert not owner_session.vault.query("SELECT id FROM tasks WHERE kind = 'care_gap'")
    s72_care_gaps.seed(owner_session, random.Random(7))
    rows = owner_session.vault.query("SELECT natural_key, state FROM tasks WHERE kind = "
                                     "'care_gap'")
    assert rows and all(k.startswith("care_gap:") and st == "pending" for k, st in rows)


def test_cli_care_gaps_check(owner_session: Session, imported: dict[str, int],
                             capsys: pytest.CaptureFixture[str],
                             monkeypatch: pytest.MonkeyPatch) -> None:
    import io

    from ui.cli import Context, main
    monkeypatch.setattr(Context, "session", lambda self: owner_session)
    monkeypatch.setattr(Context, "close", lambda self: None)
    assert main(["care-gaps", "check", "--json"], stdin=io.StringIO("")) == 0
    assert '"tasks_created": 6' in capsys.readouterr().out


def test_no_phi_in_logs_or_files(owner_session: Session, imported: dict[str, int],
                                 private_tmp: Path, caplog: pytest.LogCaptureFixture) -> None:
    import logging

    from automations.workflows import no_show
    from tests.conftest import files_containing
    caplog.set_level(logging.DEBUG)
    system = Session.system(owner_session.vault, care_gaps.SYSTEM_ACTOR)
    care_gaps.run_care_gaps(system)
    no_show.run_recovery(system)
    text = "\n".join(r.getMessage() for r in caplog.records)
    for name in (b"Schimmel", b"Patria", b"555-246-1499"):
        assert name.decode() not in text
        assert files_containing(private_tmp, name) == []
        assert files_containing(owner_session.vault.directory, name) == []


def test_a_patient_without_a_birth_date_does_not_stop_the_check(
        owner_session: Session) -> None:
    """An 837 whose patient has no DMG segment creates the patient with a blank birth
    date (services.imports._claim_patient); the nightly check leaves that one out (every
    rule needs an age) and still evaluates everyone else."""
    from app.services import care_gaps as gaps_svc
    from app.services import patients
    clock.set_clock(lambda: NOW)
    known = patients.add_patient(owner_session, "Ada", "Known", "1950-02-02")
    blank = patients.add_patient(owner_session, "Bo", "Blank", "1960-03-03")
    with owner_session.vault.write() as conn:
        conn.execute("UPDATE patients SET dob = '' WHERE id = ?", (blank.id,))
    assert [f.patient_id for f in gaps_svc.patient_facts(owner_session)] == [known.id]
    assert care_gaps.run_care_gaps(owner_session).patients == 1
