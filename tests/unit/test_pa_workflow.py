"""The follow-up workflow and the scheduler wiring, through the StatusSource seam.

These unit tests drive the workflow with a scripted source (a second implementation of the
seam, the way a FHIR source would plug in); tests/e2e/test_pa_*.py use the real portal
engine, real Chromium and the sandbox portal.
"""

from __future__ import annotations

import time
from datetime import date, datetime, timedelta, timezone

import pytest

from app import clock, queue
from app.domain import Task
from app.domain.pa import PAStatus
from app.errors import KnownError
from app.identity import Session
from app.pa.cadence import Cadence
from app.services import prior_auth as pa_svc
from app.services.prior_auth import CheckTarget
from automations.workflows.pa_followup import (StatusReport, check_now, evaluate_time_rules,
                                               run_checks)

NOW = datetime(2026, 11, 24, 15, 0, tzinfo=timezone.utc)  # Tuesday 10:00 in New York
PNG = b"\x89PNG\r\n\x1a\nfake-screenshot-bytes"


class ScriptedSource:
    """Reports whatever the test scripted per PA id; records failures as tasks."""

    name = "scripted"

    def __init__(self) -> None:
        self.script: dict[int, tuple[str, str, dict[str, object]]] = {}
        self.failures: dict[int, str] = {}
        self.fetched: list[int] = []

    def can_check(self, session: Session, target: CheckTarget) -> bool:
        return target.pa_id in self.script or target.pa_id in self.failures

    def fetch(self, session: Session, targets: list[CheckTarget]) -> list[StatusReport]:
        out = []
        for t in targets:
            self.fetched.append(t.pa_id)
            assert t.member_id == "ZQM4455667"  # the source gets what it needs, in memory
            if t.pa_id in self.failures:
                out.append(StatusReport(t.pa_id, "scripted", error=KnownError(
                    self.failures[t.pa_id])))
                continue
            status, words, facts = self.script[t.pa_id]
            out.append(StatusReport(t.pa_id, "scripted", status=PAStatus(status), wording=words,
                                    evidence=queue.NewEvidence("page", words, blob=PNG,
                                                               mime="image/png"),
                                    **facts))  # type: ignore[arg-type]
        return out

    def report_failure(self, session: Session, target: CheckTarget,
                       report: StatusReport) -> Task:
        task, _ = queue.create_task(session, "portal_failure",
                                    f"scripted:{target.pa_id}:{clock.now().date()}",
                                    f"Status check failed for PA {target.pa_id}",
                                    subject_type="prior_auth", subject_id=target.pa_id)
        return task


@pytest.fixture
def pas(practice: Session) -> tuple[Session, list[int]]:
    clock.set_clock(lambda: NOW)
    pid = int(practice.vault.query_one("SELECT id FROM patients")[0])
    ids = [pa_svc.add_prior_auth(practice, patient_id=pid, payer="Acme Health",
                                 cpt_code=code, units=12, service_date="2026-12-20",
                                 submitted_at=NOW - timedelta(hours=3), payer_ref=f"AC-{i}").id
           for i, code in enumerate(["97110", "97112", "97140"])]
    return practice, ids


def _tasks(session: Session) -> list[tuple[str, str]]:
    return [(r[0], r[1]) for r in session.vault.query(
        "SELECT kind, natural_key FROM tasks ORDER BY id")]


def test_a_run_records_changes_creates_tasks_with_evidence_and_is_idempotent(
        pas: tuple[Session, list[int]]) -> None:
    session, (a, b, c) = pas
    src = ScriptedSource()
    src.script[a] = ("pending", "Pended for clinical review", {})
    src.script[b] = ("denied", "Denied – not medically necessary", {})
    src.script[c] = ("approved", "Approved – 12 units through 03/31",
                     {"approved_units": 12, "approved_through": date(2027, 3, 31)})
    progress: list[tuple[int, int, str]] = []
    summary = check_now(session, src, progress=lambda d, t, m: progress.append((d, t, m)))
    assert (summary.checked, summary.changed, summary.failures) == (3, 3, 0)
    assert summary.tasks_created == 4  # 3 status follow-ups + 1 denial next action
    assert progress[0][:2] == (0, 3) and progress[-1][:2] == (3, 3)
    keys = _tasks(session)
    assert ("pa_followup", f"pa:{a}:status:pending:2026-11-24") in keys
    assert ("pa_next_action", f"pa:{b}:next:denied:2026-11-24") in keys
    followup = queue.get_task(session, int(session.vault.query_one(
        "SELECT id FROM tasks WHERE natural_key = ?", (f"pa:{b}:status:denied:2026-11-24",))[0]))
    assert followup.evidence and followup.evidence[0].mime == "image/png"
    assert queue.blob_data(session, followup.evidence[0].blob_id or 0, followup.id)[0] == PNG
    hist = pa_svc.get_prior_auth(session, b).history
    assert hist[-1].evidence_blob_id == followup.evidence[0].blob_id
    assert hist[-1].source == "scripted" and hist[-1].actor == "pa_followup"
    assert followup.history[0].actor == "pa_followup"
    # Run again: only the open PA is looked up; nothing changed, no new task or history.
    again = check_now(session, src)
    assert (again.checked, again.changed, again.tasks_created) == (1, 0, 0)
    forced = check_now(session, src, pa_ids=[a, b, c])  # even when asked to re-check all
    assert (forced.checked, forced.changed, forced.tasks_created) == (3, 0, 0)
    assert _tasks(session) == keys
    assert len(pa_svc.get_prior_auth(session, b).history) == len(hist)
    nxt = pa_svc.get_prior_auth(session, a).next_check_at
    assert nxt is not None and nxt > NOW
    assert pa_svc.get_prior_auth(session, b).next_check_at is None  # decided: no more checks


