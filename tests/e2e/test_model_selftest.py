"""The runtime self-test and its verdicts (issue: the local model must run on every CPU).

Each failure is a real worker process made to crash (a segmentation fault in native
code), hang, run slowly or write garbage (tests/support/faulty_worker.py); the parent
code path is the production one. A slow or broken model becomes one owner task, is not
called again for drafts until the owner re-tests it, and every draft written meanwhile
says on its face that it came from the template."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from app import queue
from app.errors import PermissionDenied
from app.identity import Role, Session
from app.services import models as model_service
from app.services import patients, practice as practice_service
from automations.workflows import intake as intake_flow
from automations.workflows import models as flow
from automations.workflows import outreach as outreach_flow
from local_models import registry
from local_models.runtime import ModelRuntime

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "intake"
BASE = (FIXTURES / "base.txt").read_bytes()


@pytest.fixture
def faulty() -> Iterator[Callable[[str], ModelRuntime]]:
    """Makes runtimes whose worker crashes, hangs, runs slowly or writes garbage."""
    made: list[ModelRuntime] = []

    def make(mode: str) -> ModelRuntime:
        made.append(ModelRuntime(worker_entry=f"tests.support.faulty_worker:serve_{mode}"))
        return made[-1]

    yield make
    for runtime in made:
        runtime.close()


@pytest.fixture
def healthy() -> Iterator[ModelRuntime]:
    runtime = ModelRuntime()
    yield runtime
    runtime.close()


def _bundled(session: Session) -> model_service.ModelRecord:
    return flow.ensure_bundled(session)


def _selftest_runs(session: Session) -> int:
    return int(session.vault.query_one(
        "SELECT count(*) FROM model_runs WHERE prompt_name = 'model_selftest'")[0])


def _health_tasks(session: Session) -> list[queue.Task]:
    return [t for t in queue.list_tasks(session, queue.QueueFilter(kinds=["model_unhealthy"]))]


def test_a_healthy_model_is_tested_once_and_then_trusted(practice: Session,
                                                         healthy: ModelRuntime) -> None:
    # a floor any working runtime clears even on a loaded 2-core machine: this test is about
    # the verdict being stored and trusted, not about this machine's speed
    practice_service.set_setting(practice, "model_min_tokens_per_s", 1.0)
    rec = _bundled(practice)
    first = flow.ensure_usable(practice, rec, healthy)
    assert first.health == "healthy" and first.tokens_per_s >= 1
    flow.ensure_usable(practice, rec, healthy)  # the stored verdict: no second test
    assert _selftest_runs(practice) == 1
    assert _health_tasks(practice) == []
    audit = practice.vault.query("SELECT details FROM audit_log WHERE action = "
                                 "'model.selftest'")
    assert len(audit) == 1 and '"healthy"' in audit[0][0]


def test_a_crashing_model_is_broken_and_the_next_call_gets_a_new_worker(
        practice: Session, faulty: Callable[[str], ModelRuntime]) -> None:
    crashing = faulty("crash")
    rec = _bundled(practice)
    verdict = flow.self_test(practice, rec, crashing)
    assert verdict.health == "broken"
    assert "stopped unexpectedly" in verdict.reason
    # the crash ended only the worker: this process goes on, and the runtime answers again
    assert crashing.info(refresh=True)["llama_cpp_version"]


def test_a_hanging_model_is_broken_by_the_timeout(practice: Session, faulty: Callable[[str], ModelRuntime]) -> None:
    hanging = faulty("hang")
    practice_service.set_setting(practice, "model_selftest_timeout_s", 1.0)
    rec = _bundled(practice)
    pid_before = hanging.worker_pid
    verdict = flow.self_test(practice, rec, hanging)
    assert verdict.health == "broken" and "timed out" in verdict.reason
    assert hanging.worker_pid is None or hanging.worker_pid != pid_before  # replaced


def test_a_slow_model_is_slow(practice: Session, faulty: Callable[[str], ModelRuntime]) -> None:
    slow = faulty("slow")
    practice_service.set_setting(practice, "model_selftest_timeout_s", 120.0)
    rec = _bundled(practice)
    verdict = flow.self_test(practice, rec, slow)
    assert verdict.health == "slow", verdict.reason
    assert "under the floor of 5 tokens/s" in verdict.reason
    assert 0 < verdict.tokens_per_s < 5


def test_garbage_output_is_broken(practice: Session, faulty: Callable[[str], ModelRuntime]) -> None:
    verdict = flow.self_test(practice, _bundled(practice), faulty("garbage"))
    assert verdict.health == "broken" and "mostly symbols" in verdict.reason


def test_a_broken_model_is_one_owner_task_and_never_called_for_drafts(
        practice: Session, faulty: Callable[[str], ModelRuntime]) -> None:
    crashing = faulty("crash")
    queue.set_mode(practice, "intake_review", "approve_each")
    queue.set_mode(practice, "outreach", "approve_each")
    pid = int(practice.vault.query_one("SELECT id FROM patients")[0])
    patients.update_patient(practice, pid, phone="555-0101")
    intake = intake_flow.import_intake(practice, BASE, "base.txt", runtime=crashing)
    # the first use ran the self-test, which crashed the worker: broken, one task
    assert _selftest_runs(practice) == 0  # a crashed run has no output to record
    tasks = _health_tasks(practice)
    assert len(tasks) == 1 and tasks[0].role == Role.OWNER.value
    assert "broken" in tasks[0].title and "re-test" in tasks[0].draft
    notices = [f for f in intake.result.flags if f.code == "model_unavailable"]
    assert len(notices) == 1 and notices[0].severity == "warning"
    assert notices[0].message.startswith("Drafted from the template: the model is "
                                         "unavailable (model smollm2")
    assert "broken" in notices[0].message
    assert intake.result.summary == intake.result.deterministic_summary
    # more drafts: no new worker start, no second self-test, no second task
    pid_after_crash = crashing.worker_pid
    out = outreach_flow.draft_outreach(practice, pid, "no_show", "sms", runtime=crashing)
    again = intake_flow.import_intake(practice, BASE.replace(b"base", b"again"), "again.txt",
                                      runtime=crashing)
    assert crashing.worker_pid == pid_after_crash
    assert len(_health_tasks(practice)) == 1
    assert any(c.code == "model_unavailable" and c.message.startswith(
        "Drafted from the template: the model is unavailable") for c in out.message.checks)
    shown = queue.get_task(practice, out.task.id).evidence
    assert any(e.label == "Draft checks" and "Drafted from the template: the model is "
               "unavailable (model smollm2" in e.excerpt for e in shown)
    assert any(f.code == "model_unavailable" for f in again.result.flags)
    assert practice.vault.query_one("SELECT count(*) FROM model_runs")[0] == 0
    note = practice.vault.query("SELECT level, role FROM notifications WHERE message "
                                "LIKE 'Model % is broken (%'")
    assert note == [("critical", "owner")]


def test_only_the_owner_re_tests_a_failed_model(practice: Session, faulty: Callable[[str], ModelRuntime],
                                                healthy: ModelRuntime) -> None:
    garbage = faulty("garbage")
    from app.services import users
    users.add_user(practice, "desk", "desk-password-123", "front_desk")
    desk = Session(practice.vault, "desk", frozenset({Role.FRONT_DESK}))
    practice_service.set_setting(practice, "model_min_tokens_per_s", 1.0)  # see above
    rec = _bundled(practice)
    assert flow.self_test(practice, rec, garbage).health == "broken"
    with pytest.raises(PermissionDenied):
        flow.self_test(desk, rec, healthy)  # a drafting user cannot put it back
    denied = practice.vault.query("SELECT count(*) FROM audit_log WHERE action = "
                                  "'permission.denied' AND actor = 'desk'")[0][0]
    assert denied >= 1
    checks = flow.verify_models(practice, healthy)  # the owner's re-test
    assert [c.ok for c in checks] == [True] and checks[0].health == "healthy"
    assert flow.ensure_usable(desk, rec, healthy).usable
    assert model_service.unhealthy_models(practice) == []


def test_cli_verify_and_test_exit_1_with_one_line(tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch,
                                                  capsys: pytest.CaptureFixture[str],
                                                  faulty: Callable[[str], ModelRuntime]) -> None:
    garbage = faulty("garbage")
    from app.identity import init_vault
    from ui import cli
    directory = tmp_path / "v"
    session, _key = init_vault(directory, "CLI Practice", "boss", "boss-password-1")
    practice_service.set_setting(session, "model_min_tokens_per_s", 1.0)
    rec = flow.ensure_bundled(session)
    flow.self_test(session, rec, garbage)  # broken on this runtime
    session.vault.close()
    monkeypatch.setenv("OFFHOLD_VAULT", str(directory))
    monkeypatch.setenv("OFFHOLD_USER", "boss")
    monkeypatch.setenv("OFFHOLD_PASSWORD", "boss-password-1")
    capsys.readouterr()
    assert cli.main(["model", "test"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "is broken" in err[0] and "offhold model verify" in err[0]
    # verify re-tests with the real runtime: healthy again, exit 0
    assert cli.main(["model", "verify"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("ok   " + registry.BUNDLED_NAME) and "healthy" in out
    monkeypatch.setattr(practice_service, "get_setting", _floor_above_any_speed(
        practice_service.get_setting))
    assert cli.main(["model", "verify"]) == 1
    out = capsys.readouterr().out.strip().splitlines()
    assert len(out) == 1 and out[0].startswith("FAIL") and "under the floor" in out[0]


def _floor_above_any_speed(real):  # type: ignore[no-untyped-def]
    def get_setting(session: Session, key: str) -> object:
        return 1e9 if key == "model_min_tokens_per_s" else real(session, key)
    return get_setting
