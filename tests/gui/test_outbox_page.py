"""The outbox page: queued, sent and failed messages with the reason; send now; retry;
the patients' replies beside the message they answer."""

from __future__ import annotations

import os
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest


@pytest.mark.expected_logs("outbox message .* failed")
def test_outbox_page_sends_and_retries(qtbot: Any, open_window: Any, tmp_path: Path,
                                       bridge: Any) -> None:
    from app import clock
    from app.domain.outreach import Channel
    from app.queue import create_task
    from app.services import patients
    from app.services.outreach import add_to_outbox
    from app.services.practice import set_setting
    from PySide6.QtWidgets import QHeaderView

    from ui.desktop.models import local_time
    clock.set_clock(lambda: datetime(2026, 11, 16, 15, 0, tzinfo=timezone.utc))
    window = open_window("olivia")
    session = window.session
    folder = tmp_path / "sms"
    folder.mkdir()
    set_setting(session, "sms_export_dir", str(folder))
    good, bad = [p.id for p in patients.list_patients(session)[:2]]
    patients.update_patient(session, good, phone="617-253-1000", sms_opt_out=False)
    patients.update_patient(session, bad, phone="555-0100", sms_opt_out=False)
    ids = []
    for n, (pid, phone) in enumerate(((good, "617-253-1000"), (bad, "555-0100"))):
        task, _ = create_task(session, "outreach", f"gui-outbox:{n}", "outreach")
        ids.append(add_to_outbox(session, task.id, pid, "no_show", Channel.SMS, phone,
                                 "See you soon. Reply STOP to opt out."))
    window.show_page("outbox")
    page = window.pages["outbox"]
    page.refresh()
    assert [r["status"] for r in page.rows] == ["ready", "ready"]
    page.send_button.click()
    assert bridge.history[-1].text == "Outbox: 1 sent, 1 failed, 0 cancelled, 0 held"
    status = {r["id"]: (r["status"], r["last_error"]) for r in page.rows}
    assert status[ids[0]] == ("sent", "")
    sent_at = next(r["sent_at"] for r in page.rows if r["id"] == ids[0])
    row = next(i for i, r in enumerate(page.rows) if r["id"] == ids[0])
    # the same local-time label as the queue (models.local_time), not a page's own format
    assert page.table.item(row, 5).text() == local_time(clock.parse_iso(sent_at))
    assert status[ids[1]][0] == "failed" and "area code" in status[ids[1]][1]
    failed_row = next(i for i, r in enumerate(page.rows) if r["id"] == ids[1])
    page.table.setCurrentCell(failed_row, 0)
    assert page.retry_button.isEnabled()
    page.retry_button.click()
    assert {r["id"]: r["status"] for r in page.rows}[ids[1]] == "ready"
    # The patient answers; the vendor's replies export lands in the replies folder.
    replies_dir = tmp_path / "replies"
    replies_dir.mkdir()
    set_setting(session, "sms_replies_dir", str(replies_dir))
    (replies_dir / "replies.csv").write_text(
        "from,message,received_at,reference\r\n"
        f"+16172531000,Can I come at 3 instead?,2026-11-16 10:05,offhold-outbox-{ids[0]}\r\n",
        encoding="utf-8")
    from automations.workflows.watched_folder import SETTLE_SECONDS
    settled = time.time() - 2 * SETTLE_SECONDS  # the export landed a while ago
    os.utime(replies_dir / "replies.csv", (settled, settled))
    page.replies_button.click()
    assert bridge.history[-1].text == ("Replies: 1 new, 0 booked, 0 declined, 0 opted out, "
                                       "1 for a person")
    sent_row = next(i for i, r in enumerate(page.rows) if r["id"] == ids[0])
    assert page.table.item(sent_row, 7).text().startswith("1: other (task ")
    page.table.setCurrentCell(sent_row, 0)
    assert page.reply_table.rowCount() == 1
    assert page.reply_table.item(0, 4).text() == "Can I come at 3 instead?"
    assert page.replies_label.text() == f"Replies to message {ids[0]}: 1"
    # the failure's reason and the reply's text get the room, not the message number
    stretch = QHeaderView.ResizeMode.Stretch
    assert [c for c in range(page.table.columnCount())
            if page.table.horizontalHeader().sectionResizeMode(c) == stretch] == [6]
    assert page.reply_table.horizontalHeader().sectionResizeMode(4) == stretch
    window.grab().save(str(tmp_path / "outbox.png"))
    page.clear_phi()
    assert page.table.rowCount() == 0 and page.reply_table.rowCount() == 0
