"""The PA board: prior authorizations by status, each column sorted by decision due time
(overdue ones marked), and a "Check now" button that runs the PA follow-up workflow
against the payer portals in the background with progress in the status bar.

Calls: `app.services.prior_auth.pa_board` (role-checked, audited as a list) and
`automations.workflows.pa_followup.check_now` (the person's role is checked and audited;
the workflow then runs as the system and turns what it finds into tasks).
"""

from __future__ import annotations

from typing import Any, Callable

from PySide6.QtCore import Qt
from PySide6.QtGui import QBrush, QColor
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from app import clock
from app.domain.pa import PriorAuth
from app.identity import Session
from app.queue.changes import EVERYTHING, Changes
from app.queue.kinds import KINDS
from app.services import desktop_session, patients, prior_auth
from ui.desktop.models import local_time
from ui.desktop.pages import AppContext, Page

STATUS_TEXT = {"submitted": "Submitted", "pending": "Pending review",
               "info_requested": "Info requested", "not_found": "Not found at payer",
               "approved": "Approved", "partially_approved": "Partially approved",
               "denied": "Denied", "cancelled": "Cancelled", "expired": "Expired"}
PA_ID_ROLE = Qt.ItemDataRole.UserRole + 1


def _portal_source(session: Session) -> Any:
    """The production status source: payer portals through the recipe engine."""
    from automations.portal import PortalEngine
    from automations.workflows.pa_followup import PortalStatusSource
    engine = PortalEngine.from_settings(session)
    source = PortalStatusSource(engine)
    setattr(source, "close", engine.close)
    return source


def load_board(session: Session) -> tuple[list[prior_auth.BoardColumn], dict[int, str]]:
    columns = prior_auth.pa_board(session)
    ids = [p.patient_id for c in columns for p in c.items]
    return columns, desktop_session.patient_names(session, ids)


PA_KINDS = frozenset(k for k in KINDS if k.startswith("pa_"))

