"""`offhold`: the command line face. No Qt here; `offhold gui` imports ui.desktop lazily.

Conventions (ARCHITECTURE.md section 2): --vault DIR or OFFHOLD_VAULT; --user USER or
OFFHOLD_USER; the password from OFFHOLD_PASSWORD, --password-stdin, or a prompt on a
terminal; --json puts data on stdout and messages on stderr; exit 0 ok, 1 refused or
failed with a one-line reason, 2 usage error.

Commands live in ui/commands/*.py; each module has `register(subparsers, parent)`.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import pkgutil
import sys
from typing import Any, Callable, NoReturn

from app.errors import KnownError
from ui.context import Context, UsageError, one_line

__all__ = ["Context", "UsageError", "build_parser", "main", "one_line"]


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        self.print_usage(sys.stderr)
        print(f"offhold: {message}", file=sys.stderr)
        raise SystemExit(2)


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
    raise SystemExit(main())
