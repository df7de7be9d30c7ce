"""The "Portals" settings tab: each payer's portal switch and log-in (user name, URL,
whether a password and a TOTP seed are stored; never the secrets themselves), and a form
to set them. Calls app.services.portal_credentials (portal.configure; audited without
secrets)."""

from __future__ import annotations

from typing import Any

from PySide6.QtWidgets import (
    QAbstractItemView,
    QFormLayout,
    QHBoxLayout,
    QHeaderView,
    QLineEdit,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from app.domain.portal import PortalAccount
from app.services import portal_credentials
from ui.desktop.pages import AppContext


class PortalsTab(QWidget):
    def __init__(self, ctx: AppContext) -> None:
        super().__init__()
        self.ctx = ctx
        self.setObjectName("portalsTab")
        self.accounts: list[PortalAccount] = []
        manage = ctx.session.can("portal.configure")
        self.table = QTableWidget(0, 6)
        self.table.setObjectName("portalsTable")
        self.table.setHorizontalHeaderLabels(["Payer", "Recipe", "On", "Portal user",
                                              "Password", "TOTP"])
        self.table.verticalHeader().hide()
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self.table.currentCellChanged.connect(lambda row, *_: self._selected(row))
        self.url = QLineEdit()
        self.url.setPlaceholderText("https://portal.example-payer.com")
        self.username = QLineEdit()
        self.password = QLineEdit()
        self.password.setEchoMode(QLineEdit.EchoMode.Password)
        self.password.setPlaceholderText("stored encrypted in the vault; never shown again")
        self.totp = QLineEdit()
        self.totp.setEchoMode(QLineEdit.EchoMode.Password)
        self.totp.setPlaceholderText("TOTP seed (optional; empty keeps the stored one)")
        form = QFormLayout()
        # The address is the payer's (Payers tab too): shown and set here with the log-in.
        self.url.setToolTip("The payer's portal address; the log-in is typed on this site only")
        form.addRow("Payer's portal URL", self.url)
        form.addRow("User name", self.username)
        form.addRow("Password", self.password)
        form.addRow("TOTP seed", self.totp)
        self.save_button = QPushButton("Save log-in")
        self.save_button.clicked.connect(self.save)
        self.toggle_button = QPushButton("Turn portal on/off")
        self.toggle_button.clicked.connect(self.toggle)
        buttons = QHBoxLayout()
        buttons.addWidget(self.save_button)
        buttons.addWidget(self.toggle_button)
        buttons.addStretch(1)
        for widget in (self.url, self.username, self.password, self.totp, self.save_button,
                       self.toggle_button):
            widget.setEnabled(manage)
        layout = QVBoxLayout(self)
        layout.addWidget(self.table, 1)
        layout.addLayout(form)
        layout.addLayout(buttons)
        self.reload()

    def reload(self) -> None:
        session = self.ctx.session
        self.ctx.worker.run(lambda: portal_credentials.list_accounts(session),
                            done=self.show_accounts, label="Loading portals", phi=False)

    def show_accounts(self, accounts: list[PortalAccount]) -> None:
        self.accounts = accounts
        self.table.setRowCount(len(accounts))
        for row, a in enumerate(accounts):
            values = [a.payer_name, a.recipe or "(none)", "on" if a.enabled else "off",
                      a.username or "-", "stored" if a.has_password else "-",
                      "stored" if a.has_totp else "-"]
            for col, value in enumerate(values):
                self.table.setItem(row, col, QTableWidgetItem(value))

    def current(self) -> PortalAccount | None:
        row = self.table.currentRow()
        return self.accounts[row] if 0 <= row < len(self.accounts) else None

    def _selected(self, row: int) -> None:
        account = self.accounts[row] if 0 <= row < len(self.accounts) else None
        self.url.setText(account.url if account else "")
        self.username.setText(account.username if account else "")
        self.password.clear()
        self.totp.clear()

    def save(self) -> None:
        account = self.current()
        if account is None:
            self.ctx.bridge.warning("Select a payer first.")
            return
        session = self.ctx.session
        url, user, password = self.url.text(), self.username.text(), self.password.text()
        seed = self.totp.text().strip() or None
        self.password.clear()  # the secret leaves the widget at once
        self.totp.clear()

        def done(_result: Any) -> None:
            self.ctx.bridge.info(f"Portal log-in saved for {account.payer_name}.")
            self.reload()

        self.ctx.worker.run(lambda: portal_credentials.set_credentials(
            session, account.payer_id, url=url, username=user, password=password,
            totp_seed=seed), done=done, label="Saving portal log-in", phi=False)

    def toggle(self) -> None:
        account = self.current()
        if account is None:
            self.ctx.bridge.warning("Select a payer first.")
            return
        session = self.ctx.session
        self.ctx.worker.run(lambda: portal_credentials.set_enabled(
            session, account.payer_id, not account.enabled),
            done=lambda _p: self.reload(), label="Switching portal", phi=False)