class PABoardPage(Page):
    title = "PA board"

    def __init__(self, ctx: AppContext, parent: QWidget | None = None,
                 source_factory: Callable[[Session], Any] = _portal_source) -> None:
        super().__init__(ctx, parent)
        self.source_factory = source_factory
        self.columns: dict[str, QListWidget] = {}
        self.check_button = QPushButton("Check now")
        self.check_button.setObjectName("checkNow")
        self.check_button.setToolTip("Check every open PA on the payer portals now")
        self.check_button.clicked.connect(self.check_now)
        self.check_button.setEnabled(ctx.session.can("pa.check"))
        self.summary = QLabel()
        top = QHBoxLayout()
        top.addWidget(self.summary, 1)
        self.edit_button = QPushButton("Edit or cancel PA…")
        self.edit_button.setObjectName("editPA")
        self.edit_button.setVisible(ctx.session.can("pa.manage"))
        self.edit_button.clicked.connect(self.edit_selected)
        self.selected_pa: int | None = None
        self.form: Any = None
        top.addWidget(self.edit_button)
        top.addWidget(self.check_button)
        self.board = QHBoxLayout()
        layout = QVBoxLayout(self)
        layout.setContentsMargins(8, 8, 8, 8)
        layout.addLayout(top)
        layout.addLayout(self.board, 1)
        self.last_summary: Any = None

    def refresh(self) -> None:
        session = self.ctx.session
        self.ctx.worker.run(lambda: load_board(session), done=self.show_board,
                            label="Loading PA board")

    def show_board(self, data: tuple[list[prior_auth.BoardColumn], dict[int, str]]) -> None:
        columns, names = data
        now = clock.now()
        total = overdue = 0
        for column in columns:
            key = column.status.value
            if key not in self.columns:
                box = QWidget()
                box_layout = QVBoxLayout(box)
                box_layout.setContentsMargins(0, 0, 0, 0)
                header = QLabel()
                header.setObjectName("sectionLabel")
                items = QListWidget()
                items.setObjectName("paColumn")
                items.setWordWrap(True)
                items.setSpacing(3)
                items.itemDoubleClicked.connect(self._open_patient)
                items.currentItemChanged.connect(self._selected)
                box_layout.addWidget(header)
                box_layout.addWidget(items, 1)
                self.board.addWidget(box, 1)
                self.columns[key] = items
                setattr(items, "header", header)
            items = self.columns[key]
            items.clear()
            getattr(items, "header").setText(
                f"{STATUS_TEXT.get(key, key)} ({len(column.items)})")
            for pa in column.items:
                late = pa.decision_due_at < now and not pa.decided
                total += 1
                overdue += late
                item = QListWidgetItem(self._item_text(pa, names, late))
                item.setData(PA_ID_ROLE, pa.id)
                item.setData(PA_ID_ROLE + 1, pa.patient_id)
                item.setBackground(QBrush(QColor("#fde2e1" if late else "#ffffff")))
                items.addItem(item)
        self.summary.setText(f"{total} open prior authorizations · {overdue} past the payer's "
                             "decision deadline")

    @staticmethod
    def _item_text(pa: PriorAuth, names: dict[int, str], late: bool) -> str:
        due = ("LATE · " if late else "due ") + local_time(pa.decision_due_at)
        checked = local_time(pa.last_checked_at) if pa.last_checked_at else "never"
        services = ", ".join(f"{ln.code}{'-' + ln.modifier if ln.modifier else ''} × "
                             f"{ln.units}" for ln in pa.services) or f"{pa.cpt_code} × {pa.units}"
        return (f"PA {pa.id} · {services}\n{names.get(pa.patient_id, '')}"
                f"\n{pa.payer_name} · {pa.urgency.value}\n{due} · checked {checked}")

    def check_now(self) -> None:
        session = self.ctx.session
        factory = self.source_factory
        self.check_button.setEnabled(False)
        self.check_button.setText("Checking…")

        def job(progress: Callable[[int, int], None]) -> Any:
            from automations.workflows.pa_followup import check_now
            source = factory(session)
            try:
                return check_now(session, source,
                                 progress=lambda done, total, _message: progress(done, total))
            finally:
                getattr(source, "close", lambda: None)()

        def finished(summary: Any) -> None:
            self.last_summary = summary
            self._reset_button()
            self.ctx.bridge.info(f"PA check: {summary.line()}")
            self.refresh()
            self.ctx.changes.announce(EVERYTHING, self)  # tasks made or closed: any kind

        self.ctx.worker.run(job, progress=True, done=finished,
                            failed=lambda _e: self._reset_button(), label="Checking PAs")

    def on_changed(self, changes: Changes) -> None:
        if self.isVisible() and changes.touches_kinds(PA_KINDS):
            self.refresh()

    def _reset_button(self) -> None:
        self.check_button.setEnabled(self.ctx.session.can("pa.check"))
        self.check_button.setText("Check now")

    def _selected(self, item: QListWidgetItem | None, _previous: Any) -> None:
        if item is not None:
            self.selected_pa = int(item.data(PA_ID_ROLE))

    def edit_selected(self) -> None:
        """Open the PA form on the selected card (its PA and patient loaded on the worker;
        both reads are audited views)."""
        if self.selected_pa is None:
            self.ctx.bridge.warning("Select a PA on the board first.")
            return
        session, pa_id = self.ctx.session, self.selected_pa

        def load() -> Any:
            pa = prior_auth.get_prior_auth(session, pa_id)
            return pa, patients.get_patient(session, pa.patient_id, purpose="pa edit")

        self.ctx.worker.run(load, done=self._open_form, label="Opening the PA")

    def _open_form(self, loaded: Any) -> None:
        from ui.desktop.entry_forms import PAForm
        pa, patient = loaded
        self.form = PAForm(self.ctx, patient, pa, self)
        self.form.saved.connect(lambda _r: self.refresh())
        self.form.show()

    def _open_patient(self, item: QListWidgetItem) -> None:
        patient_id = item.data(PA_ID_ROLE + 1)
        if patient_id is not None:
            self.ctx.navigate("patients", int(patient_id))

    def clear_phi(self) -> None:
        if self.form is not None:
            self.form.reject()
            self.form = None
        self.selected_pa = None
        for items in self.columns.values():
            items.clear()
        self.summary.clear()
