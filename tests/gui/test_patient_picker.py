"""The Today page's patient picker with a worker that answers late (as the real pool
does): Enter never picks from results that answer an older search."""

from __future__ import annotations

from datetime import date
from types import SimpleNamespace
from typing import Any, Callable

import pytest
from PySide6.QtCore import Qt

from ui.desktop import patient_picker
from ui.desktop.patient_picker import PatientPicker

PEOPLE = {"Jo": [SimpleNamespace(id=1, display_name="Johnson, Al", dob=date(1960, 1, 2))],
          "Jones": [SimpleNamespace(id=2, display_name="Jones, Bea", dob=date(1970, 3, 4))]}


class LateWorker:
    """Holds each job until the test answers it."""

    def __init__(self) -> None:
        self.jobs: list[tuple[Callable[[], Any], Callable[[Any], None]]] = []

    def run(self, fn: Callable[[], Any], *, done: Callable[[Any], None], **_kw: Any) -> None:
        self.jobs.append((fn, done))

    def answer(self) -> None:
        fn, done = self.jobs.pop(0)
        done(fn())


@pytest.fixture
def picker(qtbot: Any, monkeypatch: pytest.MonkeyPatch) -> PatientPicker:
    monkeypatch.setattr(patient_picker.patients, "list_patients",
                        lambda _s, text, limit: PEOPLE.get(text, []))
    ctx = SimpleNamespace(session=object(), worker=LateWorker())
    dialog = PatientPicker(ctx, "Book a visit")  # type: ignore[arg-type]
    qtbot.addWidget(dialog)
    return dialog


def test_enter_waits_for_the_answer_to_what_is_typed(picker: PatientPicker,
                                                     qtbot: Any) -> None:
    worker = picker.ctx.worker
    picked: list[int] = []
    picker.chosen.connect(lambda pid, _name: picked.append(pid))
    picker.search.setText("Jo")
    picker.run_search()
    worker.answer()
    assert picker.results.currentItem().data(Qt.ItemDataRole.UserRole) == 1
    picker.search.setText("Jones")  # typed on, then Enter before the search ran
    qtbot.keyClick(picker.search, Qt.Key.Key_Return)
    assert picked == []  # Johnson, still listed, is not the patient typed
    worker.answer()
    assert picked == [2]


def test_a_late_answer_does_not_refill_a_cleared_list(picker: PatientPicker) -> None:
    worker = picker.ctx.worker
    picker.search.setText("Jo")
    picker.run_search()
    picker.search.setText("J")
    picker.run_search()  # too short: the list is cleared
    worker.answer()  # the search for 'Jo' answers now
    assert picker.results.count() == 0


def test_a_cancelled_picker_picks_nothing_when_the_answer_comes(picker: PatientPicker,
                                                                qtbot: Any) -> None:
    worker = picker.ctx.worker
    picked: list[int] = []
    picker.chosen.connect(lambda pid, _name: picked.append(pid))
    picker.open()
    picker.search.setText("Jones")
    qtbot.keyClick(picker.search, Qt.Key.Key_Return)  # waits for the answer
    picker.reject()  # Esc before it came
    worker.answer()
    assert picked == []
