"""Small data-entry dialogs: a PA request (new, edit, cancel), a visit (book, reschedule)
and the merge of a duplicate patient. Each checks its values as the person types
(app.forms) and saves through one service call on the worker (roles and audit there),
then announces what changed."""

from __future__ import annotations

from typing import Any, Callable

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QColor
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from app.domain import Appointment, Patient
from app.domain.pa import PriorAuth
from app.forms import SERVICE_FIELDS, appointment_errors, pa_request_errors
from app.queue.changes import Changes
from app.services import appointments, eligibility, patients, prior_auth
from ui.desktop.pages import AppContext

_INVALID = "QLineEdit { border: 1px solid #c62828; }"
PA_CHANGES = frozenset({"pa_followup", "pa_escalation"})


class _CheckedDialog(QDialog):
    """A dialog whose Save is enabled only while its check finds nothing."""

    saved = Signal(object)

    def __init__(self, ctx: AppContext, title: str, parent: QWidget | None) -> None:
        super().__init__(parent)
        self.ctx = ctx
        self.setWindowTitle(title)
        self.edits: dict[str, QLineEdit] = {}
        self.form = QFormLayout()
        self.problems = QLabel()
        self.problems.setObjectName("formErrors")
        self.problems.setWordWrap(True)
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Save
                                        | QDialogButtonBox.StandardButton.Cancel)
        self.save_button = self.buttons.button(QDialogButtonBox.StandardButton.Save)
        self.buttons.accepted.connect(self.save)
        self.buttons.rejected.connect(self.reject)
        self.layout_ = QVBoxLayout(self)
        self.layout_.addLayout(self.form)
        self.layout_.addWidget(self.problems)
        self.layout_.addWidget(self.buttons)

    def add_edit(self, key: str, label: str, placeholder: str = "") -> QLineEdit:
        edit = QLineEdit()
        edit.setObjectName(f"field_{key}")
        edit.setPlaceholderText(placeholder)
        edit.textChanged.connect(self.validate)
        self.edits[key] = edit
        self.form.addRow(label, edit)
        return edit

    def values(self) -> dict[str, str]:
        return {k: e.text().strip() for k, e in self.edits.items()}

    def check(self) -> dict[str, str]:
        raise NotImplementedError

    def validate(self) -> bool:
        found = self.check()
        for key, edit in self.edits.items():
            edit.setStyleSheet(_INVALID if key in found else "")
            edit.setToolTip(found.get(key, ""))
        self.problems.setText("\n".join(f"{k.replace('_', ' ')}: {m}"
                                        for k, m in found.items()))
        self.save_button.setEnabled(not found)
        return not found

    def run(self, fn: Callable[[], Any], label: str, changes: Changes) -> None:
        self.save_button.setEnabled(False)

        def done(result: Any) -> None:
            self.saved.emit(result)
            self.accept()

        self.ctx.operate(fn, done=done, label=label, changed=lambda _r: changes)

    def save(self) -> None:
        raise NotImplementedError


