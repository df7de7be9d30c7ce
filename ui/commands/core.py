"""Foundation commands: init, user, login-check, patient, payer, audit, backup, restore,
settings, unattended."""

from __future__ import annotations

import argparse
import io
from pathlib import Path
from typing import Any

from app.errors import KnownError
from ui.context import Context


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser("init", parents=[common], help="create a new vault")
    p.add_argument("--practice", required=True)
    p.add_argument("--owner", required=True)
    p.add_argument("--timezone", default="America/New_York")
    p.add_argument("--npi", default="", help="the practice's NPI (10 digits)")
    p.add_argument("--tin", default="", help="the practice's tax ID (12-3456789)")
    p.add_argument("--address", default="", help="mailing address on letters (' | ' between "
                                                  "lines)")
    p.add_argument("--phone", default="")
    p.add_argument("--totp", action="store_true",
                   help="enrol the owner in TOTP now (prints the otpauth URI and a QR code)")
    p.add_argument("--keyring", action="store_true",
                   help="keep a copy of the vault key in the OS keyring for unattended "
                        "checks (anyone using this computer account can then open it)")
    p.add_argument("--model", default="", metavar="GGUF",
                   help="import this GGUF model (default: the bundled one)")
    p.add_argument("--payer", action="append", default=[], metavar="NAME:PLAN[:RECIPE]",
                   help="a first payer, its recipe by name or .yaml file (portal off)")
    p.add_argument("--recovery-pdf", type=Path, metavar="FILE",
                   help="also write the recovery key as a printable PDF here")
    p.set_defaults(handler=cmd_init)

    p = sub.add_parser("login-check", parents=[common], help="authenticate and print roles")
    p.add_argument("login_user", metavar="USER")
    p.set_defaults(handler=cmd_login_check)

    user = sub.add_parser("user", parents=[common], help="manage users").add_subparsers(
        dest="user_cmd", required=True)
    p = user.add_parser("add", parents=[common])
    p.add_argument("new_user", metavar="USER")
    p.add_argument("--role", action="append", required=True,
                   help="owner, office_manager, front_desk or biller (repeat for several)")
    p.add_argument("--name", default="")
    p.add_argument("--new-password-env", default="OFFHOLD_NEW_PASSWORD",
                   help="environment variable holding the new user's password")
    p.set_defaults(handler=cmd_user_add)
    p = user.add_parser("list", parents=[common])
    p.set_defaults(handler=cmd_user_list)
    p = user.add_parser("unlock", parents=[common])
    p.add_argument("target", metavar="USER")
    p.set_defaults(handler=cmd_user_unlock)
    p = user.add_parser("mfa-enable", parents=[common])
    p.add_argument("target", metavar="USER")
    p.set_defaults(handler=cmd_user_mfa)

    patient = sub.add_parser("patient", parents=[common], help="patients").add_subparsers(
        dest="patient_cmd", required=True)
    p = patient.add_parser("add", parents=[common])
    p.add_argument("--first", required=True)
    p.add_argument("--last", required=True)
    p.add_argument("--dob", required=True, help="YYYY-MM-DD")
    p.add_argument("--member-id")
    p.add_argument("--payer")
    p.add_argument("--phone", default="")
    p.add_argument("--email", default="")
    p.add_argument("--group", default="", help="the coverage's group number")
    p.set_defaults(handler=cmd_patient_add)
    p = patient.add_parser("list", parents=[common])
    p.add_argument("--search", default="")
    p.set_defaults(handler=cmd_patient_list)
    p = patient.add_parser("show", parents=[common])
    p.add_argument("patient_id", type=int)
    p.set_defaults(handler=cmd_patient_show)
    from ui.commands.records import register_patient, register_payer
    register_patient(patient, common)

    payer = sub.add_parser("payer", parents=[common], help="payers").add_subparsers(
        dest="payer_cmd", required=True)
    p = payer.add_parser("add", parents=[common])
    p.add_argument("name")
    p.add_argument("--plan-type", required=True)
    p.add_argument("--appeal-days", type=int)
    p.add_argument("--timely-filing-days", type=int)
    p.add_argument("--decision-days", type=int, help="commercial: standard decision days")
    p.add_argument("--portal-url", default="", help="the payer's portal address (https; http "
                                                  "only on this machine); owner or manager")
    p.set_defaults(handler=cmd_payer_add)
    p = payer.add_parser("list", parents=[common])
    p.set_defaults(handler=cmd_payer_list)
    register_payer(payer, common)

    aud = sub.add_parser("audit", parents=[common], help="the audit log").add_subparsers(
        dest="audit_cmd", required=True)
    p = aud.add_parser("verify", parents=[common])
    p.set_defaults(handler=cmd_audit_verify)
    p = aud.add_parser("rebaseline", parents=[common],
                       help="owner: after reviewing 'audit verify', accept the log as it "
                            "stands (the problems are recorded)")
    p.set_defaults(handler=cmd_audit_rebaseline)
    p = aud.add_parser("export", parents=[common])
    p.add_argument("--from", dest="start", help="YYYY-MM-DD (inclusive)")
    p.add_argument("--to", dest="end", help="YYYY-MM-DD (exclusive)")
    p.add_argument("--csv", action="store_true", help="CSV (the default)")
    p.add_argument("--out", help="write to this file instead of stdout")
    p.set_defaults(handler=cmd_audit_export)

    p = sub.add_parser("backup", parents=[common], help="encrypted online backup")
    p.add_argument("path")
    p.set_defaults(handler=cmd_backup)
    p = sub.add_parser("restore", parents=[common], help="verify and restore a backup")
    p.add_argument("path", nargs="?", help="the backup (with --drill: default the latest)")
    p.add_argument("--replace", action="store_true", help="replace an existing vault")
    p.add_argument("--drill", action="store_true",
                   help="restore into a scratch folder, verify, report the time; "
                        "the live vault is not touched")
    p.set_defaults(handler=cmd_restore)

    st = sub.add_parser("settings", parents=[common], help="practice settings").add_subparsers(
        dest="settings_cmd", required=True)
    p = st.add_parser("list", parents=[common])
    p.set_defaults(handler=cmd_settings_list)
    p = st.add_parser("set", parents=[common])
    p.add_argument("key")
    p.add_argument("value")
    p.set_defaults(handler=cmd_settings_set)

    un = sub.add_parser("unattended", parents=[common],
                        help="keep a key copy in the OS keyring for the scheduler")
    un.add_argument("action", choices=["enable", "disable", "status"])
    un.set_defaults(handler=cmd_unattended)


