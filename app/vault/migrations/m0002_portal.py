"""Payer portal log-ins: URL, user name, password and TOTP seed, one row per payer.
Secrets live only here, inside the encrypted vault."""

from typing import Any

VERSION = 2

SQL = """
CREATE TABLE portal_credentials (
    payer_id INTEGER PRIMARY KEY REFERENCES payers(id),
    url TEXT NOT NULL DEFAULT '',
    username TEXT NOT NULL,
    password TEXT NOT NULL,
    totp_seed TEXT NOT NULL DEFAULT '',
    updated_at TEXT NOT NULL,
    updated_by TEXT NOT NULL
)
"""


def apply(conn: Any) -> None:
    conn.execute(SQL)
