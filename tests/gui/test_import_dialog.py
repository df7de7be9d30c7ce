"""The import dialog (issue 12): pick files, preview (for CSV the column each field is read
from, saved as a named mapping), skip bad rows, import with a progress bar; roles without
an import permission never see the button."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tests.unit.test_import_csv import ROSTER
from tests.unit.test_import_fhir import BUNDLES


def _dialog(window: Any) -> Any:
    window.show_page("patients")
    page = window.pages["patients"]
    assert page.import_button.isVisible()
    page.import_button.click()
    return page.import_dialog


def test_csv_roster_previewed_mapped_and_imported_skipping_a_bad_row(
        open_window: Any, tmp_path: Path) -> None:
    window = open_window("manny")
    dialog = _dialog(window)
    roster = tmp_path / "roster.csv"
    roster.write_bytes(ROSTER)
    dialog.kind.setCurrentIndex(2)
    assert dialog.fields.isVisible()
    dialog.choose_files = lambda: [str(roster)]
    dialog.browse()
    dialog.preview_button.click()
    assert dialog.headers[0] == "Chart Number"
    columns = {dialog.fields.item(r, 0).text(): dialog.fields.cellWidget(r, 1).currentText()
               for r in range(dialog.fields.rowCount())}
    assert columns["dob"] == "Date of Birth" and columns["email"] == "(not in this file)"
    dialog.preview_button.click()  # now as mapped: the bad date is named before importing
    assert "line 4: dob: not a date" in dialog.status.text()
    dialog.mapping.setCurrentText("acme roster")
    dialog.import_button.click()
    assert dialog.status.text().startswith("Nothing was imported") and "line 4" in \
        dialog.status.text()
    dialog.skip_bad.setChecked(True)
    dialog.import_button.click()
    assert dialog.status.text().startswith("Imported: 3 new, 0 updated, 0 unchanged; "
                                           "1 skipped: line 4")
    assert dialog.progress.value() == dialog.progress.maximum()
    q = window.session.vault.query_one
    details = json.loads(q("SELECT details FROM audit_log WHERE action = 'import.run' "
                           "ORDER BY id DESC")[0])
    assert details["skip_bad"] is True and details["skipped_positions"] == ["line 4"]
    assert q("SELECT target FROM import_mappings WHERE name = 'acme roster'")[0] == "patients"


def test_fhir_bundle_preview_and_import(open_window: Any) -> None:
    window = open_window("olivia")
    dialog = _dialog(window)
    dialog.kind.setCurrentIndex(1)
    assert not dialog.fields.isVisible()
    dialog.choose_files = lambda: [str(BUNDLES[0])]
    dialog.browse()
    dialog.preview_button.click()
    cells = [dialog.preview_table.item(r, 0).text()
             for r in range(dialog.preview_table.rowCount())]
    assert "Patient" in cells and "Claim (not imported)" in cells
    dialog.import_button.click()
    assert dialog.status.text().startswith("Imported: ") and "0 updated" in \
        dialog.status.text()


def test_front_desk_sees_no_import_button(open_window: Any) -> None:
    window = open_window("frida")
    window.show_page("patients")
    assert not window.pages["patients"].import_button.isVisible()


def test_importing_with_a_saved_mapping_keeps_its_source_and_date_format(
        open_window: Any, tmp_path: Path) -> None:
    from app.services import imports
    window = open_window("manny")
    imports.save_mapping(window.session, "acme roster", "patients", {
        "id": "Chart Number", "first_name": "Patient First Name",
        "last_name": "Patient Last Name", "dob": "Date of Birth"}, source="acme",
        date_format="%m/%d/%Y")
    dialog = _dialog(window)
    roster = tmp_path / "roster.csv"
    roster.write_bytes(ROSTER)
    dialog.kind.setCurrentIndex(2)
    dialog.choose_files = lambda: [str(roster)]
    dialog.browse()
    dialog.mapping.setCurrentText("acme roster")
    dialog.preview_button.click()
    dialog.skip_bad.setChecked(True)
    dialog.import_button.click()
    kept = imports.get_mapping(window.session, "acme roster")
    assert kept is not None and (kept.source, kept.date_format) == ("acme", "%m/%d/%Y")