def cmd_init(args: argparse.Namespace, ctx: Context) -> int:
    """The same steps as the desktop's first-run wizard (automations.first_run)."""
    from app import clock
    from app.services import setup, users
    from automations import first_run
    from ui.private_files import write_private
    details = setup.PracticeDetails(args.practice, args.timezone, args.npi, args.tin,
                                    args.address, args.phone)
    payers = [first_run.parse_payer_option(text) for text in args.payer]
    session, recovery = first_run.create_practice(ctx.vault_dir, details, args.owner,
                                                  ctx.password("Owner password: "))
    try:
        if args.recovery_pdf:  # it unlocks the vault: owner-only
            write_private(args.recovery_pdf, setup.recovery_key_pdf(
                args.practice, recovery, clock.now().astimezone()))
        uri = users.enable_mfa(session, args.owner) if args.totp else ""
        summary = first_run.finish(session, first_run.SetupChoices(
            keyring=args.keyring, model_file=args.model, payers=payers))
    finally:
        session.vault.close()
    text = (f"Vault created at {ctx.vault_dir}\n\nRecovery key (shown once; store it "
            f"offline):\n  {recovery}\n\nEvery action kind starts in shadow mode; "
            f"{summary['payers']} payer(s) added with their portals off until tested.")
    if uri:
        import segno
        qr = io.StringIO()
        segno.make(uri, error="m").terminal(out=qr, compact=True)
        text += f"\n\nScan with an authenticator app, or type:\n  {uri}\n{qr.getvalue()}"
    ctx.emit({"vault": str(ctx.vault_dir), "owner": args.owner, "recovery_key": recovery,
              "totp_uri": uri or None, **summary}, text)
    return 0


def cmd_login_check(args: argparse.Namespace, ctx: Context) -> int:
    args.user = args.login_user
    session = ctx.session()
    roles = sorted(r.value for r in session.roles)
    ctx.emit({"user": session.username, "roles": roles}, f"{session.username}: {', '.join(roles)}")
    return 0


