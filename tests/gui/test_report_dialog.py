"""The owner's monthly report button on the dashboard: a save dialog, the PDF built on
the worker, the PHI appendix audited; other roles never see the button."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest


def test_owner_saves_the_monthly_report(qtbot: Any, open_window: Any, tmp_path: Path,
                                        bridge: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    window = open_window("olivia")
    window.show_page("dashboard")
    dash = window.pages["dashboard"]
    assert dash.report_button.isVisible()
    dash.report_button.click()
    dialog = dash.report_dialog
    assert dialog is not None and dialog.isVisible()
    assert dialog.month.count() == 12
    target = tmp_path / "report"
    monkeypatch.setattr(dialog, "choose_file", lambda suggested: str(target))
    dialog.phi.setChecked(True)
    dialog.save_button.click()
    saved = tmp_path / "report.pdf"
    assert saved.read_bytes().startswith(b"%PDF")
    assert dialog.status.text() == f"Saved to {saved}"
    assert bridge.history[-1].text == f"Monthly report saved to {saved}"
    row = window.session.vault.query_one("SELECT actor FROM audit_log WHERE action = "
                                         "'report.phi_export' ORDER BY id DESC")
    assert row[0] == "olivia"
    monkeypatch.setattr(dialog, "choose_file", lambda suggested: "")  # cancelled
    dialog.save_button.click()
    assert dialog.status.text() == f"Saved to {saved}"


def test_only_the_owner_sees_the_button(qtbot: Any, open_window: Any) -> None:
    window = open_window("manny")
    window.show_page("dashboard")
    assert not window.pages["dashboard"].report_button.isVisible()


def test_recent_months_are_the_complete_ones() -> None:
    from datetime import date

    from ui.desktop.report_dialog import recent_months
    assert recent_months(date(2026, 12, 1), 3) == [(2026, 11), (2026, 10), (2026, 9)]
    assert recent_months(date(2026, 1, 31), 2) == [(2025, 12), (2025, 11)]
