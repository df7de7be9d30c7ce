"""`offhold`: the command line face. No Qt here; `offhold gui` imports ui.desktop lazily.

Conventions (ARCHITECTURE.md section 2): --vault DIR or OFFHOLD_VAULT; --user USER or
OFFHOLD_USER; the password from OFFHOLD_PASSWORD, --password-stdin, or a prompt on a
terminal; --json puts data on stdout and messages on stderr; exit 0 ok, 1 refused or
failed with a one-line reason, 2 usage error.

Commands live in ui/commands/*.py; each module has `register(subparsers, parent)`.
"""

from __future__ import annotations

import argparse
import getpass
import importlib
import json
import logging
import os
import pkgutil
import sys
from pathlib import Path
from typing import Any, Callable, NoReturn

from platformdirs import user_data_dir

from app.errors import KnownError


class UsageError(Exception):
    pass


def one_line(text: str) -> str:
    """A message safe for a terminal on one line: control bytes (escape sequences, CR, LF,
    from a file name or a field) are shown escaped, never interpreted."""
    return "".join(ch if ch.isprintable() else ch.encode("unicode_escape").decode("ascii")
                   for ch in text)


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        self.print_usage(sys.stderr)
        print(f"offhold: {message}", file=sys.stderr)
        raise SystemExit(2)


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


def _common() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    # SUPPRESS keeps a value given before the subcommand from being reset after it.
    common.add_argument("--vault", metavar="DIR", default=argparse.SUPPRESS,
                        help="vault directory (or OFFHOLD_VAULT)")
    common.add_argument("--user", metavar="USER", default=argparse.SUPPRESS,
                        help="acting user (or OFFHOLD_USER)")
    common.add_argument("--password-stdin", action="store_true", default=argparse.SUPPRESS,
                        help="read the password from the first line of stdin")
    common.add_argument("--json", action="store_true", default=argparse.SUPPRESS,
                        help="machine-readable output on stdout")
    return common


def build_parser() -> argparse.ArgumentParser:
    common = _common()
    parser = _Parser(prog="offhold", parents=[common],
                     description="OffHold: the practice's administrative work queue.")
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress to stderr")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True
    import ui.commands as commands_pkg
    for info in sorted(pkgutil.iter_modules(commands_pkg.__path__), key=lambda i: i.name):
        module = importlib.import_module(f"ui.commands.{info.name}")
        module.register(sub, common)
    return parser


def main(argv: list[str] | None = None, stdin: Any = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    # pypdf warns about every quirk of a malformed PDF; the import's own one-line result
    # is what the person needs, so its chatter stays off the terminal.
    logging.getLogger("pypdf").setLevel(logging.ERROR)
    ctx = Context(args, stdin)
    from automations.wiring import wire
    wire()  # what approving a task does: the same composition root as the desktop and tests
    handler: Callable[[argparse.Namespace, Context], int] = args.handler
    try:
        return int(handler(args, ctx) or 0)
    except UsageError as exc:
        print(f"offhold: {one_line(str(exc))}", file=sys.stderr)
        return 2
    except KnownError as exc:
        print(f"offhold: {one_line(str(exc))}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("offhold: interrupted", file=sys.stderr)
        return 1
    finally:
        ctx.close()


if __name__ == "__main__":
    # Run the imported module's main, not __main__'s: commands raise ui.cli.UsageError,
    # which __main__.main would not recognise as its own (a traceback instead of exit 2).
    from ui.cli import main as _main
    raise SystemExit(_main())