def test_failures_become_tasks_and_unsupported_payers_are_skipped(
        pas: tuple[Session, list[int]]) -> None:
    session, (a, b, c) = pas
    src = ScriptedSource()
    src.failures[a] = "portal down"
    src.script[b] = ("pending", "In review", {})
    summary = check_now(session, src)
    assert (summary.checked, summary.failures, summary.skipped) == (1, 1, 1)
    assert summary.failed_pa_ids == [a]
    assert ("portal_failure", f"scripted:{a}:2026-11-24") in _tasks(session)
    assert "failures 1" in summary.line()


def test_time_rules_stall_and_overdue_once(pas: tuple[Session, list[int]]) -> None:
    session, (a, b, c) = pas
    system = Session.system(session.vault, "pa_followup")
    clock.set_clock(lambda: NOW + timedelta(days=16))  # past the 15-day contract clock
    summary = evaluate_time_rules(system)
    keys = _tasks(session)
    assert ("pa_escalation", f"pa:{a}:overdue:2026-12-09") in keys
    assert ("pa_escalation", f"pa:{a}:stall:2026-11-24") in keys
    assert summary.tasks_created == 6
    assert evaluate_time_rules(system).tasks_created == 0
    row = session.vault.query_one("SELECT role FROM tasks WHERE natural_key = ?",
                                  (f"pa:{a}:overdue:2026-12-09",))
    assert row[0] == "office_manager"


def test_scheduler_job_store_lives_encrypted_in_the_vault(
        pas: tuple[Session, list[int]]) -> None:
    from automations.jobs import start_scheduler, stop_scheduler
    clock.set_clock(None)
    session, ids = pas
    src = ScriptedSource()
    for pa_id in ids:
        src.script[pa_id] = ("pending", "Pended for clinical review", {})
    scheduler = start_scheduler(session.vault, lambda s: src, cadence=Cadence.fast(0.5),
                                sweep_seconds=0.5)
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            jobs = {j.id for j in scheduler.get_jobs()}
            if session.vault.query_one("SELECT count(*) FROM pa_status_history WHERE "
                                       "status = 'pending'")[0] == 3 and len(src.fetched) >= 6 \
                    and {f"pa-check:{i}" for i in ids} <= jobs:
                break
            time.sleep(0.2)
        jobs = {j.id for j in scheduler.get_jobs()}
    finally:
        stop_scheduler(scheduler)
    assert len(src.fetched) >= 6, "each PA is checked repeatedly on the fast cadence"
    assert {f"pa-check:{i}" for i in ids} | {"pa-sweep"} <= jobs
    rows = session.vault.query("SELECT id FROM apscheduler_jobs ORDER BY id")
    assert {r[0] for r in rows} >= {f"pa-check:{i}" for i in ids}
    assert b"apscheduler" not in session.vault.path.read_bytes()
    followups = [k for k, _ in _tasks(session) if k == "pa_followup"]
    assert len(followups) == 3


def test_a_check_job_batches_the_same_payers_due_pas(pas: tuple[Session, list[int]]) -> None:
    """One job checks every PA of its payer that is due, so a portal is logged in to once;
    the other PAs' jobs then find their check already done and only re-plan."""
    from automations.jobs import pa_jobs
    from automations.jobs.runtime import JobRuntime, install
    session, (a, b, c) = pas
    src = ScriptedSource()
    for pa_id in (a, b, c):
        src.script[pa_id] = ("pending", "In review", {})
    install(JobRuntime(vault=session.vault, source_factory=lambda s: src))
    try:
        pa_jobs.check_pa(a)
        assert sorted(src.fetched) == [a, b, c]
        pa_jobs.check_pa(b)  # already checked in a's batch: no second portal visit
        assert len(src.fetched) == 3
        clock.set_clock(lambda: NOW + timedelta(days=1))  # due again
        pa_jobs.check_pa(c)
        assert len(src.fetched) == 6
    finally:
        install(None)
