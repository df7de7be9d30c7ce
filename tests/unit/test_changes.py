"""Operations report what they changed (task ids, kinds, patients); the desktop's backstop
sees changes by other processes through the audit head, never through its own views."""

from __future__ import annotations

from app import queue
from app.domain import Task, TaskState
from app.identity import Role, Session
from app.queue.changes import EVERYTHING, NOTHING, Changes
from app.services import desktop_session


def _task(task_id: int, kind: str, patient_id: int | None) -> Task:
    return Task(id=task_id, kind=kind, state=TaskState.DONE, priority=2, role="front_desk",
                title="t", natural_key=f"k{task_id}", patient_id=patient_id)


def test_changes_from_operation_results() -> None:
    one = Changes.of(_task(1, "outreach", 7))
    assert one == Changes(frozenset({1}), frozenset({"outreach"}), frozenset({7}))
    many = Changes.of([_task(1, "outreach", 7), _task(2, "care_gap", None)])
    assert many.task_ids == {1, 2} and many.patient_ids == {7}
    assert Changes.of(None) is NOTHING and NOTHING.empty
    assert (one | EVERYTHING).everything
    assert one.touches_kinds(["outreach"]) and not one.touches_kinds(["care_gap"])
    assert EVERYTHING.touches_kinds(["care_gap"]) and one.touches_patient(7)
    assert not one.touches_patient(None)


def test_change_marker_moves_on_changes_not_on_views(owner_session) -> None:
    before = desktop_session.change_marker(owner_session)
    queue.set_mode(owner_session, "pa_escalation", "approve_each")
    task, _ = queue.create_task(owner_session, "pa_escalation", "m:1", "Call the payer")
    after = desktop_session.change_marker(owner_session)
    assert after > before
    queue.get_task(owner_session, task.id)  # an audited view is not a change
    assert desktop_session.change_marker(owner_session) == after
    queue.approve(owner_session, task.id)
    assert desktop_session.change_marker(owner_session) > after
    nobody = Session(owner_session.vault, "nobody", frozenset())
    desk = Session(owner_session.vault, "desk", frozenset({Role.FRONT_DESK}))
    assert desktop_session.change_marker(desk) >= after
    try:
        desktop_session.change_marker(nobody)
    except Exception as exc:  # the permission walk checks the exact refusal
        assert type(exc).__name__ == "PermissionDenied"
    else:
        raise AssertionError("a session with no role read the change marker")
