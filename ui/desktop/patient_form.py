"""The patient form: demographics and primary and secondary coverage, for a new patient or
an edit. It checks the values as the person types (app.forms), warns when a new patient
looks like one already on file, and saves through patients.save_patient_form on the
worker (roles, audit and the one transaction are there)."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QCompleter,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QLabel,
    QLineEdit,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from app import clock
from app.domain import Coverage, Patient
from app.forms import (
    RELATIONSHIPS,
    coverage_errors,
    patient_errors,
    timezone_error,
    timezone_names,
)
from app.queue.changes import Changes
from app.services import patients, prior_auth
from ui.desktop.pages import AppContext

NO_PAYER = "(none)"
_INVALID = "QLineEdit { border: 1px solid #c62828; }"
_INVALID_COMBO = "QComboBox { border: 1px solid #c62828; }"
_DEMOGRAPHICS = (("first_name", "First name"), ("last_name", "Last name"),
                 ("dob", "Date of birth"), ("phone", "Phone"), ("email", "Email"),
                 ("address", "Address"))


class CoverageBox(QWidget):
    """One coverage (primary or secondary); a box with no payer chosen is not saved."""

    changed = Signal()

    def __init__(self, priority: int, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.priority = priority
        self.coverage: Coverage | None = None
        self.payer = QComboBox()
        self.payer.addItem(NO_PAYER)
        self.member_id = QLineEdit()
        self.group_number = QLineEdit()
        self.plan_name = QLineEdit()
        self.relationship = QComboBox()
        self.relationship.addItems(list(RELATIONSHIPS))
        self.subscriber = QLineEdit()
        self.subscriber.setPlaceholderText("only when the patient is not the subscriber")
        self.subscriber_dob = QLineEdit()
        self.subscriber_dob.setPlaceholderText("YYYY-MM-DD, the subscriber's")
        self.effective = QLineEdit()
        self.effective.setPlaceholderText("YYYY-MM-DD")
        self.termination = QLineEdit()
        self.termination.setPlaceholderText("YYYY-MM-DD")
        self.active = QCheckBox("Active")
        self.active.setChecked(True)
        form = QFormLayout(self)
        for label, widget in (("Payer", self.payer), ("Member ID", self.member_id),
                              ("Group", self.group_number), ("Plan", self.plan_name),
                              ("Subscriber is the patient's", self.relationship),
                              ("Subscriber name", self.subscriber),
                              ("Subscriber date of birth", self.subscriber_dob),
                              ("Coverage from", self.effective), ("Coverage to", self.termination),
                              ("", self.active)):
            form.addRow(label, widget)
        for edit in self.edits().values():
            edit.textChanged.connect(self.changed)
        self.payer.currentIndexChanged.connect(self.changed)
        self.relationship.currentIndexChanged.connect(self.changed)
        self.active.toggled.connect(self.changed)

    def edits(self) -> dict[str, QLineEdit]:
        return {"member_id": self.member_id, "group_number": self.group_number,
                "plan_name": self.plan_name, "subscriber_name": self.subscriber,
                "subscriber_dob": self.subscriber_dob, "effective_date": self.effective, "termination_date": self.termination}

    def set_payers(self, names: list[str]) -> None:
        current = self.payer.currentText()
        self.payer.blockSignals(True)
        self.payer.clear()
        self.payer.addItems([NO_PAYER, *names])
        self.payer.setCurrentText(current if current in names else NO_PAYER)
        self.payer.blockSignals(False)

    def load(self, coverage: Coverage) -> None:
        self.coverage = coverage
        self.payer.setCurrentText(coverage.payer_name)
        self.member_id.setText(coverage.member_id)
        self.group_number.setText(coverage.group_number)
        self.plan_name.setText(coverage.plan_name)
        self.relationship.setCurrentText(coverage.subscriber_relationship)
        self.subscriber.setText(coverage.subscriber_name)
        self.subscriber_dob.setText(coverage.subscriber_dob.isoformat()
                                    if coverage.subscriber_dob else "")
        self.effective.setText(coverage.effective_date.isoformat()
                               if coverage.effective_date else "")
        self.termination.setText(coverage.termination_date.isoformat()
                                 if coverage.termination_date else "")
        self.active.setChecked(coverage.active)

    def values(self) -> dict[str, str]:
        payer = self.payer.currentText()
        return {"payer": "" if payer == NO_PAYER else payer,
                "subscriber_relationship": self.relationship.currentText(),
                **{k: e.text().strip() for k, e in self.edits().items()}}

    def errors(self) -> dict[str, str]:
        found = coverage_errors(self.values())
        for key, edit in self.edits().items():
            edit.setStyleSheet(_INVALID if key in found else "")
        return found

    def to_save(self) -> dict[str, Any] | None:
        """What save_patient_form takes for this box: new, changed fields, or None."""
        v = self.values()
        if not v["payer"]:
            return None
        fields: dict[str, Any] = {
            "member_id": v["member_id"], "group_number": v["group_number"],
            "plan_name": v["plan_name"], "subscriber_name": v["subscriber_name"],
            "subscriber_relationship": v["subscriber_relationship"],
            "subscriber_dob": v["subscriber_dob"] or None,
            "effective_date": v["effective_date"] or None,
            "termination_date": v["termination_date"] or None}
        if self.coverage is None:
            return {"payer": v["payer"], "priority": self.priority, **fields}
        c = self.coverage
        before = {"member_id": c.member_id, "group_number": c.group_number,
                  "plan_name": c.plan_name, "subscriber_name": c.subscriber_name,
                  "subscriber_relationship": c.subscriber_relationship,
                  "subscriber_dob": c.subscriber_dob.isoformat() if c.subscriber_dob else None,
                  "effective_date": c.effective_date.isoformat() if c.effective_date else None,
                  "termination_date": c.termination_date.isoformat()
                  if c.termination_date else None}
        changes = {k: val for k, val in fields.items() if before[k] != val}
        if v["payer"] != c.payer_name:
            changes["payer"] = v["payer"]
        if self.active.isChecked() != c.active:
            changes["active"] = self.active.isChecked()
        return {"id": c.id, **changes} if changes else None


class PatientForm(QDialog):
    """New patient (patient None) or edit; `saved(patient_id)` after a save."""

    saved = Signal(int)

    def __init__(self, ctx: AppContext, patient: Patient | None = None,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.ctx = ctx
        self.patient = patient
        self.setWindowTitle("Edit patient" if patient else "New patient")
        self.setObjectName("patientForm")
        self.fields: dict[str, QLineEdit] = {}
        form = QFormLayout()
        for key, label in _DEMOGRAPHICS:
            edit = QLineEdit()
            edit.setObjectName(f"patient_{key}")
            if key == "dob":
                edit.setPlaceholderText("YYYY-MM-DD")
            edit.textChanged.connect(self.validate)
            self.fields[key] = edit
            form.addRow(label, edit)
        self.sex = QComboBox()
        self.sex.addItems(["", "F", "M", "X"])
        form.addRow("Sex", self.sex)
        self.timezone = self._zone_combo()
        form.addRow("Time zone", self.timezone)
        self.primary = CoverageBox(1)
        self.secondary = CoverageBox(2)
        self.coverage_tabs = QTabWidget()
        self.coverage_tabs.addTab(self.primary, "Primary coverage")
        self.coverage_tabs.addTab(self.secondary, "Secondary coverage")
        for box in (self.primary, self.secondary):
            box.changed.connect(self.validate)
        self.problems = QLabel()
        self.problems.setObjectName("formErrors")
        self.problems.setWordWrap(True)
        self.similar = QLabel()
        self.similar.setObjectName("similarWarning")
        self.similar.setWordWrap(True)
        self.similar.setStyleSheet("color: #8a5300;")
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Save
                                        | QDialogButtonBox.StandardButton.Cancel)
        self.save_button = self.buttons.button(QDialogButtonBox.StandardButton.Save)
        self.buttons.accepted.connect(self.save)
        self.buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.coverage_tabs)
        layout.addWidget(self.similar)
        layout.addWidget(self.problems)
        layout.addWidget(self.buttons)
        # The look-alike search waits for a pause in typing: one audited search, not one
        # per keystroke.
        self.similar_timer = QTimer(self)
        self.similar_timer.setSingleShot(True)
        self.similar_timer.setInterval(400)
        self.similar_timer.timeout.connect(self.check_similar)
        if patient is not None:
            self._load(patient)
        session = ctx.session
        ctx.worker.run(lambda: [p.name for p in patients.list_payers(session)],
                       done=self._payers, label="Loading payers", phi=False)
        ctx.worker.run(lambda: prior_auth.practice_zone(session).key, done=self._practice_zone,
                       label="", phi=False)
        self.validate()

    def _zone_combo(self) -> QComboBox:
        """Editable: pick an IANA zone or type one (checked as typed); empty, the first
        entry, means the practice's zone (reminder and message times use it)."""
        combo = QComboBox()
        combo.setObjectName("patient_timezone")
        combo.setEditable(True)
        combo.setInsertPolicy(QComboBox.InsertPolicy.NoInsert)
        combo.addItems(["", *timezone_names()])
        completer = QCompleter(combo.model(), combo)
        completer.setFilterMode(Qt.MatchFlag.MatchContains)
        completer.setCaseSensitivity(Qt.CaseSensitivity.CaseInsensitive)
        combo.setCompleter(completer)
        line = combo.lineEdit()
        assert line is not None
        line.setPlaceholderText("the practice's time zone")
        combo.currentTextChanged.connect(lambda _t: self.validate())
        return combo

    def _practice_zone(self, name: str) -> None:
        line = self.timezone.lineEdit()
        if line is not None:
            line.setPlaceholderText(f"the practice's: {name}")

    def _payers(self, names: list[str]) -> None:
        for box in (self.primary, self.secondary):
            box.set_payers(names)
        if self.patient is not None:
            self._load_coverages(self.patient)

    def _load(self, p: Patient) -> None:
        for key, value in (("first_name", p.first_name), ("last_name", p.last_name),
                           ("dob", p.dob.isoformat()), ("phone", p.phone),
                           ("email", p.email), ("address", p.address)):
            self.fields[key].setText(value)
        self.sex.setCurrentText(p.sex)
        self.timezone.setCurrentText(p.timezone)

    def _load_coverages(self, p: Patient) -> None:
        for box in (self.primary, self.secondary):
            match = [c for c in p.coverages if c.priority == box.priority]
            active = [c for c in match if c.active] or match
            if active:
                box.load(active[0])

    def values(self) -> dict[str, str]:
        return {k: e.text().strip() for k, e in self.fields.items()}

    def validate(self) -> bool:
        found = patient_errors(self.values(), clock.now().date())
        for key, edit in self.fields.items():
            edit.setStyleSheet(_INVALID if key in found else "")
            edit.setToolTip(found.get(key, ""))
        zone = timezone_error(self.timezone.currentText())
        self.timezone.setStyleSheet(_INVALID_COMBO if zone else "")
        self.timezone.setToolTip(zone)
        messages = [f"{k.replace('_', ' ')}: {m}" for k, m in found.items()]
        if zone:
            messages.append(f"time zone: {zone}")
        for box, name in ((self.primary, "primary"), (self.secondary, "secondary")):
            messages += [f"{name} {k.replace('_', ' ')}: {m}" for k, m in box.errors().items()]
        if self.primary.values()["payer"] and self.primary.values()["payer"] == \
                self.secondary.values()["payer"] and self.patient is None:
            messages.append("secondary: the same payer as the primary")
        self.problems.setText("\n".join(messages))
        self.save_button.setEnabled(not messages)
        if self.patient is None:
            self.similar_timer.start()
        return not messages

    def check_similar(self) -> None:
        v = self.values()
        if not (v["last_name"] and (v["first_name"] or v["dob"])) and not \
                self.primary.values()["member_id"]:
            self.similar.clear()
            return
        session = self.ctx.session
        member = self.primary.values()["member_id"]
        self.ctx.worker.run(lambda: patients.similar_patients(
            session, v["first_name"], v["last_name"], v["dob"], member),
            done=self._show_similar, label="Looking for the same patient")

    def _show_similar(self, found: list[tuple[Patient, str]]) -> None:
        self.similar.setText("" if not found else "Already on file? " + "; ".join(
            f"{p.display_name}, born {p.dob.isoformat()} (patient {p.id}: {why})"
            for p, why in found[:5]) + ". Save anyway only if this is someone else.")

    def to_save(self) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        v = self.values()
        demographics: dict[str, Any] = {**v, "sex": self.sex.currentText(),
                                         "timezone": self.timezone.currentText().strip()}
        if self.patient is not None:
            p = self.patient
            before = {"first_name": p.first_name, "last_name": p.last_name,
                      "dob": p.dob.isoformat(), "phone": p.phone, "email": p.email,
                      "address": p.address, "sex": p.sex, "timezone": p.timezone}
            demographics = {k: val for k, val in demographics.items() if before[k] != val}
        coverages = [c for c in (self.primary.to_save(), self.secondary.to_save()) if c]
        return demographics, coverages

    def save(self) -> None:
        if not self.validate():
            return
        demographics, coverages = self.to_save()
        session = self.ctx.session
        patient_id = self.patient.id if self.patient else None
        self.save_button.setEnabled(False)
        self.ctx.operate(
            lambda: patients.save_patient_form(session, patient_id, demographics, coverages),
            done=self._saved, label="Saving patient",
            changed=lambda p: Changes(patient_ids=frozenset({p.id})))

    def done(self, result: int) -> None:
        self.similar_timer.stop()  # a closed form searches nothing (the vault may be locked)
        super().done(result)

    def _saved(self, patient: Patient) -> None:
        self.saved.emit(patient.id)
        self.accept()
