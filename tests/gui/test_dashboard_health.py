"""Issue 10 #11: the dashboard shows the last vault integrity check (weekly, scheduled)."""

from __future__ import annotations

from typing import Any

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
