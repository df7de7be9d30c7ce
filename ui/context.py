"""What a command needs (`Context`), and the CLI's usage error, in a module of their own so
that ui/commands/* import them without importing ui/cli.py (which imports the commands)."""

from __future__ import annotations

import argparse
import getpass
import json
import os
import sys
from datetime import date
from pathlib import Path
from typing import Any

from platformdirs import user_data_dir


class UsageError(Exception):
    pass


def iso_day(text: str | None, what: str = "a date") -> date | None:
    """A YYYY-MM-DD option's value (None when not given); a UsageError names the option."""
    if not text:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError as exc:
        raise UsageError(f"{what} takes a date as YYYY-MM-DD, not {text!r}") from exc


def one_line(text: str) -> str:
    """A message safe for a terminal on one line: control bytes (escape sequences, CR, LF,
    from a file name or a field) are shown escaped, never interpreted."""
    return "".join(ch if ch.isprintable() else ch.encode("unicode_escape").decode("ascii")
                   for ch in text)


class Context:
    """What a command needs: the vault dir, the user, the password, and output helpers."""

    def __init__(self, args: argparse.Namespace, stdin: Any = None) -> None:
        self.args = args
        self.stdin = stdin or sys.stdin
        self._password: str | None = None
        self._session: Any = None

    @property
    def vault_dir(self) -> Path:
        chosen = getattr(self.args, "vault", None) or os.environ.get("OFFHOLD_VAULT")
        return Path(chosen) if chosen else Path(user_data_dir("OffHold", "OffHold")) / "vault"

    @property
    def user(self) -> str:
        user = getattr(self.args, "user", None) or os.environ.get("OFFHOLD_USER")
        if not user:
            raise UsageError("say who is acting: --user USER or OFFHOLD_USER")
        return str(user)

    def password(self, prompt: str = "Password: ") -> str:
        if self._password is not None:
            return self._password
        if getattr(self.args, "password_stdin", False):
            self._password = self.stdin.readline().rstrip("\r\n")
        elif os.environ.get("OFFHOLD_PASSWORD"):
            self._password = os.environ["OFFHOLD_PASSWORD"]
        elif sys.stdin.isatty():
            self._password = getpass.getpass(prompt)
        else:
            raise UsageError("no password: set OFFHOLD_PASSWORD or use --password-stdin")
        return self._password

    def session(self) -> Any:
        """Log in as the acting user (TOTP from OFFHOLD_TOTP when enrolled)."""
        if self._session is None:
            from app.identity import unlock
            self._session = unlock(self.vault_dir, self.user, self.password(),
                                   os.environ.get("OFFHOLD_TOTP") or None)
            for warning in self._session.vault.warnings:  # repairs made at open
                self.say(f"offhold: warning: {warning}")
        return self._session

    @property
    def json(self) -> bool:
        return bool(getattr(self.args, "json", False))

    def emit(self, data: Any, text: str | None = None) -> None:
        """Data to stdout: JSON with --json, else the human text (or pretty JSON)."""
        if self.json or text is None:
            print(json.dumps(data, indent=None if self.json else 2, default=str))
        else:
            print(text)

    def say(self, message: str) -> None:
        print(message, file=sys.stderr)

    def close(self) -> None:
        if self._session is not None:
            self._session.vault.close()
            self._session = None
