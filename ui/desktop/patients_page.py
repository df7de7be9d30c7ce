"""Patient search and the patient page: coverage, open tasks and history (closed tasks
and appointments). Opening a patient is audited as a view by the service."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from PySide6.QtCore import QModelIndex, Qt
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QListView,
    QPushButton,
    QSplitter,
    QTableView,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from app.queue.changes import Changes
from app.services import desktop_session, patients
from ui.desktop.models import TASK_ID_ROLE, PatientListModel, TaskTableModel, local_time
from ui.desktop.pages import AppContext, Page
from ui.desktop.tables import fill_table as _fill
from ui.desktop.tables import readonly_table as _table


class PatientsPage(Page):
    title = "Patients"

    def __init__(self, ctx: AppContext, parent: QWidget | None = None) -> None:
        super().__init__(ctx, parent)
        self.current_patient_id: int | None = None
        self.search = QLineEdit()
        self.search.setObjectName("patientSearch")
        self.search.setPlaceholderText("Search by name, date of birth (YYYY-MM-DD) or member "
                                       "ID, then Enter")
        self.search.setClearButtonEnabled(True)
        self.search.returnPressed.connect(self.run_search)
        self.results_model = PatientListModel(self)
        self.results = QListView()
        self.results.setObjectName("patientList")
        self.results.setModel(self.results_model)
        self.results.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.results.selectionModel().currentChanged.connect(self._chosen)
        left = QWidget()
        left_layout = QVBoxLayout(left)
        left_layout.setContentsMargins(0, 0, 0, 0)
        left_layout.addWidget(self.search)
        left_layout.addWidget(self.results, 1)
        self.import_button = QPushButton("Import records…")
        self.import_button.setToolTip("837 claims, FHIR or CSV exports from the practice's "
                                      "other systems")
        self.import_button.setVisible(ctx.session.can("records.import")
                                      or ctx.session.can("claim.import"))
        self.import_button.clicked.connect(self.open_import)
        self.import_dialog: Any = None
        left_layout.addWidget(self.import_button)
        self.new_button = QPushButton("New patient…")
        self.new_button.setObjectName("newPatient")
        self.new_button.setShortcut("Ctrl+N")
        self.new_button.setVisible(ctx.session.can("patient.create"))
        self.new_button.clicked.connect(lambda: self.open_form(None))
        left_layout.addWidget(self.new_button)
        self.form: Any = None
        self.current_patient: Any = None

        self.header = QLabel("Search for a patient.")
        self.header.setObjectName("detailTitle")
        self.demographics = QLabel()
        self.demographics.setWordWrap(True)
        self.coverage = _table(["Payer", "Member ID", "Group", "Plan", "Order", "Subscriber",
                                "Active"])
        self.task_model = TaskTableModel(parent=self)
        self.tasks = QTableView()
        self.tasks.setModel(self.task_model)
        self.tasks.verticalHeader().hide()
        self.tasks.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.tasks.horizontalHeader().setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)
        self.tasks.setColumnHidden(2, True)  # the patient column: it is this patient
        self.tasks.doubleClicked.connect(self._open_task)
        self.history = _table(["When", "What", "Detail", "Status"])
        tabs = QTabWidget()
        tabs.addTab(self.coverage, "Coverage")
        tabs.addTab(self.tasks, "Open tasks")
        tabs.addTab(self.history, "History")
        self.tabs = tabs
        right = QWidget()
        right_layout = QVBoxLayout(right)
        self.edit_button = QPushButton("Edit patient and coverage…")
        self.edit_button.setObjectName("editPatient")
        self.edit_button.setVisible(False)
        self.edit_button.clicked.connect(lambda: self.open_form(self.current_patient))
        self.pa_button = QPushButton("New PA…")
        self.pa_button.setObjectName("newPA")
        self.pa_button.clicked.connect(lambda: self.open_dialog("pa"))
        self.visit_button = QPushButton("New visit…")
        self.visit_button.setObjectName("newVisit")
        self.visit_button.clicked.connect(lambda: self.open_dialog("visit"))
        self.merge_button = QPushButton("Merge a duplicate…")
        self.merge_button.setObjectName("mergePatient")
        self.merge_button.clicked.connect(lambda: self.open_dialog("merge"))
        self.record_buttons = {"patient.update": self.edit_button, "pa.manage": self.pa_button,
                               "appointment.manage": self.visit_button,
                               "patient.merge": self.merge_button}
        actions = QHBoxLayout()
        for button in self.record_buttons.values():
            button.setVisible(False)
            actions.addWidget(button)
        actions.addStretch(1)
        right_layout.addWidget(self.header)
        right_layout.addLayout(actions)
        right_layout.addWidget(self.demographics)
        right_layout.addWidget(tabs, 1)
        splitter = QSplitter(Qt.Orientation.Horizontal)
        splitter.addWidget(left)
        splitter.addWidget(right)
        splitter.setSizes([340, 900])
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.addWidget(splitter)
        self.setFocusProxy(self.search)

    def open_import(self) -> None:
        from ui.desktop.import_dialog import ImportDialog
        self.import_dialog = ImportDialog(self.ctx, self)
        self.import_dialog.show()

    def open_form(self, patient: Any) -> None:
        from ui.desktop.patient_form import PatientForm
        self.form = PatientForm(self.ctx, patient, self)
        self.form.saved.connect(self.open_item)
        self.form.show()

    def open_dialog(self, which: str) -> None:
        from ui.desktop.entry_forms import AppointmentForm, MergeDialog, PAForm
        p = self.current_patient
        if p is None:
            return
        if which == "pa":
            self.form = PAForm(self.ctx, p, parent=self)
        elif which == "visit":
            self.form = AppointmentForm(self.ctx, p.id, parent=self)
            self.form.saved.connect(lambda _a: self.open_item(p.id))
        else:
            self.form = MergeDialog(self.ctx, p, self)
            self.form.merged.connect(self.open_item)
        self.form.show()

    def refresh(self) -> None:
        if self.results_model.rowCount() == 0:
            self.run_search()  # a small practice's list fits: show it (one audited search)
        if self.current_patient_id is not None:
            self.open_item(self.current_patient_id)

    def run_search(self) -> None:
        text = self.search.text().strip()
        session = self.ctx.session
        self.ctx.worker.run(lambda: patients.list_patients(session, text, limit=200),
                            done=self.results_model.set_patients, label="Searching patients")

    def _chosen(self, index: QModelIndex, _previous: QModelIndex) -> None:
        if index.isValid():
            self.open_item(int(index.data(PatientListModel.ID_ROLE)))

    def open_item(self, arg: Any) -> None:
        if arg is None:
            return
        patient_id = int(arg)
        session = self.ctx.session
        self.ctx.worker.run(lambda: desktop_session.patient_page(session, patient_id),
                            done=self.show_page, label="Opening patient")

    def show_page(self, page: desktop_session.PatientPage) -> None:
        p = page.patient
        self.current_patient_id = p.id
        self.current_patient = p
        for permission, button in self.record_buttons.items():
            button.setVisible(self.ctx.session.can(permission))
        self.header.setText(f"{p.display_name}")
        self.demographics.setText(
            f"DOB {p.dob.isoformat()} · {p.sex or '-'} · {p.phone or 'no phone'} · "
            f"{p.email or 'no email'} · "
            # quiet hours for texts and email follow this zone
            f"{p.timezone or 'practice time zone'}"
            + (" · SMS opted out" if p.sms_opt_out else ""))
        _fill(self.coverage, [[c.payer_name, c.member_id, c.group_number, c.plan_name,
                               {1: "primary", 2: "secondary"}.get(c.priority, "tertiary"),
                               "self" if c.subscriber_relationship == "self" else
                               f"{c.subscriber_name} ({c.subscriber_relationship}"
                               + (f", born {c.subscriber_dob.isoformat()}"
                                  if c.subscriber_dob else "") + ")",
                               "yes" if c.active else "no"] for c in p.coverages])
        names = {p.id: p.display_name}
        self.task_model.set_rows(page.open_tasks, names)
        events: list[tuple[datetime, list[str]]] = [
            (t.acted_at or t.updated_at or t.created_at or datetime.min.replace(tzinfo=timezone.utc),
             ["Task", t.title, t.state.value]) for t in page.closed_tasks]
        events += [(a.start_at, ["Appointment", f"{a.visit_type.replace('_', ' ')} with "
                                 f"{a.provider}", a.status]) for a in page.appointments]
        events.sort(key=lambda e: e[0], reverse=True)
        history = [[local_time(when), *rest] for when, rest in events]
        _fill(self.history, history)
        self.tabs.setTabText(1, f"Open tasks ({len(page.open_tasks)})")

    def on_changed(self, changes: Changes) -> None:
        # Only this patient's own tasks: reopening is an audited view, so not on every
        # change of unknown extent.
        if self.current_patient_id in changes.patient_ids:
            self.open_item(self.current_patient_id)

    def _open_task(self, index: QModelIndex) -> None:
        task_id = index.data(TASK_ID_ROLE)
        if task_id is not None:
            self.ctx.navigate("queue", int(task_id))

    def clear_phi(self) -> None:
        self.current_patient_id = None
        self.current_patient = None
        for button in self.record_buttons.values():
            button.setVisible(False)
        if self.form is not None:
            self.form.reject()
            self.form = None
        self.search.clear()
        self.results_model.clear()
        self.header.setText("Search for a patient.")
        self.demographics.clear()
        _fill(self.coverage, [])
        self.task_model.clear()
        _fill(self.history, [])
