"""Prior-authorization commands: pa add/list/show, check-now, and run (the scheduler).

Times print in the practice's time zone; --json gives UTC and local side by side. Output
carries PA ids, codes and the payer's wording, never names or member IDs.
"""

from __future__ import annotations

import argparse
import os
from datetime import datetime, timezone
from typing import Any

from app.errors import KnownError, NoKeyringBackend
from ui.context import Context, UsageError


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    pa = sub.add_parser("pa", parents=[common], help="prior authorizations").add_subparsers(
        dest="pa_cmd", required=True)
    p = pa.add_parser("add", parents=[common], help="record a submitted PA request")
    p.add_argument("--patient", type=int, required=True, help="patient id")
    p.add_argument("--payer", required=True, help="payer name or id")
    add_service_flag(p)
    p.add_argument("--cpt", help="one service: CPT/HCPCS code only, e.g. 97110 (with --units)")
    p.add_argument("--units", type=int)
    p.add_argument("--service-date", help="the PA's first date of service, YYYY-MM-DD "
                                          "(default: the earliest --service FROM)")
    p.add_argument("--urgency", choices=["standard", "expedited"], default="standard")
    p.add_argument("--submitted", help="ISO time the payer received it (default: now; "
                                       "without a zone: the practice's local time)")
    p.add_argument("--ref", default="", help="the payer's reference number")
    p.set_defaults(handler=cmd_add)
    p = pa.add_parser("list", parents=[common], help="PAs by decision deadline")
    p.add_argument("--status", action="append", default=[])
    p.add_argument("--open", action="store_true", help="only PAs awaiting a decision")
    p.set_defaults(handler=cmd_list)
    from ui.commands.records import register_pa
    register_pa(pa, common)
    p = pa.add_parser("show", parents=[common], help="one PA with its status history")
    p.add_argument("pa_id", type=int)
    p.set_defaults(handler=cmd_show)

    p = sub.add_parser("check-now", parents=[common],
                       help="check open PAs at the payer portals now")
    p.add_argument("--pa", type=int, action="append", default=[], metavar="ID",
                   help="only this PA (repeat for several)")
    p.add_argument("--recipes", metavar="DIR", help="extra recipes folder (overrides the "
                                                    "practice setting)")
    p.set_defaults(handler=cmd_check_now)

    p = sub.add_parser("run", parents=[common],
                       help="run the scheduler headless (PA checks on a risk-based cadence)")
    p.add_argument("--every", type=float, metavar="SECONDS",
                   help="demo/test cadence: check every N seconds, ignoring business hours")
    p.add_argument("--sweep-seconds", type=float, default=300.0,
                   help="how often to re-plan checks and apply the time rules")
    p.add_argument("--recipes", metavar="DIR")
    p.set_defaults(handler=cmd_run)


def add_service_flag(p: argparse.ArgumentParser) -> None:
    p.add_argument("--service", action="append", default=[], metavar="CODE[-MOD]:UNITS"
                   "[:FROM[:TO]]", help="a service line (repeat for several): CPT/HCPCS code "
                   "only (never its description), optional 2-character modifier, units, "
                   "dates of service YYYY-MM-DD (default: the PA's date of service), e.g. "
                   "97110-GP:12:2027-01-04:2027-02-26")


def parse_services(specs: list[str]) -> list[dict[str, str]]:
    """`--service` values as service-line mappings for app.services.prior_auth (which
    checks the values); a malformed one is a usage error naming which one it is."""
    out = []
    for n, spec in enumerate(specs, 1):
        parts = spec.strip().split(":")
        if not 2 <= len(parts) <= 4 or not all(parts[:2]):
            raise UsageError(f"--service #{n} ({spec!r}) must be CODE[-MOD]:UNITS[:FROM[:TO]]")
        code, _dash, modifier = parts[0].partition("-")
        out.append({"code": code, "modifier": modifier, "units": parts[1],
                    "service_from": parts[2] if len(parts) > 2 else "",
                    "service_to": parts[3] if len(parts) > 3 else ""})
    return out


def _zone(session: Any) -> Any:
    from app.services import prior_auth as pa_svc
    return pa_svc.practice_zone(session)


def cmd_add(args: argparse.Namespace, ctx: Context) -> int:
    from app.services import prior_auth as pa_svc
    session = ctx.session()
    tz = _zone(session)
    submitted = None
    if args.submitted:
        try:
            submitted = datetime.fromisoformat(args.submitted)
        except ValueError as exc:
            raise UsageError(f"--submitted takes an ISO time, not {args.submitted!r}") from exc
        if submitted.tzinfo is None:
            submitted = submitted.replace(tzinfo=tz)
    services = parse_services(args.service)
    if services and (args.cpt or args.units is not None):
        raise UsageError("give the services either as --service lines or as --cpt and "
                         "--units, not both")
    if not services and not (args.cpt and args.units is not None):
        raise UsageError("give at least one --service CODE:UNITS (or --cpt and --units)")
    pa = pa_svc.add_prior_auth(session, patient_id=args.patient, payer=args.payer,
                               services=services, cpt_code=args.cpt, units=args.units,
                               service_date=args.service_date, urgency=args.urgency,
                               submitted_at=submitted, payer_ref=args.ref)
    due = pa.decision_due_at.astimezone(tz)
    ctx.emit(pa_svc.pa_to_json(pa, tz),
             f"PA {pa.id}: decision due {due:%Y-%m-%d %H:%M %Z} ({pa.clock_basis})")
    return 0


