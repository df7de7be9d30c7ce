"""Keeping the vault whole: `offhold recover` (a lost owner password, with the recovery
key) and `offhold vault check` (the full integrity check on demand)."""

from __future__ import annotations

import argparse
import getpass
import os
import sys
from pathlib import Path
from typing import Any

from ui.context import Context, UsageError


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser("recover", parents=[common],
                       help="set a lost owner password with the recovery key (rotates it)")
    p.add_argument("--recovery-key-file", metavar="FILE",
                   help="file holding the recovery key (default: the first line of stdin)")
    p.add_argument("--new-password-env", default="OFFHOLD_NEW_PASSWORD",
                   help="environment variable holding the new password (else a prompt)")
    p.set_defaults(handler=cmd_recover)

    vault = sub.add_parser("vault", parents=[common], help="the vault's health").add_subparsers(
        dest="vault_cmd", required=True)
    p = vault.add_parser("check", parents=[common],
                         help="full integrity check (every page) and the audit chain")
    p.set_defaults(handler=cmd_vault_check)


def _recovery_key(args: argparse.Namespace, ctx: Context) -> str:
    if args.recovery_key_file:
        try:
            text = Path(args.recovery_key_file).read_text("utf-8", errors="replace")
        except OSError as exc:
            raise UsageError(f"cannot read {args.recovery_key_file}: {exc.strerror}") from exc
    else:
        text = ctx.stdin.readline()
    key = text.strip()
    if not key:
        raise UsageError("no recovery key: give --recovery-key-file FILE or the key on stdin")
    return key


def _new_password(args: argparse.Namespace) -> str:
    value = os.environ.get(args.new_password_env)
    if value:
        return value
    if sys.stdin.isatty():
        first = getpass.getpass("New password: ")
        if first != getpass.getpass("New password again: "):
            raise UsageError("the two passwords differ")
        return first
    raise UsageError(f"no new password: set {args.new_password_env} or run on a terminal")


def cmd_recover(args: argparse.Namespace, ctx: Context) -> int:
    from app.identity import recover
    key = _recovery_key(args, ctx)
    session, new_key = recover(ctx.vault_dir, ctx.user, key, _new_password(args))
    session.vault.close()
    ctx.emit({"user": session.username, "recovery_key": new_key},
             f"The password of {session.username} is set. The old recovery key no longer "
             f"works.\n\nNew recovery key (shown once; store it offline):\n  {new_key}")
    return 0


def cmd_vault_check(args: argparse.Namespace, ctx: Context) -> int:
    from app.services.vault_health import check_vault
    result = check_vault(ctx.session())
    if result["ok"]:
        ctx.emit(result, f"OK: the vault passed its integrity check ({result['seconds']} s)")
        return 0
    ctx.emit(result, "DAMAGED: " + "; ".join(result["problems"]) +
             "\nRestore the latest good backup: offhold restore --drill, then "
             "offhold restore BACKUP --replace")
    return 1
