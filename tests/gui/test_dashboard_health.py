"""Issue 10 #11: the dashboard shows the last vault integrity check (weekly, scheduled)."""

from __future__ import annotations

from typing import Any

import pytest

from app.services import vault_health


def test_dashboard_shows_the_last_integrity_check(qtbot: Any, open_window: Any) -> None:
    window = open_window("manny")
    window.show_page("dashboard")
    dash = window.pages["dashboard"]
    assert dash.health.text() == "Vault integrity: not checked yet (runs weekly)"
    vault_health.check_vault(window.session)
    window.show_page("queue")
    window.show_page("dashboard")
    dash.refresh()
    assert dash.health.text().startswith("Vault integrity: OK (checked ")
    assert dash.health.property("damaged") is False


@pytest.mark.expected_logs("audit triggers were missing and have been restored")
def test_repairs_at_open_are_shown_after_login(qtbot: Any, demo_vault: Any, worker: Any,
                                               bridge: Any) -> None:
    """Dropped audit triggers are recreated at open and the person is told (issue 10 #4)."""
    from app.vault.db import connect_raw, db_path
    from app.vault.keys import KeyEnvelope
    from automations.demo import demo_user_for_role
    from ui.desktop.main import AppController
    entry = demo_user_for_role("office_manager")
    key = KeyEnvelope.load(demo_vault / "vault.keys").unwrap_for_user(entry["user"],
                                                                      entry["password"])
    conn = connect_raw(db_path(demo_vault), key)
    conn.execute("DROP TRIGGER audit_no_delete")
    conn.close()
    controller = AppController(demo_vault, bridge, worker)
    dialog = controller.show_login(entry["user"], entry["password"])
    qtbot.addWidget(dialog)
    window = controller.window
    assert window is not None
    qtbot.addWidget(window)
    assert any("append-only triggers were missing" in t for t in bridge.texts("warning"))
    window.logout()
    assert controller.login is not None
    qtbot.addWidget(controller.login)
    controller.login.close()