def _line(pa: Any, tz: Any) -> str:
    due = pa.decision_due_at.astimezone(tz)
    return (f"{pa.id:>5}  {pa.status.value:<18} due {due:%Y-%m-%d %H:%M %Z}  "
            f"DOS {pa.service_date}  {services_text(pa)}  {pa.payer_name} "
            f"ref {pa.payer_ref or '-'}")


def services_text(pa: Any) -> str:
    """The lines as codes and units only ('97110 x12, 97140-GP x4')."""
    return ", ".join(f"{ln.code}{'-' + ln.modifier if ln.modifier else ''} x{ln.units}"
                     for ln in pa.services) or f"{pa.cpt_code} x{pa.units}"


def cmd_list(args: argparse.Namespace, ctx: Context) -> int:
    from app.services import prior_auth as pa_svc
    session = ctx.session()
    tz = _zone(session)
    rows = pa_svc.list_prior_auths(session, statuses=tuple(args.status), open_only=args.open)
    ctx.emit([pa_svc.pa_to_json(p, tz) for p in rows],
             "\n".join(_line(p, tz) for p in rows) or "no prior authorizations")
    return 0


def cmd_show(args: argparse.Namespace, ctx: Context) -> int:
    from app.services import prior_auth as pa_svc
    session = ctx.session()
    pa = pa_svc.get_prior_auth(session, args.pa_id)
    ctx.emit(pa_svc.pa_to_json(pa, _zone(session), history=True))
    return 0


def cmd_check_now(args: argparse.Namespace, ctx: Context) -> int:
    from automations.workflows.pa_followup import check_now_at_portals
    session = ctx.session()

    def progress(done: int, total: int, message: str) -> None:
        if not ctx.json:
            ctx.say(f"[{done}/{total}] {message}")

    summary = check_now_at_portals(session, pa_ids=args.pa or None, progress=progress,
                                   recipes_dir=args.recipes)
    ctx.emit(summary.to_json(), summary.line())
    return 0


def _open_for_scheduler(ctx: Context) -> Any:
    """A logged-in user's vault when OFFHOLD_USER/--user and a password are given, else the
    key from the OS keyring (unattended mode)."""
    if getattr(ctx.args, "user", None) or os.environ.get("OFFHOLD_USER"):
        session = ctx.session()
        from app.identity import require
        require(session, "pa.check")
        return session.vault, f"user {session.username}"
    from app.vault import unattended
    if not unattended.backend_available():
        raise NoKeyringBackend()
    return unattended.open_unattended(ctx.vault_dir), "unattended (OS keyring)"


def cmd_run(args: argparse.Namespace, ctx: Context) -> int:
    from app import audit
    from app.audit import SystemActor
    from app.pa.cadence import DEFAULT_CADENCE, Cadence
    from app.identity import Session
    from automations.jobs import SchedulerLock, run_forever
    from automations.workflows.pa_followup import PortalStatusSource, StatusSource
    try:
        vault, how = _open_for_scheduler(ctx)
    except NoKeyringBackend as exc:
        raise KnownError(f"{exc}; to run the scheduler anyway, log in: set OFFHOLD_USER and "
                         "OFFHOLD_PASSWORD (or --user with --password-stdin)") from None
    cadence = Cadence.fast(args.every) if args.every else DEFAULT_CADENCE
    lock = SchedulerLock(vault.path.parent, "offhold run")
    try:
        lock.acquire()  # the desktop app or another `offhold run` may have the jobs
    except KnownError:
        if ctx._session is None:
            vault.close()
        raise
    audit.record_now(vault, SystemActor("scheduler", "system"), "scheduler.start",
                     details={"opened_by": how, "every": args.every,
                              "sweep_seconds": args.sweep_seconds})

    def factory(session: Session) -> StatusSource:
        from automations.portal import PortalEngine
        engine = PortalEngine.from_settings(session, recipes_dir=args.recipes)
        source = PortalStatusSource(engine)
        setattr(source, "close", engine.close)
        return source

    started = datetime.now(timezone.utc)
    ctx.say(f"scheduler running ({how}); "
            + (f"checking every {args.every:g} s" if args.every else "risk-based cadence, "
               "business hours only") + "; Ctrl-C or SIGTERM stops it")
    try:
        run_forever(vault, factory, cadence=cadence, sweep_seconds=args.sweep_seconds,
                    on_started=lambda: ctx.say("scheduler started"), lock=lock)
    finally:
        audit.record_now(vault, SystemActor("scheduler", "system"), "scheduler.stop",
                         details={"ran_seconds": int((datetime.now(timezone.utc) - started)
                                                     .total_seconds())})
        if ctx._session is None:  # opened unattended: ours to close
            vault.close()
    return 0
