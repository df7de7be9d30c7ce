"""The Portals settings tab: set a payer's portal log-in (the secret leaves the widget at
once and is never listed) and switch the portal off; front desk can only look."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt

from app.services import portal_credentials
from tests.gui.conftest import settings_tab, visible_texts


def test_manager_sets_a_portal_login(qtbot: Any, open_window: Any) -> None:
    window = open_window("manny")
    tab = settings_tab(window, "Portals")
    row = next(i for i, a in enumerate(tab.accounts) if a.recipe == "northwind")
    tab.table.setCurrentCell(row, 0)
    tab.url.setText("https://portal.northwind.example")
    tab.username.setText("maple-frontdesk")
    tab.password.setText("S3cret-portal-pass")
    qtbot.mouseClick(tab.save_button, Qt.MouseButton.LeftButton)
    assert tab.password.text() == ""
    account = portal_credentials.get_account(window.session, tab.accounts[row].payer_id)
    assert account.username == "maple-frontdesk" and account.has_password
    assert tab.table.item(row, 4).text() == "stored"
    assert not any("S3cret-portal-pass" in t for t in visible_texts())
    audit = window.session.vault.query("SELECT details FROM audit_log")
    assert not any("S3cret-portal-pass" in r[0] for r in audit)
    was_on = tab.accounts[row].enabled
    tab.table.setCurrentCell(row, 0)
    qtbot.mouseClick(tab.toggle_button, Qt.MouseButton.LeftButton)
    assert portal_credentials.get_account(window.session, account.payer_id).enabled is not was_on


def test_front_desk_can_only_look(qtbot: Any, open_window: Any) -> None:
    tab = settings_tab(open_window("frida"), "Portals")
    assert tab.table.rowCount() >= 5
    assert not tab.save_button.isEnabled() and not tab.password.isEnabled()
