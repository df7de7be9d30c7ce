"""The Models settings tab: the bundled model listed with its pinned hash, chosen as the
default, and its file re-verified; managing models is for the owner only."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt

from app.services import models as model_service
from tests.gui.conftest import settings_tab


def test_owner_lists_verifies_and_chooses_the_model(qtbot: Any, open_window: Any) -> None:
    window = open_window("olivia")
    tab = settings_tab(window, "Models")
    assert tab.table.rowCount() >= 1
    bundled = next(m for m in tab.models if m.bundled)
    assert "(bundled)" in tab.table.item(0, 0).text()
    assert tab.table.item(0, 4).text() == bundled.sha256[:16] + "…"
    qtbot.mouseClick(tab.verify_button, Qt.MouseButton.LeftButton)
    assert tab.status.text() == ("Every model file matches its pinned SHA-256 and passed "
                                 "its self-test.")
    assert tab.table.item(0, 1).text().startswith("healthy (")
    tab.default_box.setCurrentText(bundled.name)
    qtbot.mouseClick(tab.use_button, Qt.MouseButton.LeftButton)
    assert model_service.active_model(window.session, "outreach").name == bundled.name
    assert model_service.DEFAULT_KIND in tab.table.item(0, 6).text()


def test_front_desk_sees_models_but_cannot_change_them(qtbot: Any, open_window: Any) -> None:
    window = open_window("frida")
    tab = settings_tab(window, "Models")
    assert tab.table.rowCount() >= 1
    assert not tab.use_button.isEnabled() and not tab.verify_button.isEnabled()
    assert not tab.import_button.isEnabled()