def _new_password(args: argparse.Namespace, ctx: Context) -> str:
    import os
    value = os.environ.get(args.new_password_env)
    if value:
        return value
    if getattr(args, "password_stdin", False):
        ctx.password()  # first line: the acting user's password
        line = ctx.stdin.readline().rstrip("\r\n")
        if line:
            return line
    import getpass
    import sys
    if sys.stdin.isatty():
        return getpass.getpass(f"Password for {args.new_user}: ")
    from ui.context import UsageError
    raise UsageError(f"no password for the new user: set {args.new_password_env} or give it "
                     "as the second stdin line with --password-stdin")


def cmd_user_add(args: argparse.Namespace, ctx: Context) -> int:
    from app.services import users
    session = ctx.session()
    result = users.add_user(session, args.new_user, _new_password(args, ctx), args.role,
                            args.name)
    ctx.emit(result, f"added {result['user']} ({', '.join(result['roles'])})")
    return 0


def cmd_user_list(args: argparse.Namespace, ctx: Context) -> int:
    from app.services import users
    rows = users.list_users(ctx.session())
    ctx.emit(rows, "\n".join(f"{r['user']:<16} {','.join(r['roles']):<32} "
                             f"{'mfa' if r['mfa'] else ''}" for r in rows))
    return 0


def cmd_user_unlock(args: argparse.Namespace, ctx: Context) -> int:
    from app.services import users
    users.unlock_user(ctx.session(), args.target)
    ctx.say(f"unlocked {args.target}")
    return 0


def cmd_user_mfa(args: argparse.Namespace, ctx: Context) -> int:
    from app.services import users
    uri = users.enable_mfa(ctx.session(), args.target)
    ctx.emit({"user": args.target, "otpauth_uri": uri}, uri)
    return 0


def cmd_patient_add(args: argparse.Namespace, ctx: Context) -> int:
    from app.services import patients
    from ui.commands.records import similar_warning
    from app.identity import require
    session = ctx.session()
    require(session, "patient.create")  # refused before the look-alike search reads anything
    similar = similar_warning(ctx, session, args.first, args.last, args.dob,
                              args.member_id or "")
    p = patients.add_patient(session, args.first, args.last, args.dob,
                             member_id=args.member_id, payer=args.payer, phone=args.phone,
                             email=args.email, group_number=args.group)
    ctx.emit({**patients.patient_to_json(p), "similar": similar}, str(p.id))
    return 0


def cmd_patient_list(args: argparse.Namespace, ctx: Context) -> int:
    from app.services import patients
    rows = patients.list_patients(ctx.session(), args.search)
    data = [patients.patient_to_json(p) for p in rows]
    ctx.emit(data, "\n".join(f"{p.id:>6}  {p.display_name:<32} {p.dob}" for p in rows))
    return 0


def cmd_patient_show(args: argparse.Namespace, ctx: Context) -> int:
    from app.services import patients
    p = patients.get_patient(ctx.session(), args.patient_id)
    ctx.emit(patients.patient_to_json(p))
    return 0


def cmd_payer_add(args: argparse.Namespace, ctx: Context) -> int:
    from app.services import patients
    p = patients.add_payer(ctx.session(), args.name, args.plan_type,
                           appeal_window_days=args.appeal_days,
                           timely_filing_days=args.timely_filing_days,
                           decision_days_standard=args.decision_days,
                           portal_url=args.portal_url)
    ctx.emit({"id": p.id, "name": p.name, "plan_type": p.plan_type.value,
              "portal_url": p.portal_url}, str(p.id))
    return 0


def cmd_payer_list(args: argparse.Namespace, ctx: Context) -> int:
    from app.services import patients
    rows = patients.list_payers(ctx.session())
    ctx.emit([{"id": p.id, "name": p.name, "plan_type": p.plan_type.value,
               "portal_recipe": p.portal_recipe, "portal_enabled": p.portal_enabled,
               "portal_url": p.portal_url}
              for p in rows],
             "\n".join(f"{p.id:>4}  {p.name:<32} {p.plan_type.value}" for p in rows))
    return 0


