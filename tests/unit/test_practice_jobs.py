"""The scheduler's practice-wide jobs: the queue sweep and the pre-visit eligibility check
are registered in the vault's job store and do their work when run."""

from __future__ import annotations

from datetime import timedelta

import pytest

from app import clock, queue
from automations.jobs import build_scheduler, practice_jobs
from automations.jobs.runtime import install


def _no_portal(session):  # type: ignore[no-untyped-def]
    raise AssertionError("the practice jobs never visit a portal")


def test_jobs_are_registered_with_ids_only(practice) -> None:
    # Not started: a paused start then shutdown races APScheduler's loop into submitting
    # the due sweep to a closed executor (an ERROR record); registration is what is tested.
    scheduler = build_scheduler(practice.vault, _no_portal, sweep_seconds=300)
    try:
        jobs = {job.id: job for job in scheduler.get_jobs()}
        assert {practice_jobs.QUEUE_SWEEP_ID, practice_jobs.ELIGIBILITY_ID} <= set(jobs)
        assert jobs[practice_jobs.ELIGIBILITY_ID].args == ()
        assert "hour='6'" in str(jobs[practice_jobs.ELIGIBILITY_ID].trigger)
    finally:
        install(None)


def test_queue_sweep_escalates_and_wakes(practice) -> None:
    scheduler = build_scheduler(practice.vault, _no_portal)
    try:
        start = clock.now()
        overdue, _ = queue.create_task(practice, "pa_escalation", "sweep:1", "Late",
                                       due_at=start - timedelta(hours=1), priority=3)
        queue.set_mode(practice, "pa_followup", "approve_each")
        snoozed, _ = queue.create_task(practice, "pa_followup", "sweep:2", "Later")
        queue.snooze(practice, snoozed.id, start + timedelta(minutes=5))
        clock.set_clock(lambda: start + timedelta(minutes=10))
        practice_jobs.queue_sweep()
        assert queue.get_task_unchecked(practice, overdue.id).priority == 1
        assert queue.get_task_unchecked(practice, snoozed.id).state.value == "pending"
        actor = practice.vault.query_one(
            "SELECT actor FROM audit_log WHERE action = 'task.overdue'")[0]
        assert actor == practice_jobs.QUEUE_SWEEP_ID
    finally:
        install(None)
        scheduler.remove_all_jobs()


def test_previsit_eligibility_job_creates_gap_for_unknown_coverage(practice) -> None:
    scheduler = build_scheduler(practice.vault, _no_portal)
    try:
        tomorrow = clock.now() + timedelta(hours=20)
        with practice.vault.write() as conn:
            conn.execute("INSERT INTO appointments (patient_id, start_at, created_at) VALUES "
                         "(1, ?, ?)", (clock.iso(tomorrow), clock.iso(clock.now())))
        practice_jobs.eligibility_previsit()
        gaps = practice.vault.query("SELECT kind FROM tasks WHERE kind = 'eligibility_gap'")
        assert len(gaps) == 1  # no 271 on file for the patient: a gap for the front desk
        practice_jobs.eligibility_previsit()
        assert len(practice.vault.query(
            "SELECT id FROM tasks WHERE kind = 'eligibility_gap'")) == 1
    finally:
        install(None)
        scheduler.remove_all_jobs()


def failing_job() -> None:
    raise RuntimeError("Zzyzxquell broke it")  # a message with PHI must not reach the task


@pytest.mark.expected_logs(r"ERROR apscheduler.executors.default: Job \"failing_job .* raised an exception")
def test_a_failing_job_becomes_a_visible_task(practice) -> None:
    import threading
    from apscheduler.events import EVENT_JOB_ERROR
    scheduler = build_scheduler(practice.vault, _no_portal, sweep_seconds=3600)
    done = threading.Event()
    scheduler.add_listener(lambda event: done.set(), EVENT_JOB_ERROR)
    try:
        scheduler.start()
        scheduler.add_job(failing_job, id="nightly-thing")
        assert done.wait(30)
        for _ in range(100):  # the task listener runs just before ours
            rows = practice.vault.query("SELECT title, draft, role FROM tasks WHERE kind = "
                                        "'automation_failure'")
            if rows:
                break
            threading.Event().wait(0.05)
        assert len(rows) == 1
        title, draft, role = rows[0]
        assert "nightly-thing" in title and "RuntimeError" in draft and role == "office_manager"
        assert "Zzyzxquell" not in title + draft
        assert practice.vault.query("SELECT level FROM notifications WHERE role = "
                                    "'office_manager'") == [("critical",)]
    finally:
        scheduler.shutdown(wait=True)
        install(None)
