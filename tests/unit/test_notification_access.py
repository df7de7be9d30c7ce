"""A notification is marked read only by someone it is addressed to: before, any user
could clear any notification by id (the owner's critical notice included)."""

from __future__ import annotations

from pathlib import Path

from app.identity import Session, unlock
from app.queue.notifications import mark_notifications_read, notify, unread_notifications
from app.services import users


def test_only_its_addressees_mark_a_notification_read(owner_session: Session,
                                                      vault_dir: Path) -> None:
    with owner_session.vault.write() as conn:
        notify(conn, "model broken", role="owner", level="critical")
    [notice] = unread_notifications(owner_session)
    users.add_user(owner_session, "fran", "front-desk-pass-1", ["front_desk"])
    desk = unlock(vault_dir, "fran", "front-desk-pass-1")
    assert unread_notifications(desk) == []
    mark_notifications_read(desk, [notice["id"]])
    assert [n["id"] for n in unread_notifications(owner_session)] == [notice["id"]]
    mark_notifications_read(owner_session, [notice["id"]])
    assert unread_notifications(owner_session) == []
