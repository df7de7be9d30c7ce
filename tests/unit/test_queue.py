"""The task state machine, idempotent creation, modes, escalation and trust figures."""

from __future__ import annotations

import itertools
import json
from datetime import timedelta

import pytest

from app import audit, clock, queue
from app.domain import TaskState
from app.errors import InvalidTransition, PermissionDenied, ValidationError
from app.identity import Role, Session
from app.queue.machine import TRANSITIONS, can_transition
from app.reports import trust
from app.services import users


def _task(session, key="k1", kind="pa_followup", **kw):  # type: ignore[no-untyped-def]
    task, _created = queue.create_task(session, kind, key, "Title", draft="draft text", **kw)
    return task


def _set_state(session, task_id: int, state: TaskState) -> None:  # type: ignore[no-untyped-def]
    with session.vault.write() as conn:
        conn.execute("UPDATE tasks SET state = ? WHERE id = ?", (state.value, task_id))


@pytest.mark.parametrize("source,target", list(itertools.product(TaskState, TaskState)))
def test_transition_table(owner_session, source: TaskState, target: TaskState) -> None:
    """Every pair goes through _move: legal ones succeed, illegal ones raise typed errors."""
    task = _task(owner_session, key=f"{source.value}-{target.value}")
    _set_state(owner_session, task.id, source)
    with owner_session.vault.write() as conn:
        if can_transition(source, target):
            queue._move(owner_session, conn, task.id, source, target, "test")
        else:
            with pytest.raises(InvalidTransition):
                queue._move(owner_session, conn, task.id, source, target, "test")
    expected = target if target in TRANSITIONS[source] else source
    assert queue.get_task_unchecked(owner_session, task.id).state is expected


def test_terminal_states_have_no_exits() -> None:
    assert not TRANSITIONS[TaskState.DONE] and not TRANSITIONS[TaskState.REJECTED]


def test_creation_is_idempotent(owner_session) -> None:
    first, created1 = queue.create_task(owner_session, "human_handoff", "pa:7:x:2026-11-24", "T",
                                        draft="v1")
    second, created2 = queue.create_task(owner_session, "human_handoff", "pa:7:x:2026-11-24", "T",
                                         draft="v2")
    assert created1 and not created2 and first.id == second.id
    assert second.draft == "v2"  # refreshed while nobody had edited it
    assert owner_session.vault.query_one("SELECT count(*) FROM tasks")[0] == 1


def test_refresh_keeps_a_persons_edit(owner_session) -> None:
    task = _task(owner_session)
    queue.edit_draft(owner_session, task.id, "edited by a person")
    again, _ = queue.create_task(owner_session, "pa_followup", "k1", "Title", draft="new draft")
    assert again.draft == "edited by a person"


def test_a_refresh_adds_only_evidence_the_task_does_not_hold(owner_session) -> None:
    """A workflow run twice (an outreach re-draft, a nightly job) must not stack copies of
    the same excerpt on the task; a new screenshot is new evidence."""
    checks = queue.NewEvidence("Draft checks", excerpt="warning: drafted from the template")
    shot = queue.NewEvidence("Portal page", blob=b"png-bytes", mime="image/png")
    for _ in range(3):
        task, _created = queue.create_task(owner_session, "pa_followup", "k-ev", "Title",
                                           draft="d", evidence=[checks, shot])
    labels = [e.label for e in queue.get_task(owner_session, task.id).evidence]
    assert labels.count("Draft checks") == 1 and labels.count("Portal page") == 3
    changed = queue.NewEvidence("Draft checks", excerpt="info: personalised by the model")
    queue.create_task(owner_session, "pa_followup", "k-ev", "Title", draft="d",
                      evidence=[changed])
    assert [e.excerpt for e in queue.get_task(owner_session, task.id).evidence
            if e.label == "Draft checks"] == [checks.excerpt, changed.excerpt]


def test_new_kinds_start_in_shadow_and_cannot_be_approved(owner_session) -> None:
    task = _task(owner_session)
    assert task.state is TaskState.SHADOW
    with pytest.raises(InvalidTransition, match="shadow"):
        queue.approve(owner_session, task.id)
    done = queue.shadow_verdict(owner_session, task.id, "would_change", "better text")
    assert done.state is TaskState.DONE and done.shadow_verdict == "would_change"
    assert done.draft == "better text"