class PAForm(_CheckedDialog):
    """Record a submitted PA request for a patient, or correct or cancel one. Its services
    are a small table of lines (code, units, modifier, from, to), checked as typed."""

    LINE_HEADERS = ("Code (CPT/HCPCS)", "Units", "Modifier", "From", "To")

    def __init__(self, ctx: AppContext, patient: Patient, pa: PriorAuth | None = None,
                 parent: QWidget | None = None) -> None:
        super().__init__(ctx, f"PA {pa.id}" if pa else "New prior authorization", parent)
        self.setObjectName("paForm")
        self.patient, self.pa = patient, pa
        self.payer = QComboBox()
        self.payer.addItems(sorted({c.payer_name for c in patient.coverages if c.active}))
        self.form.addRow("Payer", self.payer)
        self.add_edit("service_date", "Date of service", "YYYY-MM-DD (the first)")
        self.lines = QTableWidget(0, len(SERVICE_FIELDS))
        self.lines.setObjectName("serviceLines")
        self.lines.setHorizontalHeaderLabels(self.LINE_HEADERS)
        self.lines.setToolTip("Codes only: CPT descriptions are AMA-licensed. Blank dates "
                              "are the PA's date of service.")
        self.lines.itemChanged.connect(lambda _item: self.validate())
        line_buttons = QHBoxLayout()
        self.add_line_button = QPushButton("Add service line")
        self.add_line_button.clicked.connect(lambda: self.add_line())
        self.remove_line_button = QPushButton("Remove line")
        self.remove_line_button.clicked.connect(self.remove_line)
        line_buttons.addWidget(self.add_line_button)
        line_buttons.addWidget(self.remove_line_button)
        line_buttons.addStretch(1)
        box = QVBoxLayout()
        box.addWidget(self.lines)
        box.addLayout(line_buttons)
        self.form.addRow("Services", box)
        self.add_edit("payer_ref", "Payer's reference")
        self.urgency = QComboBox()
        self.urgency.addItems(["standard", "expedited"])
        self.form.addRow("Urgency", self.urgency)
        self.cancel_reason = QLineEdit()
        self.cancel_button = QPushButton("Cancel this PA")
        self.cancel_button.setObjectName("cancelPA")
        if pa is not None:
            self.payer.setCurrentText(pa.payer_name)
            self.payer.setEnabled(False)
            self.urgency.setCurrentText(pa.urgency.value)
            self.urgency.setEnabled(False)  # it set the decision clock at submission
            for ln in pa.services:
                self.add_line([ln.code, str(ln.units), ln.modifier,
                               ln.service_from.isoformat(), ln.service_to.isoformat()])
            self.edits["service_date"].setText(pa.service_date.isoformat())
            self.edits["payer_ref"].setText(pa.payer_ref)
            row = QHBoxLayout()
            self.cancel_reason.setPlaceholderText("why it was withdrawn (optional)")
            row.addWidget(self.cancel_reason, 1)
            row.addWidget(self.cancel_button)
            self.cancel_button.clicked.connect(self.cancel_pa)
            self.layout_.insertLayout(1, row)
        else:
            self.add_line()
            if not self.payer.count():
                self.problems.setText("This patient has no active coverage: add it first.")
        self.validate()

    def add_line(self, texts: list[str] | None = None) -> None:
        row = self.lines.rowCount()
        self.lines.blockSignals(True)  # one check after the row is whole
        self.lines.insertRow(row)
        for col, text in enumerate(texts or [""] * len(SERVICE_FIELDS)):
            self.lines.setItem(row, col, QTableWidgetItem(text))
        self.lines.blockSignals(False)
        self.validate()

    def remove_line(self) -> None:
        row = self.lines.currentRow()
        self.lines.removeRow(row if row >= 0 else self.lines.rowCount() - 1)
        self.validate()

    def set_line(self, row: int, field: str, text: str) -> None:
        """Type into one cell (what a person does in the table; used by tests too)."""
        col = SERVICE_FIELDS.index(field)
        item = self.lines.item(row, col)
        if item is None:
            self.lines.setItem(row, col, QTableWidgetItem(text))
        else:
            item.setText(text)

    def line_values(self) -> list[dict[str, str]]:
        out = []
        for row in range(self.lines.rowCount()):
            cells = [self.lines.item(row, col) for col in range(len(SERVICE_FIELDS))]
            out.append({f: (c.text().strip() if c is not None else "")
                        for f, c in zip(SERVICE_FIELDS, cells)})
        return out

    def check(self) -> dict[str, str]:
        found = pa_request_errors(self.values(), self.line_values())
        if not self.payer.currentText():
            found["payer"] = "the patient has no active coverage"
        return found

    def validate(self) -> bool:
        ok = super().validate()
        if not hasattr(self, "lines"):
            return ok
        found = self.check()
        self.lines.blockSignals(True)  # colouring a cell is not an edit
        for row in range(self.lines.rowCount()):
            for col, field in enumerate(SERVICE_FIELDS):
                item = self.lines.item(row, col)
                if item is None:
                    continue
                message = found.get(f"line_{row + 1}_{field}", "")
                item.setBackground(QColor("#fde2e1") if message else QColor("#ffffff"))
                item.setToolTip(message)
        self.lines.blockSignals(False)
        return ok

    def save(self) -> None:
        if not self.validate():
            return
        v, session, pid = self.values(), self.ctx.session, self.patient.id
        lines = self.line_values()
        changes = Changes(patient_ids=frozenset({pid}), kinds=PA_CHANGES)
        if self.pa is None:
            payer, urgency = self.payer.currentText(), self.urgency.currentText()
            self.run(lambda: prior_auth.add_prior_auth(
                session, patient_id=pid, payer=payer, services=lines,
                service_date=v["service_date"], urgency=urgency,
                payer_ref=v["payer_ref"]), "Saving the PA", changes)
            return
        pa = self.pa
        edits: dict[str, Any] = {}
        if v["service_date"] != pa.service_date.isoformat():
            edits["service_date"] = v["service_date"]
        if lines != [{"code": ln.code, "units": str(ln.units), "modifier": ln.modifier,
                      "service_from": ln.service_from.isoformat(),
                      "service_to": ln.service_to.isoformat()} for ln in pa.services]:
            edits["services"] = lines
        if v["payer_ref"] != pa.payer_ref:
            edits["payer_ref"] = v["payer_ref"]
        if not edits:
            self.accept()
            return
        self.run(lambda: prior_auth.update_prior_auth(session, pa.id, **edits),
                 "Saving the PA", changes)

    def cancel_pa(self) -> None:
        assert self.pa is not None
        session, pa_id, reason = self.ctx.session, self.pa.id, self.cancel_reason.text()
        self.cancel_button.setEnabled(False)
        self.run(lambda: prior_auth.cancel_prior_auth(session, pa_id, reason),
                 "Cancelling the PA", Changes(patient_ids=frozenset({self.patient.id}),
                                              kinds=PA_CHANGES))


