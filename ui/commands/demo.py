"""`offhold demo` and `offhold gui`."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from platformdirs import user_data_dir

from ui.context import Context


def default_demo_dir() -> Path:
    return Path(user_data_dir("OffHold", "OffHold")) / "demo-vault"


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser("demo", parents=[common], help="create or reuse the demo vault")
    p.set_defaults(handler=cmd_demo)
    p = sub.add_parser("gui", parents=[common], help="open the desktop app")
    p.add_argument("--autologin", metavar="ROLE", help="demo vaults only: log in as this role")
    p.set_defaults(handler=cmd_gui)


def cmd_demo(args: argparse.Namespace, ctx: Context) -> int:
    from automations.demo import build_demo
    directory = Path(getattr(args, "vault", None) or default_demo_dir())
    result = build_demo(directory)
    lines = [f"Demo vault: {result.vault} ({'created' if result.created else 'reused'})",
             "Demo users (demo vaults only):"]
    lines += [f"  {u['user']:<8} {','.join(u['roles']):<16} password: {u['password']}"
              for u in result.users]
    ctx.emit(result.to_json(), "\n".join(lines))
    return 0


def cmd_gui(args: argparse.Namespace, ctx: Context) -> int:
    from ui.desktop.main import run_gui  # Qt is imported only here
    return run_gui(ctx.vault_dir, autologin_role=args.autologin)