def test_approve_each_then_approve_with_edit(owner_session) -> None:
    queue.set_mode(owner_session, "human_handoff", "approve_each")
    task = _task(owner_session, kind="human_handoff")
    assert task.state is TaskState.PENDING
    done = queue.approve(owner_session, task.id, draft="edited")
    assert done.state is TaskState.DONE
    edit = [h for h in done.history if h.action == "edit"][0]
    assert (edit.draft_before, edit.draft_after) == ("draft text", "edited")
    row = owner_session.vault.query_one("SELECT details FROM audit_log WHERE action = 'task.edit'")
    details = json.loads(row[0])  # by reference and digest, never the drafts (issue 10 #15)
    assert "edited" not in row[0] and "draft text" not in row[0]
    assert details["draft_after"] == audit.digest(owner_session.vault, "edited")
    assert owner_session.vault.query_one("SELECT draft_after FROM task_history WHERE id = ?",
                                         (details["history_id"],))[0] == "edited"


@pytest.mark.expected_logs(r"effect for task \d+ \(eligibility_gap\) failed: RuntimeError")
def test_effect_failure_comes_back_to_a_person(owner_session, replace_effects) -> None:
    queue.set_mode(owner_session, "eligibility_gap", "approve_each")

    def boom(session, task):  # type: ignore[no-untyped-def]
        raise RuntimeError("clearinghouse down")

    replace_effects(eligibility_gap=queue.KindEffect(boom))
    task = _task(owner_session, kind="eligibility_gap")
    failed = queue.approve(owner_session, task.id)
    assert failed.state is TaskState.FAILED
    assert "clearinghouse down" in failed.history[-1].note
    assert queue.retry(owner_session, task.id).state is TaskState.PENDING


def test_automatic_mode_runs_effect(owner_session, replace_effects) -> None:
    ran: list[int] = []
    replace_effects(pa_followup=queue.KindEffect(lambda s, t: ran.append(t.id) or "ok"))
    queue.set_mode(owner_session, "pa_followup", "automatic")
    task = _task(owner_session)
    assert task.state is TaskState.DONE and ran == [task.id]


@pytest.mark.parametrize("kind", ["intake_review", "denial_review", "charge_review",
                                  "care_gap", "referral_triage", "claim_status"])
def test_automatic_refused_for_clinical_and_billing_kinds(owner_session, kind: str) -> None:
    with pytest.raises(ValidationError, match="cannot be automatic"):
        queue.set_mode(owner_session, kind, "automatic")


def test_only_owner_or_manager_change_modes(owner_session) -> None:
    desk = Session(owner_session.vault, "desk", frozenset({Role.FRONT_DESK}))
    with pytest.raises(PermissionDenied):
        queue.set_mode(desk, "human_handoff", "approve_each")
    manager = Session(owner_session.vault, "mgr", frozenset({Role.OFFICE_MANAGER}))
    assert queue.set_mode(manager, "human_handoff", "approve_each").value == "approve_each"
    row = owner_session.vault.query_one(
        "SELECT actor, details FROM audit_log WHERE action = 'mode.set'")
    assert row[0] == "mgr" and "approve_each" in row[1]


def test_leaving_shadow_promotes_open_drafts(owner_session) -> None:
    task = _task(owner_session)
    queue.set_mode(owner_session, "pa_followup", "approve_each")
    assert queue.get_task_unchecked(owner_session, task.id).state is TaskState.PENDING


def test_role_filtering(owner_session) -> None:
    queue.create_task(owner_session, "denial_review", "d1", "Denial")
    queue.create_task(owner_session, "eligibility_gap", "e1", "Gap")
    desk = Session(owner_session.vault, "desk", frozenset({Role.FRONT_DESK}))
    kinds = {t.kind for t in queue.list_tasks(desk)}
    assert kinds == {"eligibility_gap"}
    assert "denial_review" not in queue.queue_counts(desk)
    denial = queue.list_tasks(owner_session, queue.QueueFilter(kinds=("denial_review",)))[0]
    with pytest.raises(PermissionDenied):
        queue.reject(desk, denial.id, "not mine")
    with pytest.raises(PermissionDenied):
        queue.get_task(desk, denial.id)


