"""In-app notifications (the desktop shows them in the tray or the banner). They carry
task ids and kinds, never PHI."""

from __future__ import annotations

from typing import Any

from app import clock
from app.identity import Session
from app.vault.db import Connection


def notify(conn: Connection, message: str, *, role: str | None = None,
           username: str | None = None, task_id: int | None = None,
           level: str = "info") -> None:
    """Queue an in-app notification (the desktop shows it in the tray or a banner).
    Messages carry task ids and kinds, never PHI."""
    conn.execute("INSERT INTO notifications (ts, role, username, task_id, level, message) "
                 "VALUES (?,?,?,?,?,?)", (clock.iso(clock.now()), role, username, task_id, level,
                                          message))


def unread_notifications(session: Session) -> list[dict[str, Any]]:
    roles = [r.value for r in session.roles]
    rows = session.vault.query(
        f"SELECT id, ts, level, message, task_id FROM notifications WHERE read_at IS NULL AND "
        f"(username = ? OR role IN ({','.join('?' * len(roles))})) ORDER BY id",
        (session.username, *roles))
    return [{"id": r[0], "ts": r[1], "level": r[2], "message": r[3], "task_id": r[4]}
            for r in rows]


def mark_notifications_read(session: Session, ids: list[int]) -> None:
    """Only notifications addressed to this person (by name or role) can be marked: an id
    alone let anyone clear, say, the owner's critical notice before the owner saw it."""
    if not ids:
        return
    roles = [r.value for r in session.roles]
    with session.vault.write() as conn:
        conn.execute(f"UPDATE notifications SET read_at = ? WHERE id IN "
                     f"({','.join('?' * len(ids))}) AND (username = ? OR role IN "
                     f"({','.join('?' * len(roles))}))",
                     (clock.iso(clock.now()), *ids, session.username, *roles))
