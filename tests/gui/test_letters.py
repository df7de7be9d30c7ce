"""A denial's letter and its remittance details in the app: the claim's adjustment
groups side by side (line-level marked), the letter previewed from memory, saved through
the audited export and printed (audited), with the practice letterhead on it."""

from __future__ import annotations

import io
from datetime import date, timedelta
from decimal import Decimal as D
from pathlib import Path
from typing import Any

from pypdf import PdfReader
from PySide6.QtCore import Qt
from PySide6.QtPrintSupport import QPrinter
from PySide6.QtWidgets import QPushButton

from app.x12.synth import SynthClaim, SynthLine, build_835


def _era(tmp_path: Path) -> Path:
    paid = date.today() - timedelta(days=3)
    claim = SynthClaim("LTR1", "1", "ZZYZXQUELL", "QUINTESSA", "ZQM4455667",
                       paid - timedelta(days=20), [
                           SynthLine("99213", D("150.00"), D("90.00"),
                                     [("CO", "45", D("40.00")), ("PR", "3", D("20.00"))]),
                           SynthLine("36415", D("25.00"), D("0.00"),
                                     [("CO", "50", D("25.00"))], ["N115"])],
                       payer_claim_number="PCNLTR1")
    path = tmp_path / "letters.835"
    path.write_bytes(build_835([claim], payer_name="Letter Test Health", payer_id="LTH",
                               trace="LTR-T1", paid_on=paid))
    return path


def _open_claim(qtbot: Any, window: Any, tmp_path: Path) -> Any:
    window.show_page("remittances")
    page = window.pages["remittances"]
    page.path.setText(str(_era(tmp_path)))
    qtbot.mouseClick(page.import_button, Qt.MouseButton.LeftButton)
    assert not window.bridge.texts("error"), window.bridge.texts("error")
    row = next(i for i, r in enumerate(page.remits) if r["trace_number"] == "LTR-T1")
    page.list.setCurrentCell(row, 0)
    page.claims.setCurrentCell(0, 0)
    return page


def test_claim_groups_and_the_letter(qtbot: Any, open_window: Any, tmp_path: Path) -> None:
    window = open_window("billie")
    page = _open_claim(qtbot, window, tmp_path)
    assert page.claims.item(0, 5).text() == "Line-level denial"
    assert page.claims.item(0, 4).text() == "$20.00"
    groups = [page.groups.topLevelItem(i) for i in range(page.groups.topLevelItemCount())]
    assert [g.text(0) for g in groups] == ["Contractual Obligations (CO)",
                                           "Patient Responsibility (PR)"]
    co = {groups[0].child(i).text(0): groups[0].child(i).text(2)
          for i in range(groups[0].childCount())}
    assert co == {"CO-45": "line 99213", "CO-50": "line 36415"}
    assert "patient responsibility $20.00" in page.claim_header.text()
    assert page.letter_button.isEnabled()
    qtbot.mouseClick(page.letter_button, Qt.MouseButton.LeftButton)
    dialog = page.letter_dialog
    assert dialog.document.pageCount() >= 1 and dialog.save_button.isEnabled()
    out = tmp_path / "saved.pdf"
    dialog.save_to(str(out))
    text = "".join(p.extract_text() for p in PdfReader(io.BytesIO(out.read_bytes())).pages)
    assert window.ctx.session.vault.query_one(
        "SELECT name FROM practice")[0] in text  # the letterhead
    assert "CO-50" in text and "CO-45" not in text.split("We do not dispute")[0]
    printer = QPrinter(QPrinter.PrinterMode.ScreenResolution)
    printer.setOutputFormat(QPrinter.OutputFormat.PdfFormat)
    printer.setOutputFileName(str(tmp_path / "printed.pdf"))
    assert dialog.print_to(printer) == dialog.document.pageCount()
    actions = [r[0] for r in window.ctx.session.vault.query(
        "SELECT action FROM audit_log WHERE action LIKE 'denial.letter_%' ORDER BY id")]
    assert actions == ["denial.letter_view", "denial.letter_export", "denial.letter_print"]
    dialog.reject()


def test_owner_sets_the_letterhead_in_settings(qtbot: Any, open_window: Any) -> None:
    from app.services import practice
    window = open_window("olivia")
    window.open_settings()
    dialog = window.settings_dialog
    edits = dialog.letterhead_edits
    edits["practice_address"].setText("12 Elm Street | Springfield, IL 62701")
    edits["practice_tin"].setText("12-3456789")
    qtbot.mouseClick(dialog.save_letterhead_button, Qt.MouseButton.LeftButton)
    head = practice.letterhead(window.ctx.session)
    assert head.address == "12 Elm Street\nSpringfield, IL 62701" and head.tin == "12-3456789"
    assert "Letterhead saved: new letters carry it." in window.bridge.texts("info")
    dialog.reject()


def test_the_letter_opens_from_the_denial_task(qtbot: Any, open_window: Any,
                                               tmp_path: Path) -> None:
    window = open_window("billie")
    _open_claim(qtbot, window, tmp_path)
    window.show_page("queue")
    page = window.pages["queue"]
    task_id = window.ctx.session.vault.query_one(
        "SELECT task_id FROM remit_claims WHERE claim_number = 'LTR1'")[0]
    page.select_row(page._proxy_row_of(task_id))
    button = page.detail.evidence_box.findChild(QPushButton, "openLetter")
    assert button is not None
    qtbot.mouseClick(button, Qt.MouseButton.LeftButton)
    assert page.letter_dialog.document.pageCount() >= 1
    window.lock("manual")  # the open letter is closed with the other PHI
    assert page.letter_dialog.document.pageCount() == 0


def test_no_letter_button_for_a_user_who_cannot_open_it(qtbot: Any, open_window: Any,
                                                        tmp_path: Path) -> None:
    """The office manager works denial tasks but lacks claim.manage: she is not shown a
    button whose only answer would be a refusal."""
    biller = open_window("billie")
    _open_claim(qtbot, biller, tmp_path)  # imports the 835 that makes the denial task
    task_id = biller.ctx.session.vault.query_one(
        "SELECT task_id FROM remit_claims WHERE claim_number = 'LTR1'")[0]
    manager = open_window("manny")
    manager.show_page("queue")
    page = manager.pages["queue"]
    page.select_row(page._proxy_row_of(task_id))
    assert page.detail.task is not None and page.detail.task.id == task_id
    assert page.detail.evidence_box.findChild(QPushButton, "openLetter") is None