def test_reject_needs_reason_and_snooze_wakes(owner_session) -> None:
    queue.set_mode(owner_session, "human_handoff", "approve_each")
    task = _task(owner_session, kind="human_handoff")
    with pytest.raises(ValidationError):
        queue.reject(owner_session, task.id, "  ")
    snoozed = queue.snooze(owner_session, task.id, clock.now() + timedelta(hours=2))
    assert snoozed.state is TaskState.SNOOZED
    assert queue.wake_snoozed(owner_session) == 0
    later = clock.now() + timedelta(hours=3)
    clock.set_clock(lambda: later)
    assert queue.wake_snoozed(owner_session) == 1
    assert queue.get_task_unchecked(owner_session, task.id).state is TaskState.PENDING


def test_overdue_escalation_two_levels(owner_session) -> None:
    start = clock.now()
    task = _task(owner_session, due_at=start + timedelta(hours=1), priority=3)
    clock.set_clock(lambda: start + timedelta(hours=2))
    assert queue.escalate_overdue(owner_session) == 1
    t = queue.get_task_unchecked(owner_session, task.id)
    assert t.priority == 1 and t.escalation_level == 1
    assert queue.escalate_overdue(owner_session) == 0  # no repeat at the same level
    clock.set_clock(lambda: start + timedelta(hours=30))
    assert queue.escalate_overdue(owner_session) == 1
    rows = owner_session.vault.query("SELECT role, level FROM notifications ORDER BY id")
    assert ("front_desk", "warning") in rows and ("owner", "critical") in rows
    assert [n["task_id"] for n in queue.unread_notifications(owner_session)] == [task.id]


def test_manual_escalation_moves_to_manager(owner_session) -> None:
    task = _task(owner_session)
    t = queue.escalate(owner_session, task.id, "needs a decision")
    assert t.role == "office_manager" and t.priority == 1


def test_trust_figures_from_scripted_history(owner_session) -> None:
    queue.set_mode(owner_session, "human_handoff", "approve_each")
    start = clock.now()
    ids = [_task(owner_session, key=f"o{i}", kind="human_handoff").id for i in range(4)]
    clock.set_clock(lambda: start + timedelta(minutes=10))
    queue.approve(owner_session, ids[0])
    clock.set_clock(lambda: start + timedelta(minutes=20))
    queue.approve(owner_session, ids[1], draft="draft text, changed")
    clock.set_clock(lambda: start + timedelta(minutes=30))
    queue.reject(owner_session, ids[2], "wrong patient")
    fig = trust.trust_figures(owner_session)["human_handoff"]
    assert fig.decided == 3
    assert fig.approval_rate == pytest.approx(2 / 3)
    assert fig.edit_rate == pytest.approx(1 / 2)
    assert 0 < (fig.mean_edit_size or 0) < 0.5
    assert fig.median_minutes_to_action == pytest.approx(20, abs=0.01)
    assert trust.trust_figures(owner_session)["denial_review"].approval_rate is None


def test_system_actor_does_not_count_as_action(owner_session) -> None:
    system = Session.system(owner_session.vault, "pa_followup")
    task = _task(system)
    assert queue.get_task_unchecked(owner_session, task.id).acted_at is None
    assert audit.verify(owner_session.vault).ok


def test_reassign_requires_manager(owner_session) -> None:
    users.add_user(owner_session, "desk", "desk-password", ["front_desk"])
    task = _task(owner_session)
    desk = Session(owner_session.vault, "desk", frozenset({Role.FRONT_DESK}))
    with pytest.raises(PermissionDenied):
        queue.reassign(desk, task.id, "desk")
    assert queue.reassign(owner_session, task.id, "desk").assignee == "desk"


@pytest.mark.parametrize("kind", ["portal_failure", "recipe_broken", "human_handoff",
                                  "automation_failure"])
def test_failure_notices_skip_shadow_mode(owner_session, kind: str) -> None:
    """A failed automation must reach a person as real work, even in a new practice."""
    task, _ = queue.create_task(owner_session, kind, f"fail:{kind}", "It failed")
    assert task.state is TaskState.PENDING
