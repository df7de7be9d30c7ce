"""Pick a patient by name, date of birth or member ID: the first step of booking a visit
from the Today page. The search runs as the person types (after a pause: each search is
one audited look-up, not one per keystroke) on the worker; Enter or double-click picks."""

from __future__ import annotations

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QKeyEvent
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QVBoxLayout,
    QWidget,
)

from app.domain import Patient
from app.services import patients
from ui.desktop.pages import AppContext

MIN_CHARS = 2  # one letter matches half the practice


class _SearchEdit(QLineEdit):
    """Down moves into the results, so the whole pick is keyboard-only."""

    def __init__(self, results: QListWidget) -> None:
        super().__init__()
        self.results = results

    def keyPressEvent(self, event: QKeyEvent) -> None:
        if event.key() == Qt.Key.Key_Down and self.results.count():
            self.results.setFocus()
            self.results.setCurrentRow(max(0, self.results.currentRow()))
            return
        super().keyPressEvent(event)


class PatientPicker(QDialog):
    """`chosen(patient_id, display name)` when a patient is picked (Enter, double-click
    or OK)."""

    chosen = Signal(int, str)

    def __init__(self, ctx: AppContext, title: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.ctx = ctx
        self.setWindowTitle(title)
        self.setObjectName("patientPicker")
        self.results = QListWidget()
        self.results.setObjectName("pickerResults")
        self.search = _SearchEdit(self.results)
        self.search.setObjectName("pickerSearch")
        self.search.setPlaceholderText("Name, date of birth (YYYY-MM-DD) or member ID")
        self.note = QLabel("Type at least two characters.")
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok
                                        | QDialogButtonBox.StandardButton.Cancel)
        self.ok_button = self.buttons.button(QDialogButtonBox.StandardButton.Ok)
        self.ok_button.setText("Book a visit for this patient")
        self.ok_button.setEnabled(False)
        self.buttons.accepted.connect(self.pick)
        self.buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        for widget in (self.search, self.note, self.results, self.buttons):
            layout.addWidget(widget)
        self.timer = QTimer(self)
        self.timer.setSingleShot(True)
        self.timer.setInterval(300)
        self.timer.timeout.connect(self.run_search)
        self.search.textChanged.connect(self._typed)
        self.search.returnPressed.connect(self._enter_in_search)
        self.results.currentItemChanged.connect(
            lambda item, _p: self.ok_button.setEnabled(item is not None))
        self.results.itemActivated.connect(lambda _i: self.pick())
        self._asked = ""  # the newest search sent to the worker
        self._shown = ""  # the search the listed results answer
        self._pick_when_shown = False  # Enter came before the answer: pick on its arrival
        self.resize(520, 380)

    def _typed(self, _text: str) -> None:
        self._pick_when_shown = False  # a pending Enter was for what was typed before
        self.timer.start()

    def run_search(self) -> None:
        text = self.search.text().strip()
        if len(text) < MIN_CHARS:
            self._asked = self._shown = ""  # an older search's answer is not shown now
            self.results.clear()
            self.note.setText("Type at least two characters.")
            return
        self._asked = text
        session = self.ctx.session
        self.ctx.worker.run(lambda: patients.list_patients(session, text, limit=50),
                            done=lambda found: self._show(text, found),
                            label="Searching patients")

    def _show(self, text: str, found: list[Patient]) -> None:
        if text != self._asked:  # an older search answered late: the newer one counts
            return
        self.results.clear()
        for p in found:
            item = QListWidgetItem(f"{p.display_name} · born {p.dob.isoformat()} · "
                                   f"patient {p.id}")
            item.setData(Qt.ItemDataRole.UserRole, p.id)
            item.setData(Qt.ItemDataRole.UserRole + 1, p.display_name)
            self.results.addItem(item)
        self._shown = text
        self.note.setText(f"{len(found)} found; Enter picks the highlighted one."
                          if found else "No patient matches; check the spelling, or add "
                          "the patient on the Patients page first.")
        if found:
            self.results.setCurrentRow(0)
        if self._pick_when_shown:
            self._pick_when_shown = False
            self.pick()

    def _enter_in_search(self) -> None:
        """Pick the highlighted result, but only from results for what is typed now: the
        list may still answer an older search (typed 'Jo', saw Johnson, then typed 'nes'
        and pressed Enter), and picking from it would book the wrong patient."""
        if self.timer.isActive():  # typed and pressed Enter at once: search now
            self.timer.stop()
            self.run_search()
        text = self.search.text().strip()
        if text and text == self._shown:
            if self.results.currentItem() is not None:
                self.pick()
        elif text and text == self._asked:  # its answer is on the way: pick when it comes
            self._pick_when_shown = True

    def pick(self) -> None:
        item = self.results.currentItem()
        if item is None:
            return
        self.chosen.emit(int(item.data(Qt.ItemDataRole.UserRole)),
                         str(item.data(Qt.ItemDataRole.UserRole + 1)))
        self.accept()

    def done(self, result: int) -> None:
        self.timer.stop()  # a closed picker searches nothing (the vault may be locked)
        # and picks nothing: an Enter waiting for its answer was cancelled with the dialog
        self._pick_when_shown, self._asked = False, ""
        super().done(result)