def cmd_audit_verify(args: argparse.Namespace, ctx: Context) -> int:
    from app.services.vault_health import verify_audit
    result = verify_audit(ctx.session())  # role check, audit row and checkpoint there
    data = {"ok": result.ok, "rows": result.rows, "broken_row": result.broken_row,
            "reason": result.reason, "problems": list(result.problems),
            "checkpoint_rows": result.checkpoint_rows, "notes": list(result.notes)}
    if result.ok:
        ctx.emit(data, "\n".join([f"OK: {result.rows} audit rows verified; "
                                   f"{result.checkpoint_rows} under an owner-signed checkpoint",
                                   *result.notes]))
        return 0
    ctx.emit(data, "\n".join([f"BROKEN: {p}" for p in result.problems] + list(result.notes)))
    return 1


def cmd_audit_rebaseline(args: argparse.Namespace, ctx: Context) -> int:
    from app.services.vault_health import rebaseline_audit
    result = rebaseline_audit(ctx.session())
    if not result["rebaselined"]:
        ctx.emit(result, f"nothing to do: the {result['rows']} audit rows verify")
        return 0
    ctx.emit(result, f"re-baselined at {result['rows']} rows; recorded problems:\n" +
             "\n".join(f"  {p}" for p in result["problems"]))
    return 0


def cmd_audit_export(args: argparse.Namespace, ctx: Context) -> int:
    from app.services.exports import export_audit
    from ui.private_files import write_private
    export = export_audit(ctx.session(), args.start, args.end, to_file=bool(args.out))
    notice = ("this audit export may contain PHI (patient ids, task and object details): "
              "keep it encrypted and share it only as the practice's policy allows")
    if args.out:
        write_private(args.out, export.csv.encode("utf-8"))  # owner-only before any byte
        ctx.say(f"wrote {export.rows} rows to {args.out}; {notice}")
    else:
        ctx.say(f"offhold: {notice}")
        print(export.csv, end="")
    return 0


def cmd_backup(args: argparse.Namespace, ctx: Context) -> int:
    from app.vault.backup import create_backup
    result = create_backup(ctx.session(), Path(args.path))
    ctx.emit(result, f"backup written to {result['backup']} (+ {Path(result['keys']).name})")
    return 0


def cmd_restore(args: argparse.Namespace, ctx: Context) -> int:
    from app.vault.backup import restore_backup, restore_drill
    if args.drill:
        drill = restore_drill(ctx.session(), ctx.password(),
                              Path(args.path) if args.path else None)
        ctx.emit(drill, f"drill OK: {drill['backup']} restored into a scratch folder and "
                 f"verified ({drill['audit_rows']} audit rows) in {drill['seconds']} s")
        return 0
    if not args.path:
        from ui.context import UsageError
        raise UsageError("say which backup to restore (or use --drill)")
    import os
    result = restore_backup(Path(args.path), ctx.vault_dir, ctx.user, ctx.password(),
                            replace=args.replace, totp=os.environ.get("OFFHOLD_TOTP") or None)
    ctx.emit(result, f"restored into {result['restored']}; {result['audit_rows']} audit rows "
             "verified")
    return 0


def cmd_settings_list(args: argparse.Namespace, ctx: Context) -> int:
    from app.services import practice
    values = practice.all_settings(ctx.session())
    ctx.emit(values, "\n".join(f"{k} = {v}" for k, v in values.items()))
    return 0


def cmd_settings_set(args: argparse.Namespace, ctx: Context) -> int:
    from app.services import practice
    value = practice.set_setting(ctx.session(), args.key, args.value)
    ctx.say(f"{args.key} = {value}")
    return 0


def cmd_unattended(args: argparse.Namespace, ctx: Context) -> int:
    from app.vault import unattended
    if args.action == "status":
        ok = unattended.backend_available()
        ctx.emit({"keyring_backend": ok},
                 "an OS keyring is available" if ok else
                 "no OS keyring backend here: unattended mode is unavailable")
        return 0 if ok else 1
    session = ctx.session()
    if args.action == "enable":
        unattended.enable(session)
        ctx.say("unattended mode enabled: the scheduler can open the vault from the keyring")
    else:
        unattended.disable(session)
        ctx.say("unattended mode disabled")
    return 0


__all__ = ["register", "KnownError"]
