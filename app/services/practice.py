"""Practice details and settings."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from app import audit
from app.errors import ValidationError
from app.identity import Session, require
from app.settings import OPTIONS, coerce, decode

if TYPE_CHECKING:
    from app.reports.appeal_letter import Letterhead


def practice_info(session: Session) -> dict[str, Any]:
    row = session.vault.query_one("SELECT name, timezone FROM practice WHERE id = 1")
    return {"name": row[0], "timezone": row[1], "demo": session.vault.is_demo}


def letterhead(session: Session) -> Letterhead:
    """The practice's letterhead from its name and settings (no PHI: every role)."""
    from app.reports.appeal_letter import Letterhead  # reportlab: not at every login
    info = practice_info(session)
    address = str(get_setting(session, "practice_address")).replace(" | ", "\n")
    return Letterhead(str(info["name"]), address, str(get_setting(session, "practice_phone")),
                      str(get_setting(session, "practice_npi")),
                      str(get_setting(session, "practice_tin")))


def get_setting(session: Session, key: str) -> Any:
    if key not in OPTIONS:
        raise ValidationError(f"unknown setting {key!r}")
    row = session.vault.query_one("SELECT value FROM settings WHERE key = ?", (key,))
    return decode(key, None if row is None else row[0])


def all_settings(session: Session) -> dict[str, Any]:
    rows = dict(session.vault.query("SELECT key, value FROM settings"))
    return {k: decode(k, rows.get(k)) for k in OPTIONS}


def set_setting(session: Session, key: str, value: Any) -> Any:
    require(session, "settings.manage", key=key)
    typed = coerce(key, value)
    if key == "require_owner_mfa" and typed:
        missing = session.vault.query(
            "SELECT username FROM users WHERE active = 1 AND roles LIKE '%owner%' "
            "AND (totp_secret IS NULL OR totp_secret = '')")
        if missing:
            raise ValidationError("every owner must enrol TOTP before it can be required: "
                                  + ", ".join(r[0] for r in missing))
    before = get_setting(session, key)
    with session.vault.write() as conn:
        conn.execute("INSERT INTO settings (key, value) VALUES (?, ?) ON CONFLICT(key) "
                     "DO UPDATE SET value = excluded.value", (key, json.dumps(typed)))
        audit.record(session.vault, conn, session, "settings.update", "setting", key,
                     details={"before": before, "after": typed})
    return typed
