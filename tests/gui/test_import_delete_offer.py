"""After a verified import the dialog offers to delete the source file (issue 12): "Delete
the file" deletes it through the service (which re-verifies the import and audits), "Keep
it" keeps it, and a file changed since the import is kept with the reason."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtWidgets import QMessageBox

from tests.unit.test_import_837 import CLAIMS, build_837


def _import_837(window: Any, path: Path) -> Any:
    window.show_page("patients")
    page = window.pages["patients"]
    page.import_button.click()
    dialog = page.import_dialog
    dialog.kind.setCurrentIndex(0)
    dialog.choose_files = lambda: [str(path)]
    dialog.browse()
    dialog.preview_button.click()
    dialog.import_button.click()
    assert dialog.status.text().startswith("Imported: "), dialog.status.text()
    return dialog


def _deletions(window: Any) -> int:
    return int(window.session.vault.query_one(
        "SELECT count(*) FROM audit_log WHERE action = 'import.source_deleted'")[0])


def _button(box: QMessageBox, text: str) -> Any:
    [button] = [b for b in box.buttons() if b.text() == text]
    return button


def test_delete_the_file_after_a_verified_import(open_window: Any, tmp_path: Path) -> None:
    window = open_window("olivia")
    path = tmp_path / "zzyzxquell_claims.837"
    path.write_bytes(build_837(CLAIMS))
    before = _deletions(window)
    dialog = _import_837(window, path)
    box = dialog.delete_box
    assert box is not None and box.isVisible()
    assert "zzyzxquell_claims.837" in box.text()
    assert {b.text() for b in box.buttons()} == {"Delete the file", "Keep it"}
    _button(box, "Delete the file").click()
    assert not path.exists()
    assert dialog.status.text().endswith("The imported file was deleted.")
    assert _deletions(window) == before + 1


def test_keep_it_keeps_the_file(open_window: Any, tmp_path: Path) -> None:
    window = open_window("olivia")
    path = tmp_path / "claims.837"
    path.write_bytes(build_837(CLAIMS))
    before = _deletions(window)
    dialog = _import_837(window, path)
    _button(dialog.delete_box, "Keep it").click()
    assert path.exists() and dialog.delete_box is None
    assert _deletions(window) == before


def test_a_file_changed_since_the_import_is_kept(open_window: Any, tmp_path: Path) -> None:
    window = open_window("olivia")
    path = tmp_path / "claims.837"
    path.write_bytes(build_837(CLAIMS))
    dialog = _import_837(window, path)
    path.write_bytes(build_837(CLAIMS[:1]))  # the billing system wrote a new one meanwhile
    _button(dialog.delete_box, "Delete the file").click()
    assert path.exists()
    assert "The file was kept: the file is not what was imported" in dialog.status.text()


def test_only_the_file_an_837_import_read_is_offered(open_window: Any, tmp_path: Path) -> None:
    """An 837 import reads the first file chosen: the second is neither named nor deleted."""
    window = open_window("olivia")
    first, second = tmp_path / "first.837", tmp_path / "second.837"
    first.write_bytes(build_837(CLAIMS))
    second.write_bytes(build_837(CLAIMS[:1]))
    window.show_page("patients")
    page = window.pages["patients"]
    page.import_button.click()
    dialog = page.import_dialog
    dialog.kind.setCurrentIndex(0)
    dialog.choose_files = lambda: [str(first), str(second)]
    dialog.browse()
    dialog.preview_button.click()
    dialog.import_button.click()
    assert "first.837" in dialog.delete_box.text()
    assert "second.837" not in dialog.delete_box.text()
    _button(dialog.delete_box, "Delete the file").click()
    assert not first.exists() and second.exists()
