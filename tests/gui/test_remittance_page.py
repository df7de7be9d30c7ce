"""The remittances page: importing a real 835 from the corpus through the workflow in
the background, then the remittance with its claims; a missing file is a clear message."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import Qt

CORPUS = Path("/work/shared/corpus/x12/835")


def _an_835() -> Path:
    path = CORPUS / "stupidedi__era-sample.edi"  # a real sample 835
    if not path.is_file():
        pytest.skip("the shared corpus is not on this machine")
    return path


def test_import_an_835_and_open_it(qtbot: Any, open_window: Any) -> None:
    window = open_window("billie")
    window.show_page("remittances")
    page = window.pages["remittances"]
    page.path.setText(str(_an_835()))
    qtbot.mouseClick(page.import_button, Qt.MouseButton.LeftButton)
    assert not window.bridge.texts("error"), window.bridge.texts("error")
    assert any(t.startswith("Imported a 835") for t in window.bridge.texts("info"))
    assert page.list.rowCount() >= 1
    page.list.setCurrentCell(0, 0)
    assert page.claims.rowCount() >= 1
    assert "trace" in page.header.text()


def test_a_missing_file_is_a_clear_message(qtbot: Any, open_window: Any,
                                           tmp_path: Path) -> None:
    window = open_window("olivia")
    window.show_page("remittances")
    page = window.pages["remittances"]
    page.path.setText(str(tmp_path / "nope.835"))
    qtbot.mouseClick(page.import_button, Qt.MouseButton.LeftButton)
    assert window.bridge.texts("error") == ["cannot read nope.835: No such file or directory"]
    assert window.banner.isVisible()


def test_front_desk_has_no_remittances(qtbot: Any, open_window: Any) -> None:
    assert "remittances" not in open_window("frida").page_actions
