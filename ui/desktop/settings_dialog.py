"""The settings dialog: the practice and auto-lock, users and roles (owner only), and
the action mode per task kind with its trust figures alongside. Every change is one
service call (role-checked and audited there) run by the worker.

Extra tabs (Models, Portals) are declared in `SETTINGS_TABS` (ui/desktop/extensions.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QPushButton,
    QSpinBox,
    QTableWidget,
    QTableWidgetItem,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from app import queue
from app.domain import ActionMode
from app.identity import Session
from app.identity.permissions import Role
from app.queue.changes import Changes
from app.queue.kinds import KINDS
from app.reports.trust import TrustFigures, trust_figures
from app.services import practice, users
from ui.desktop.extensions import SETTINGS_TABS, load
from ui.desktop.models import kind_label
from ui.desktop.pages import AppContext


MODES = ("shadow", "approve_each", "automatic")
MODE_TEXT = {"shadow": "Shadow (drafts only)", "approve_each": "Approve each",
             "automatic": "Automatic"}


LETTERHEAD_FIELDS = (
    ("practice_address", "Letter address", "12 Elm Street | Springfield, IL 62701"),
    ("practice_phone", "Letter phone", "(217) 555-0142"),
    ("practice_npi", "NPI", "10 digits"),
    ("practice_tin", "Tax ID (TIN)", "12-3456789"),
)


@dataclass
class SettingsData:
    practice: dict[str, Any]
    auto_lock_minutes: int
    modes: dict[str, str]
    trust: dict[str, TrustFigures]
    users: list[dict[str, Any]] | None


def load_settings(session: Session) -> SettingsData:
    user_rows = users.list_users(session) if session.can("user.manage") else None
    return SettingsData(practice.practice_info(session),
                        int(practice.get_setting(session, "auto_lock_minutes")),
                        {k: m.value for k, m in queue.all_modes(session).items()},
                        trust_figures(session), user_rows)


def _pct(value: float | None) -> str:
    return "–" if value is None else f"{value * 100:.0f}%"


class SettingsDialog(QDialog):
    auto_lock_changed = Signal(int)

    def __init__(self, ctx: AppContext, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.ctx = ctx
        self.setWindowTitle("OffHold — settings")
        self.setObjectName("settingsDialog")
        self.resize(860, 560)
        session = ctx.session
        self.tabs = QTabWidget()

        # practice
        practice_tab = QWidget()
        form = QFormLayout(practice_tab)
        self.practice_name = QLabel()
        self.timezone = QLabel()
        self.auto_lock = QSpinBox()
        self.auto_lock.setObjectName("autoLockMinutes")
        self.auto_lock.setRange(1, 240)
        self.auto_lock.setSuffix(" min")
        self.auto_lock.setEnabled(session.can("settings.manage"))
        self.save_lock = QPushButton("Save")
        self.save_lock.setEnabled(session.can("settings.manage"))
        self.save_lock.clicked.connect(self.save_auto_lock)
        lock_row = QHBoxLayout()
        lock_row.addWidget(self.auto_lock)
        lock_row.addWidget(self.save_lock)
        lock_row.addStretch(1)
        form.addRow("Practice", self.practice_name)
        form.addRow("Time zone", self.timezone)
        form.addRow("Lock after idle", lock_row)
        # The letterhead of appeal and corrected-claim letters.
        self.letterhead_edits: dict[str, QLineEdit] = {}
        for key, label, hint in LETTERHEAD_FIELDS:
            edit = QLineEdit()
            edit.setObjectName(key)
            edit.setPlaceholderText(hint)
            edit.setEnabled(session.can("settings.manage"))
            self.letterhead_edits[key] = edit
            form.addRow(label, edit)
        self.save_letterhead_button = QPushButton("Save letterhead")
        self.save_letterhead_button.setEnabled(session.can("settings.manage"))
        self.save_letterhead_button.clicked.connect(self.save_letterhead)
        form.addRow("", self.save_letterhead_button)
        if not session.can("settings.manage"):
            form.addRow(QLabel("Only the owner can change practice settings."))
        self.tabs.addTab(practice_tab, "Practice")

        # action modes with trust figures
        self.modes_table = QTableWidget(0, 7)
        self.modes_table.setObjectName("modesTable")
        self.modes_table.setHorizontalHeaderLabels(
            ["Kind", "Mode", "Decided", "Approved", "Edited", "Edit size", "Median min"])
        self.modes_table.verticalHeader().hide()
        self.modes_table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        header = self.modes_table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        self.mode_boxes: dict[str, QComboBox] = {}
        modes_tab = QWidget()
        modes_layout = QVBoxLayout(modes_tab)
        modes_layout.addWidget(QLabel(
            "Every kind starts in shadow mode. Move a kind on when its trust figures are good;"
            " kinds touching clinical content or billing codes can never be automatic."))
        modes_layout.addWidget(self.modes_table)
        self.tabs.addTab(modes_tab, "Action modes")

        # users (owner)
        self.users_table: QTableWidget | None = None
        if session.can("user.manage"):
            self.tabs.addTab(self._users_tab(), "Users")

        for tab in SETTINGS_TABS:
            if tab.permission is None or session.can(tab.permission):
                self.tabs.addTab(load(tab.factory)(ctx), tab.title)

        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(self.tabs)
        layout.addWidget(buttons)
        self.reload()

    def _users_tab(self) -> QWidget:
        tab = QWidget()
        layout = QVBoxLayout(tab)
        table = QTableWidget(0, 4)
        table.setObjectName("usersTable")
        table.setHorizontalHeaderLabels(["User", "Roles", "TOTP", "Active"])
        table.verticalHeader().hide()
        table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        table.currentCellChanged.connect(lambda *_: self._user_selected())
        self.users_table = table
        layout.addWidget(table, 1)
        self.role_checks = {r: QCheckBox(r.value.replace("_", " ")) for r in Role}
        roles_row = QHBoxLayout()
        roles_row.addWidget(QLabel("Roles:"))
        for box in self.role_checks.values():
            roles_row.addWidget(box)
        self.set_roles_button = QPushButton("Set roles of selected")
        self.set_roles_button.clicked.connect(self.set_roles)
        self.unlock_user_button = QPushButton("Clear lockout")
        self.unlock_user_button.clicked.connect(self.clear_lockout)
        roles_row.addWidget(self.set_roles_button)
        roles_row.addWidget(self.unlock_user_button)
        roles_row.addStretch(1)
        layout.addLayout(roles_row)
        add_row = QHBoxLayout()
        self.new_user = QLineEdit()
        self.new_user.setPlaceholderText("new user name")
        self.new_password = QLineEdit()
        self.new_password.setPlaceholderText("initial password (8+ characters)")
        self.new_password.setEchoMode(QLineEdit.EchoMode.Password)
        add_button = QPushButton("Add user with the roles ticked")
        add_button.clicked.connect(self.add_user)
        add_row.addWidget(self.new_user)
        add_row.addWidget(self.new_password)
        add_row.addWidget(add_button)
        layout.addLayout(add_row)
        return tab

    # -- loading
    def reload(self) -> None:
        session = self.ctx.session
        self.ctx.worker.run(lambda: load_settings(session), done=self.show_data,
                            label="Loading settings")
        self.ctx.worker.run(lambda: {k: practice.get_setting(session, k)
                                     for k, _l, _h in LETTERHEAD_FIELDS},
                            done=self.show_letterhead, label="Loading settings", phi=False)

    def show_letterhead(self, values: dict[str, Any]) -> None:
        for key, edit in self.letterhead_edits.items():
            edit.setText(str(values.get(key, "")))

    def save_letterhead(self) -> None:
        session = self.ctx.session
        values = {k: e.text().strip() for k, e in self.letterhead_edits.items()}

        def job() -> None:
            for key, value in values.items():  # each change audited by the service
                if practice.get_setting(session, key) != value:
                    practice.set_setting(session, key, value)

        self.ctx.worker.run(job, done=lambda _r: self.ctx.bridge.info(
            "Letterhead saved: new letters carry it."), label="Saving letterhead", phi=False)

    def show_data(self, data: SettingsData) -> None:
        self.practice_name.setText(data.practice["name"])
        self.timezone.setText(data.practice["timezone"])
        self.auto_lock.setValue(data.auto_lock_minutes)
        can_set = self.ctx.session.can("mode.set")
        self.modes_table.setRowCount(len(KINDS))
        self.mode_boxes = {}
        for row, (name, spec) in enumerate(KINDS.items()):
            t = data.trust.get(name)
            box = QComboBox()
            for mode in MODES:
                box.addItem(MODE_TEXT[mode], mode)
            if not spec.automatic_allowed:
                item = box.model().item(MODES.index("automatic"))  # type: ignore[attr-defined]
                item.setEnabled(False)
                item.setToolTip(f"never automatic: it {spec.reason_no_auto}")
            box.setCurrentIndex(MODES.index(data.modes.get(name, "shadow")))
            box.setEnabled(can_set)
            box.currentIndexChanged.connect(lambda _i, k=name, b=box: self.set_mode(k, b))
            self.mode_boxes[name] = box
            values = [kind_label(name), None, str(t.decided if t else 0),
                      _pct(t.approval_rate if t else None), _pct(t.edit_rate if t else None),
                      _pct(t.mean_edit_size if t else None),
                      "–" if not t or t.median_minutes_to_action is None
                      else f"{t.median_minutes_to_action:.0f}"]
            for col, value in enumerate(values):
                if value is None:
                    self.modes_table.setCellWidget(row, col, box)
                else:
                    item = QTableWidgetItem(value)
                    if col:
                        item.setTextAlignment(Qt.AlignmentFlag.AlignCenter)
                    self.modes_table.setItem(row, col, item)
        if self.users_table is not None and data.users is not None:
            self.users_table.setRowCount(len(data.users))
            for row, u in enumerate(data.users):
                for col, value in enumerate([u["user"], ", ".join(u["roles"]),
                                             "yes" if u["mfa"] else "no",
                                             "yes" if u["active"] else "no"]):
                    self.users_table.setItem(row, col, QTableWidgetItem(value))

    # -- changes
    def save_auto_lock(self) -> None:
        minutes = self.auto_lock.value()
        session = self.ctx.session

        def saved(value: Any) -> None:
            self.ctx.bridge.info(f"The app now locks after {value} idle minutes.")
            self.auto_lock_changed.emit(int(value))

        self.ctx.worker.run(lambda: practice.set_setting(session, "auto_lock_minutes", minutes),
                            done=saved, label="Saving setting", phi=False)

    def set_mode(self, kind_name: str, box: QComboBox) -> None:
        mode = str(box.currentData())
        session = self.ctx.session

        def changed(new: ActionMode) -> None:
            self.ctx.bridge.info(
                f"{kind_label(kind_name)} is now in {new.value.replace('_', ' ')} mode.")
            # shadow drafts of the kind may have become pending work
            self.ctx.changes.announce(Changes(kinds=frozenset({kind_name})), self)

        self.ctx.worker.run(lambda: queue.set_mode(session, kind_name, mode), done=changed,
                            failed=lambda _exc: self.reload(), label="Changing mode", phi=False)

    def _selected_user(self) -> str | None:
        if self.users_table is None or self.users_table.currentRow() < 0:
            return None
        item = self.users_table.item(self.users_table.currentRow(), 0)
        return item.text() if item else None

    def _user_selected(self) -> None:
        if self.users_table is None:
            return
        row = self.users_table.currentRow()
        roles_item = self.users_table.item(row, 1) if row >= 0 else None
        roles = roles_item.text().split(", ") if roles_item else []
        for role, box in self.role_checks.items():
            box.setChecked(role.value in roles)

    def _ticked(self) -> list[str]:
        return [r.value for r, box in self.role_checks.items() if box.isChecked()]

    def set_roles(self) -> None:
        user = self._selected_user()
        if user is None:
            self.ctx.bridge.warning("Select a user first.")
            return
        roles = self._ticked()
        session = self.ctx.session
        self.ctx.worker.run(lambda: users.set_roles(session, user, roles),
                            done=lambda _r: self.reload(), label="Saving roles", phi=False)

    def clear_lockout(self) -> None:
        user = self._selected_user()
        if user is None:
            self.ctx.bridge.warning("Select a user first.")
            return
        session = self.ctx.session
        self.ctx.worker.run(lambda: users.unlock_user(session, user),
                            done=lambda _r: self.ctx.bridge.info(f"{user} may log in again."),
                            label="Clearing lockout", phi=False)

    def add_user(self) -> None:
        name, password, roles = self.new_user.text().strip(), self.new_password.text(), \
            self._ticked()
        session = self.ctx.session

        def added(_result: Any) -> None:
            self.new_user.clear()
            self.new_password.clear()
            self.ctx.bridge.info(f"User {name} added.")
            self.reload()

        self.ctx.worker.run(lambda: users.add_user(session, name, password, roles), done=added,
                            label="Adding user", phi=False)
