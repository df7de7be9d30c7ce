"""Role filtering (front desk sees no biller queues) and the shadow-mode guard, plus
bulk approve (approve-each kinds only, after confirming)."""

from __future__ import annotations

from typing import Any

import pytest
from PySide6.QtCore import QItemSelectionModel, Qt
from PySide6.QtWidgets import QMessageBox

from app import queue
from app.domain import ActionMode, TaskState
from app.errors import InvalidTransition
from app.identity.permissions import Role
from app.queue.kinds import KINDS, kinds_for_roles
from app.reports import trust
from tests.gui.conftest import import_denials

BILLER_KINDS = {k for k, spec in KINDS.items() if spec.role is Role.BILLER}


def test_front_desk_sees_no_biller_queues(qtbot: Any, open_window: Any) -> None:
    window = open_window("frida")
    window.show_page("queue")  # the front desk starts on Today
    page = window.pages["queue"]
    sidebar = set(page.sidebar_model.kinds())
    assert sidebar == set(kinds_for_roles(frozenset({Role.FRONT_DESK})))
    assert not sidebar & BILLER_KINDS
    assert page.model.rowCount() > 0
    assert not {t.kind for t in page.model.tasks} & BILLER_KINDS
    labels = [page.sidebar_model.index(r).data() for r in range(page.sidebar_model.rowCount())]
    assert not any(KINDS[k].label in " ".join(labels) for k in BILLER_KINDS)
    assert not page.bulk_button.isVisible()  # bulk approve is for managers and owners
    assert "dashboard" in window.page_actions


def test_biller_sees_only_biller_queues(qtbot: Any, open_window: Any) -> None:
    window = open_window("billie")
    page = window.pages["queue"]
    assert set(page.sidebar_model.kinds()) == BILLER_KINDS
    assert {t.kind for t in page.model.tasks} <= BILLER_KINDS


def test_choosing_a_queue_in_the_sidebar_filters_the_table(qtbot: Any, open_window: Any,
                                                           login_as: Any) -> None:
    import_denials(login_as("olivia"))
    window = open_window("manny")
    page = window.pages["queue"]
    row = page.sidebar_model.kinds().index("denial_review") + 1
    page.sidebar.setCurrentIndex(page.sidebar_model.index(row))
    assert page.kind_filter == "denial_review"
    assert {t.kind for t in page.model.tasks} == {"denial_review"}
    assert page.model.rowCount() == page.sidebar_model.count_for("denial_review")


def _select_task(page: Any, task_id: int) -> None:
    page.select_row(page._proxy_row_of(task_id))
    assert page.current_task() is not None and page.current_task().id == task_id


def test_shadow_tasks_are_marked_and_cannot_be_approved(qtbot: Any,
                                                        open_window: Any) -> None:
    window = open_window("manny")
    page = window.pages["queue"]
    shadow = next(t for t in page.model.tasks if t.state is TaskState.SHADOW)
    assert queue.get_mode(window.session, shadow.kind) is ActionMode.SHADOW
    _select_task(page, shadow.id)
    detail = page.detail
    assert detail.shadow_banner.isVisible() and "never be sent" in detail.shadow_banner.text()
    assert detail.shadow_buttons.isVisible()
    assert not detail.approve_button.isEnabled()
    assert page.model.index(page.model.row_of(shadow.id), 4).data() == "Shadow"
    page.table.setFocus()
    qtbot.keyClick(page.table, Qt.Key.Key_A)
    assert queue.get_task_unchecked(window.session, shadow.id).state is TaskState.SHADOW
    assert any("shadow-mode draft" in t for t in window.bridge.texts("warning"))
    with pytest.raises(InvalidTransition):  # the core refuses too, not only the UI
        queue.approve(window.session, shadow.id)
    qtbot.mouseClick(detail.would_approve, Qt.MouseButton.LeftButton)
    after = queue.get_task_unchecked(window.session, shadow.id)
    assert after.state is TaskState.DONE and after.shadow_verdict == "would_approve"
    assert trust.trust_figures(window.session)[shadow.kind].decided == 1


def test_would_change_records_the_edit(qtbot: Any, open_window: Any) -> None:
    window = open_window("manny")
    page = window.pages["queue"]
    shadow = next(t for t in page.model.tasks if t.state is TaskState.SHADOW)
    _select_task(page, shadow.id)
    page.detail.editor.setPlainText("A better draft.")
    qtbot.mouseClick(page.detail.would_change, Qt.MouseButton.LeftButton)
    after = queue.get_task_unchecked(window.session, shadow.id)
    assert after.shadow_verdict == "would_change" and after.draft == "A better draft."
    assert trust.trust_figures(window.session)[shadow.kind].edit_rate == 1.0


def _select_ids(page: Any, ids: list[int]) -> None:
    selection = page.table.selectionModel()
    selection.clearSelection()
    for task_id in ids:
        selection.select(page.proxy.index(page._proxy_row_of(task_id), 0),
                         QItemSelectionModel.SelectionFlag.Select
                         | QItemSelectionModel.SelectionFlag.Rows)


def test_bulk_approve_refuses_shadow_kinds(qtbot: Any, open_window: Any) -> None:
    window = open_window("manny")
    page = window.pages["queue"]
    shadow = next(t for t in page.model.tasks if t.state is TaskState.SHADOW)
    pending = next(t for t in page.model.tasks if t.state is TaskState.PENDING)
    _select_ids(page, [shadow.id, pending.id])
    page.table.setFocus()
    qtbot.keyClick(page.table, Qt.Key.Key_A, Qt.KeyboardModifier.ControlModifier
                   | Qt.KeyboardModifier.ShiftModifier)
    assert page._confirm_box is None
    assert any("approve-each mode" in t for t in window.bridge.texts("warning"))
    assert queue.get_task_unchecked(window.session, pending.id).state is TaskState.PENDING


def test_bulk_approve_asks_then_approves(qtbot: Any, open_window: Any) -> None:
    window = open_window("manny")
    page = window.pages["queue"]
    pending = [t for t in page.model.tasks if t.state is TaskState.PENDING][:3]
    _select_ids(page, [t.id for t in pending])
    assert page.bulk_button.text() == "Approve selected (3)"
    qtbot.mouseClick(page.bulk_button, Qt.MouseButton.LeftButton)
    box = page._confirm_box
    assert box is not None and box.isVisible() and "Approve 3 tasks?" in box.text()
    assert all(queue.get_task_unchecked(window.session, t.id).state is TaskState.PENDING
               for t in pending)  # nothing happens before the answer
    qtbot.mouseClick(box.button(QMessageBox.StandardButton.Yes), Qt.MouseButton.LeftButton)
    assert all(queue.get_task_unchecked(window.session, t.id).state is TaskState.DONE
               for t in pending)
    assert "Approved 3 tasks." in window.bridge.texts("info")
