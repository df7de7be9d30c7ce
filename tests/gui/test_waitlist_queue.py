"""The waitlist in the desktop: the offer and then its held slot are ordinary tasks in the
queue, each worked with one click (approve sends the offer; approve again books it)."""

from __future__ import annotations

import random
from typing import Any


def test_offer_then_hold_booked_from_the_queue_page(open_window: Any) -> None:
    from automations.seeds import s70_schedule_recovery
    window = open_window("manny")
    session = window.session
    s70_schedule_recovery.seed(session, random.Random(3))
    page = window.pages["queue"]

    def task_of(kind: str) -> int:
        return int(session.vault.query_one(
            "SELECT id FROM tasks WHERE kind = ? AND state = 'pending'", (kind,))[0])

    offer = task_of("waitlist_offer")
    page.open_item(offer)
    assert page.current_task_id() == offer
    from PySide6.QtWidgets import QLabel
    assert any("Ranking:" in label.text()
               for label in page.detail.evidence_box.findChildren(QLabel))
    page.approve_current()
    hold = task_of("waitlist_hold")
    page.open_item(hold)
    assert page.current_task_id() == hold
    page.approve_current()
    booked = session.vault.query_one(
        "SELECT o.state, a.status FROM waitlist_offers o JOIN appointments a ON "
        "a.id = o.booked_appointment_id WHERE o.task_id = ?", (offer,))
    assert booked == ("accepted", "scheduled")