class AppointmentForm(_CheckedDialog):
    """Book a visit for a patient, or move one (time and provider)."""

    def __init__(self, ctx: AppContext, patient_id: int, appointment: Appointment | None = None,
                 zone: Any = None, parent: QWidget | None = None) -> None:
        super().__init__(ctx, "Reschedule visit" if appointment else "New visit", parent)
        self.setObjectName("appointmentForm")
        self.patient_id, self.appointment = patient_id, appointment
        self.add_edit("start", "Date and time", "YYYY-MM-DD HH:MM (practice time)")
        self.add_edit("provider", "Provider")
        self.visit_type = QComboBox()
        self.visit_type.setEditable(True)
        self.form.addRow("Visit type", self.visit_type)
        self.visit_type.currentTextChanged.connect(self.validate)
        if appointment is not None:
            self.edits["start"].setText(
                f"{appointment.start_at.astimezone(zone):%Y-%m-%d %H:%M}")
            self.edits["provider"].setText(appointment.provider)
            self.visit_type.addItem(appointment.visit_type)
            self.visit_type.setEnabled(False)
        else:
            session = ctx.session
            ctx.worker.run(lambda: sorted(eligibility.visit_types(session)),
                           done=self._types, label="Loading visit types", phi=False)
        self.validate()

    def _types(self, names: list[str]) -> None:
        current = self.visit_type.currentText()
        self.visit_type.addItems([n for n in names if n != current])
        if not current:
            self.visit_type.setCurrentText("office_visit" if "office_visit" in names
                                           else (names[0] if names else ""))

    def check(self) -> dict[str, str]:
        return appointment_errors({**self.values(),
                                   "visit_type": self.visit_type.currentText()})

    def save(self) -> None:
        if not self.validate():
            return
        v, session, pid = self.values(), self.ctx.session, self.patient_id
        changes = Changes(patient_ids=frozenset({pid}))
        if self.appointment is None:
            kind = self.visit_type.currentText().strip().lower()
            self.run(lambda: appointments.add_appointment(
                session, pid, v["start"], provider=v["provider"], visit_type=kind),
                "Booking the visit", changes)
        else:
            appt_id = self.appointment.id
            self.run(lambda: appointments.reschedule_appointment(
                session, appt_id, v["start"], provider=v["provider"]),
                "Moving the visit", changes)


class MergeDialog(QDialog):
    """Pick the duplicate record to merge into the patient kept."""

    merged = Signal(int)

    def __init__(self, ctx: AppContext, keep: Patient, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.ctx, self.keep = ctx, keep
        self.setWindowTitle(f"Merge a duplicate into {keep.display_name}")
        self.setObjectName("mergeDialog")
        self.search = QLineEdit()
        self.search.setPlaceholderText("Search the duplicate by name, DOB or member ID, "
                                       "then Enter")
        self.search.returnPressed.connect(self.run_search)
        self.results = QListWidget()
        self.results.currentItemChanged.connect(self._chosen)
        self.explain = QLabel("Everything recorded under the duplicate (visits, PAs, tasks, "
                              "claims, coverage) moves to the patient kept. This cannot be "
                              "undone from the app.")
        self.explain.setWordWrap(True)
        self.merge_button = QPushButton("Merge")
        self.merge_button.setObjectName("mergeButton")
        self.merge_button.setEnabled(False)
        self.merge_button.clicked.connect(self.merge)
        layout = QVBoxLayout(self)
        for widget in (self.search, self.results, self.explain, self.merge_button):
            layout.addWidget(widget)
        self.duplicate_id: int | None = None
        self.search.setText(keep.last_name)
        self.run_search()

    def run_search(self) -> None:
        session, text = self.ctx.session, self.search.text().strip()
        self.ctx.worker.run(lambda: patients.list_patients(session, text, limit=50),
                            done=self._show, label="Searching patients")

    def _show(self, found: list[Patient]) -> None:
        self.results.clear()
        for p in found:
            if p.id == self.keep.id:
                continue
            item = QListWidgetItem(f"{p.display_name} · born {p.dob.isoformat()} · "
                                   f"patient {p.id}")
            item.setData(Qt.ItemDataRole.UserRole, p.id)
            self.results.addItem(item)

    def _chosen(self, item: QListWidgetItem | None, _previous: Any) -> None:
        self.duplicate_id = int(item.data(Qt.ItemDataRole.UserRole)) if item is not None else None
        self.merge_button.setEnabled(self.duplicate_id is not None)
        if item is not None:
            self.merge_button.setText(f"Merge patient {self.duplicate_id} into "
                                      f"{self.keep.display_name}")

    def merge(self) -> None:
        if self.duplicate_id is None:
            return
        session, keep, dup = self.ctx.session, self.keep.id, self.duplicate_id
        self.merge_button.setEnabled(False)

        def done(_moved: Any) -> None:
            self.merged.emit(keep)
            self.accept()

        self.ctx.operate(lambda: patients.merge_patients(session, keep, dup), done=done,
                         label="Merging patients",
                         changed=lambda _m: Changes(patient_ids=frozenset({keep, dup})))
