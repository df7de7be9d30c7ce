"""Payer portal commands: the sandbox portal, portal log-ins and switches, recipe tests."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from app.errors import ValidationError
from ui.context import Context, UsageError, iso_day


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser("sandbox-portal", parents=[common],
                       help="run the local sandbox payer portal (synthetic data)")
    p.add_argument("--port", type=int, default=8765, help="port (0 picks a free one)")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--fault", action="append", default=[], metavar="NAME",
                   help="start with a fault on: slow, http_500, session_expiry, "
                        "layout_changed, captcha, interstitial, maintenance")
    p.add_argument("--day", type=int, default=0, help="simulated days ahead of today")
    p.add_argument("--seed-from-vault", action="store_true",
                   help="seed cases from the vault's PAs (implied by --vault; a demo vault "
                        "needs no --user)")
    p.set_defaults(handler=cmd_sandbox)

    portal = sub.add_parser("portal", parents=[common], help="payer portal log-ins"
                            ).add_subparsers(dest="portal_cmd", required=True)
    # `--user` here is the portal user name (as in the issue); the acting user comes from
    # OFFHOLD_USER or `offhold --user U portal set ...`, so this parser skips `common`.
    p = portal.add_parser("set", help="store a portal log-in; the portal password (then the "
                          "TOTP seed) is read from stdin")
    p.add_argument("--vault", metavar="DIR", default=argparse.SUPPRESS)
    p.add_argument("--json", action="store_true", default=argparse.SUPPRESS)
    p.add_argument("--password-stdin", action="store_true", default=argparse.SUPPRESS,
                   help="your own password is the first stdin line, before the portal's")
    p.add_argument("payer")
    p.add_argument("--url", default=None, help="the payer's portal URL (kept on the payer, "
                                             "as `payer set --portal-url`; default: unchanged)")
    p.add_argument("--user", "--portal-user", dest="portal_user", required=True,
                   help="the portal user name")
    p.add_argument("--totp-seed-stdin", action="store_true",
                   help="read the TOTP seed from the line after the password on stdin")
    p.add_argument("--keep-totp", action="store_true", help="keep the stored TOTP seed")
    p.set_defaults(handler=cmd_set)
    p = portal.add_parser("list", parents=[common])
    p.set_defaults(handler=cmd_list)
    p = portal.add_parser("recipe", parents=[common],
                          help="set the installed recipe a payer's portal checks use "
                               "(owner or office manager)")
    p.add_argument("payer")
    p.add_argument("recipe", help="an installed recipe's name, a .yaml file to install, "
                                  "or 'none'")
    p.add_argument("--recipes", metavar="DIR", help="the practice's recipes folder")
    p.set_defaults(handler=cmd_set_recipe)
    for name, on in (("enable", True), ("disable", False)):
        p = portal.add_parser(name, parents=[common], help=f"{name} portal checks for a payer")
        p.add_argument("payer")
        p.set_defaults(handler=cmd_switch, on=on)

    recipe = sub.add_parser("recipe", parents=[common], help="portal recipes"
                            ).add_subparsers(dest="recipe_cmd", required=True)
    p = recipe.add_parser("test", parents=[common],
                          help="run a recipe against its portal and show what it read")
    p.add_argument("file", type=Path)
    p.add_argument("--payer", help="payer whose log-in to use (default: the payer using "
                                   "this recipe)")
    p.add_argument("--kind", default="pa_status",
                   choices=["pa_status", "eligibility", "claim_status"])
    # Every look-up value a recipe may search by; the recipe says which it uses.
    p.add_argument("--member-id", default="")
    p.add_argument("--reference", default="")
    p.add_argument("--claim-number", default="")
    p.add_argument("--dob", default="", help="date of birth, YYYY-MM-DD")
    p.add_argument("--service-date", default="", help="date of service, YYYY-MM-DD")
    p.add_argument("--npi", default="", help="default: the practice's NPI")
    p.add_argument("--screenshot", type=Path,
                   help="write the result page PNG here (an explicit export; it may hold PHI)")
    p.set_defaults(handler=cmd_recipe_test)
    p = recipe.add_parser("list", parents=[common], help="recipes the practice would load")
    p.add_argument("--recipes", metavar="DIR", help="the practice's recipes folder")
    p.set_defaults(handler=cmd_recipe_list)


def cmd_sandbox(args: argparse.Namespace, ctx: Context) -> int:
    from automations.sandbox_portal import FAULTS, SandboxPortal
    unknown = [f for f in args.fault if f not in FAULTS]
    if unknown:
        raise UsageError(f"unknown fault {unknown[0]!r}; one of: {', '.join(FAULTS)}")
    seed = None
    if args.seed_from_vault or getattr(args, "vault", None):
        from automations.sandbox_portal.from_vault import seed_from_vault
        session, owned = _seed_session(args, ctx)
        try:
            seed = seed_from_vault(session)
        finally:  # the server needs no vault; don't hold it open
            if owned:
                session.vault.close()
            ctx.close()
    sandbox = SandboxPortal(seed, port=args.port, host=args.host, faults=args.fault)
    sandbox.set_day(args.day)
    cases = len(seed["cases"]) if seed else 0
    ctx.emit({"url": sandbox.url, "cases": cases, "faults": args.fault},
             f"sandbox portal on {sandbox.url} ({cases} cases; admin: {sandbox.url}/__admin/"
             "state); Ctrl-C stops it")
    sys.stdout.flush()
    try:
        sandbox.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        sandbox.stop()
    return 0


def _seed_session(args: argparse.Namespace, ctx: Context) -> tuple[Any, bool]:
    """The acting user's session; on a demo vault with no user given, the demo owner (its
    password is printed by `offhold demo` anyway). Real vaults always need a user."""
    import os

    from automations.demo import DEMO_USERS, is_demo_vault
    if not (getattr(args, "user", None) or os.environ.get("OFFHOLD_USER")) \
            and is_demo_vault(ctx.vault_dir):
        from app.identity import unlock
        owner = DEMO_USERS[0]
        return unlock(ctx.vault_dir, owner["user"], owner["password"]), True
    return ctx.session(), False


def _read_secret_lines(ctx: Context, want_seed: bool) -> tuple[str, str | None]:
    """Password (and seed) from stdin; never from argv, where `ps` would show them."""
    if getattr(ctx.stdin, "isatty", lambda: False)():
        import getpass
        password = getpass.getpass("Portal password: ")
        seed = getpass.getpass("TOTP seed: ") if want_seed else None
        return password, seed
    password = ctx.stdin.readline().rstrip("\r\n")
    seed = ctx.stdin.readline().rstrip("\r\n") if want_seed else None
    return password, seed


def cmd_set(args: argparse.Namespace, ctx: Context) -> int:
    from app.services import portal_credentials
    session = ctx.session()  # first: with --password-stdin it reads the first line
    # The role (and the payer) are checked before the portal's secrets are read.
    payer = portal_credentials.payer_for_credentials(session, args.payer)
    password, seed = _read_secret_lines(ctx, args.totp_seed_stdin)
    if not password:
        raise ValidationError("no portal password on stdin")
    if args.totp_seed_stdin and not seed:
        raise ValidationError("--totp-seed-stdin given but no seed on the second stdin line")
    account = portal_credentials.set_credentials(
        session, payer, url=args.url, username=args.portal_user, password=password,
        totp_seed=seed if args.totp_seed_stdin else (None if args.keep_totp else ""))
    ctx.emit(_account_json(account), f"stored the portal log-in for {account.payer_name}"
             + (" (with TOTP)" if account.has_totp else ""))
    return 0


def _account_json(a: Any) -> dict[str, Any]:
    return {"payer_id": a.payer_id, "payer": a.payer_name, "recipe": a.recipe,
            "enabled": a.enabled, "url": a.url, "username": a.username,
            "has_password": a.has_password, "has_totp": a.has_totp}


def cmd_list(args: argparse.Namespace, ctx: Context) -> int:
    from app.services import portal_credentials
    accounts = portal_credentials.list_accounts(ctx.session())
    ctx.emit([_account_json(a) for a in accounts], "\n".join(
        f"{a.payer_id:>4} {'on ' if a.enabled else 'off'} {a.payer_name:<32} "
        f"{a.recipe or '-':<22} {a.username or '(no log-in)'}{' +TOTP' if a.has_totp else ''}"
        for a in accounts) or "no payers")
    return 0


def cmd_switch(args: argparse.Namespace, ctx: Context) -> int:
    from app.services import portal_credentials
    payer = portal_credentials.set_enabled(ctx.session(), args.payer, args.on)
    ctx.emit({"payer_id": payer.id, "enabled": payer.portal_enabled},
             f"portal checks {'on' if payer.portal_enabled else 'off'} for {payer.name}")
    return 0


def cmd_set_recipe(args: argparse.Namespace, ctx: Context) -> int:
    from automations.portal.install import set_payer_recipe  # shared with `payer set`
    payer = set_payer_recipe(ctx.session(), args.payer, args.recipe, args.recipes)
    ctx.emit({"payer_id": payer.id, "recipe": payer.portal_recipe},
             f"{payer.name} uses recipe {payer.portal_recipe or '(none)'}")
    return 0


def cmd_recipe_list(args: argparse.Namespace, ctx: Context) -> int:
    from automations.portal import load_recipes, recipe_dirs
    book = load_recipes(recipe_dirs(args.recipes))
    rows = [{"name": n, "payer": book.get(n).payer, "kinds": list(book.get(n).kinds),
             "source": book.get(n).source} for n in book.names()]
    ctx.emit(rows, "\n".join(f"{r['name']:<24} {', '.join(r['kinds']):<40} {r['source']}"
                             for r in rows))
    return 0


def _export_screenshot(session: Any, path: Path, png: bytes, recipe_name: str) -> None:
    """The user asked for the page on disk (it may show PHI): the service checks and
    audits it, then it is written owner-only, like the audit and letter exports."""
    from app.services.exports import export_portal_page
    from ui.private_files import write_private
    write_private(path, export_portal_page(session, recipe_name, png, path.name))


def cmd_recipe_test(args: argparse.Namespace, ctx: Context) -> int:
    from app.services import patients
    from automations.portal import PortalEngine, PortalFailure, PortalQuery, load_recipe_file
    recipe = load_recipe_file(args.file)  # validation errors name the file and key
    if args.kind not in recipe.kinds:
        raise ValidationError(f"{args.file}: the recipe has no {args.kind} look-up")
    dob = iso_day(args.dob, "--dob")
    service_date = iso_day(args.service_date, "--service-date")
    query = PortalQuery(member_id=args.member_id, reference=args.reference,
                        claim_number=args.claim_number, dob=dob, service_date=service_date,
                        npi=args.npi, subject_type="recipe_test")
    session = ctx.session()
    from app.services import practice
    from automations.portal.engine import lookup_value
    npi = args.npi or str(practice.get_setting(session, "practice_npi"))
    missing = [n for n in recipe.required_lookups(args.kind)
               if not (npi if n == "npi" else lookup_value(query, n))]
    if missing:  # named here, not reported later as "not found"
        raise UsageError(f"recipe {recipe.name!r} looks {args.kind} up by "
                         + ", ".join(recipe.lookup_values(args.kind)) + "; give "
                         + " ".join(f"--{n.replace('_', '-')}" for n in missing))
    if args.payer:
        payer = patients.find_payer(session, args.payer)
    else:
        users = [p for p in patients.list_payers(session) if p.portal_recipe == recipe.name]
        if not users:
            raise ValidationError(f"no payer uses recipe {recipe.name!r}; pass --payer")
        payer = users[0]
    with PortalEngine.from_settings(session, min_interval_seconds=0, attempts=1) as engine:
        try:
            result = engine.check(session, payer, args.kind, query, recipe=recipe)
        except PortalFailure as exc:
            if args.screenshot and exc.screenshot:
                _export_screenshot(session, args.screenshot, exc.screenshot, recipe.name)
            ctx.emit({"ok": False, "failure": type(exc).__name__, "reason": str(exc)},
                     f"FAILED ({type(exc).__name__}): {exc}")
            return 1
    if args.screenshot:
        _export_screenshot(session, args.screenshot, result.screenshot, recipe.name)
    data = {"ok": True, "recipe": recipe.name, "payer": payer.name, "kind": args.kind,
            "found": result.found, "status": result.status, "status_text": result.status_text,
            "wording": result.wording,
            "units": result.units,
            "valid_from": result.valid_from.isoformat() if result.valid_from else None,
            "valid_through": result.valid_through.isoformat() if result.valid_through
            else None, "fields": result.fields, "screenshot_bytes": len(result.screenshot)}
    lines = [f"{k}: {v}" for k, v in data.items() if k != "fields"]
    lines += [f"  field {k}: {v}" for k, v in result.fields.items()]
    ctx.emit(data, "\n".join(lines))
    return 0
