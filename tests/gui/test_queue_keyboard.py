"""Working the queue from the keyboard: J/K move, A approve, R reject with a reason,
E edit (typing letters in the editor never triggers a shortcut), Ctrl+S save, S snooze."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt

from app import queue
from app.domain import TaskState
from tests.gui.conftest import add_pa_escalations, import_denials
from ui.desktop.models import SORT_ROLE, TASK_ID_ROLE


def _select_pending(qtbot: Any, page: Any, skip: int = 0) -> Any:
    """Move with J until a pending task is current (skip the first `skip` of them)."""
    page.table.setFocus()
    seen = 0
    for _ in range(page.proxy.rowCount() + 1):
        qtbot.keyClick(page.table, Qt.Key.Key_J)
        task = page.current_task()
        if task is not None and task.state is TaskState.PENDING:
            if seen == skip:
                return task
            seen += 1
    raise AssertionError("no pending task in the queue")


def test_j_and_k_move_through_the_queue(qtbot: Any, open_window: Any) -> None:
    window = open_window("manny")
    page = window.pages["queue"]
    assert page.proxy.rowCount() > 5
    page.table.setFocus()
    start = page.table.currentIndex().row()
    qtbot.keyClick(page.table, Qt.Key.Key_J)
    qtbot.keyClick(page.table, Qt.Key.Key_J)
    assert page.table.currentIndex().row() == start + 2
    qtbot.keyClick(page.table, Qt.Key.Key_K)
    assert page.table.currentIndex().row() == start + 1
    shown = page.detail.task
    assert shown is not None and shown.id == page.current_task_id()
    assert page.detail.title.text() == shown.title


def test_a_approves_the_current_task(qtbot: Any, open_window: Any) -> None:
    window = open_window("manny")
    page = window.pages["queue"]
    task = _select_pending(qtbot, page)
    row = page.table.currentIndex().row()
    qtbot.keyClick(page.table, Qt.Key.Key_A)
    after = queue.get_task_unchecked(window.session, task.id)
    assert after.state is TaskState.DONE
    actions = [h.action for h in after.history]  # a kind with an effect also 'execute's
    assert "approve" in actions and actions[-1] == "complete"
    assert page.model.row_of(task.id) == -1  # it left the open queue
    assert page.table.currentIndex().row() == min(row, page.proxy.rowCount() - 1)
    assert any(f"Task {task.id} approved" in t for t in window.bridge.texts("info"))


def test_r_rejects_with_a_reason_typed_inline(qtbot: Any, open_window: Any) -> None:
    window = open_window("manny")
    page = window.pages["queue"]
    task = _select_pending(qtbot, page, skip=1)
    qtbot.keyClick(page.table, Qt.Key.Key_R)
    assert page.detail.reject_row.isVisible()
    assert page.detail.reject_reason.hasFocus()
    qtbot.keyClick(page.detail.reject_reason, Qt.Key.Key_Return)  # empty: refused
    assert queue.get_task_unchecked(window.session, task.id).state is TaskState.PENDING
    qtbot.keyClicks(page.detail.reject_reason, "already handled by phone")
    qtbot.keyClick(page.detail.reject_reason, Qt.Key.Key_Return)
    after = queue.get_task_unchecked(window.session, task.id)
    assert after.state is TaskState.REJECTED
    assert after.history[-1].note == "already handled by phone"


def test_e_edits_then_ctrl_s_saves_and_ctrl_enter_approves(qtbot: Any, open_window: Any,
                                                           login_as: Any) -> None:
    add_pa_escalations(login_as("olivia"))
    window = open_window("manny")
    page = window.pages["queue"]
    # a kind whose approval has no effect to check the free text against
    page.sidebar.setCurrentIndex(page.sidebar_model.index(
        page.sidebar_model.kinds().index("pa_escalation") + 1))
    task = _select_pending(qtbot, page)
    qtbot.keyClick(page.table, Qt.Key.Key_E)
    editor = page.detail.editor
    assert editor.hasFocus()
    editor.selectAll()
    # Letters that are shortcuts elsewhere (a, r, s, j, k) must type, not act.
    qtbot.keyClicks(editor, "Please call to rebook; ask for Sara.")
    assert editor.toPlainText() == "Please call to rebook; ask for Sara."
    assert queue.get_task_unchecked(window.session, task.id).state is TaskState.PENDING
    qtbot.keyClick(editor, Qt.Key.Key_S, Qt.KeyboardModifier.ControlModifier)
    saved = queue.get_task_unchecked(window.session, task.id)
    assert saved.draft == "Please call to rebook; ask for Sara."
    assert saved.state is TaskState.PENDING and saved.history[-1].action == "edit"
    qtbot.keyClick(page.table, Qt.Key.Key_E)
    qtbot.keyClicks(page.detail.editor, " Thanks!")
    qtbot.keyClick(page.detail.editor, Qt.Key.Key_Return, Qt.KeyboardModifier.ControlModifier)
    done = queue.get_task_unchecked(window.session, task.id)
    assert done.state is TaskState.DONE
    assert done.draft == "Please call to rebook; ask for Sara. Thanks!"
    assert done.original_draft == task.draft  # the trust figures see the edit


def test_s_snoozes(qtbot: Any, open_window: Any) -> None:
    window = open_window("manny")
    page = window.pages["queue"]
    task = _select_pending(qtbot, page)
    qtbot.keyClick(page.table, Qt.Key.Key_S)
    after = queue.get_task_unchecked(window.session, task.id)
    assert after.state is TaskState.SNOOZED and after.snoozed_until is not None


def test_sorting_and_filtering_the_table(qtbot: Any, open_window: Any,
                                        login_as: Any) -> None:
    import_denials(login_as("olivia"))
    window = open_window("manny")
    page = window.pages["queue"]
    page.table.sortByColumn(5, Qt.SortOrder.AscendingOrder)
    keys = [page.proxy.index(r, 5).data(SORT_ROLE) for r in range(page.proxy.rowCount())]
    assert keys == sorted(keys) and len(set(keys)) > 3
    tasks = {t.id: t for t in page.model.tasks}
    dated = [tasks[page.proxy.index(r, 0).data(TASK_ID_ROLE)].due_at
             for r in range(page.proxy.rowCount())]
    dated = [d for d in dated if d is not None]
    assert dated == sorted(dated)  # undated tasks sort last
    total = page.proxy.rowCount()
    qtbot.keyClick(page.table, Qt.Key.Key_Slash)
    assert page.filter_edit.hasFocus()
    qtbot.keyClicks(page.filter_edit, "Denial")
    assert 0 < page.proxy.rowCount() < total
    shown = [tasks[page.proxy.index(r, 0).data(TASK_ID_ROLE)]
             for r in range(page.proxy.rowCount())]
    assert all(t.kind == "denial_review" for t in shown)


def test_overdue_rows_are_marked(qtbot: Any, open_window: Any, login_as: Any) -> None:
    from app import clock
    add_pa_escalations(login_as("olivia"))  # a missed decision deadline is overdue work
    window = open_window("manny")
    page = window.pages["queue"]
    overdue = [t for t in page.model.tasks if t.is_overdue(clock.now())]
    assert overdue, "the demo has overdue work"
    row = page.model.row_of(overdue[0].id)
    due_cell = page.model.index(row, 5)
    assert due_cell.data().startswith("Late · ")
    assert due_cell.data(Qt.ItemDataRole.BackgroundRole) is not None
    page.overdue_only.setChecked(True)
    assert page.model.rowCount() == len(overdue)
