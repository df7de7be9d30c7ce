"""The thin Qt models, checked with Qt's own model tester (qtmodeltester)."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt

from app import queue
from app.services import desktop_session, patients
from ui.desktop.models import (
    SORT_ROLE,
    PatientListModel,
    QueueListModel,
    TaskFilterProxy,
    TaskTableModel,
)


def test_task_table_model(qtmodeltester: Any, login_as: Any) -> None:
    session = login_as("olivia")
    view = desktop_session.queue_view(session, queue.QueueFilter())
    model = TaskTableModel()
    model.set_rows(view.tasks, view.names)
    assert model.rowCount() == len(view.tasks) > 20
    qtmodeltester.check(model)
    names = {model.index(r, 2).data() for r in range(model.rowCount())}
    assert set(view.names.values()) <= names
    proxy = TaskFilterProxy()
    proxy.setSourceModel(model)
    proxy.sort(0, Qt.SortOrder.AscendingOrder)
    qtmodeltester.check(proxy)
    priorities = [proxy.index(r, 0).data(SORT_ROLE) for r in range(proxy.rowCount())]
    assert priorities == sorted(priorities)
    model.clear()
    assert proxy.rowCount() == 0


def test_queue_list_model(qtmodeltester: Any, login_as: Any) -> None:
    session = login_as("frida")
    model = QueueListModel()
    counts = queue.queue_counts(session)
    model.set_counts(counts)
    qtmodeltester.check(model)
    assert model.index(0).data() == f"All my work  ({sum(counts.values())})"
    assert model.kinds() == list(counts)
    counts[next(iter(counts))] += 5
    model.set_counts(counts)  # same kinds: counts update in place
    qtmodeltester.check(model)
    assert model.count_for(next(iter(counts))) == counts[next(iter(counts))]


def test_patient_list_model(qtmodeltester: Any, login_as: Any) -> None:
    session = login_as("frida")
    model = PatientListModel()
    model.set_patients(patients.list_patients(session))
    assert model.rowCount() == 30
    qtmodeltester.check(model)
    assert model.index(0).data(PatientListModel.ID_ROLE) is not None
