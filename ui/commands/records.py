"""Everyday data entry from the command line: patient edit, coverage, merge; payer set (with
its portal recipe); PA edit and cancel; appointments; the fee schedule. Each command is a
thin call into app.services (roles and audit there)."""

from __future__ import annotations

import argparse
from typing import Any

from ui.context import Context, UsageError


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    appt = sub.add_parser("appointment", parents=[common], help="appointments"
                          ).add_subparsers(dest="appointment_cmd", required=True)
    p = appt.add_parser("add", parents=[common], help="book a visit")
    p.add_argument("--patient", type=int, required=True)
    p.add_argument("--at", required=True, help="YYYY-MM-DD HH:MM, the practice's local time")
    p.add_argument("--provider", default="")
    p.add_argument("--visit-type", default="office_visit")
    p.set_defaults(handler=cmd_appt_add)
    p = appt.add_parser("reschedule", parents=[common])
    p.add_argument("appointment_id", type=int)
    p.add_argument("--at", required=True, help="YYYY-MM-DD HH:MM, the practice's local time")
    p.add_argument("--provider")
    p.set_defaults(handler=cmd_appt_reschedule)
    for name in ("cancel", "no-show"):
        p = appt.add_parser(name, parents=[common])
        p.add_argument("appointment_id", type=int)
        p.set_defaults(handler=cmd_appt_status, status=name)
    p = appt.add_parser("list", parents=[common], help="visits from a day (default today)")
    p.add_argument("--date", help="YYYY-MM-DD (default: today, practice time)")
    p.add_argument("--days", type=int, default=1)
    p.set_defaults(handler=cmd_appt_list)

    fee = sub.add_parser("fee", parents=[common], help="fee schedule per payer and visit type"
                         ).add_subparsers(dest="fee_cmd", required=True)
    p = fee.add_parser("set", parents=[common])
    p.add_argument("payer")
    p.add_argument("visit_type")
    p.add_argument("amount", help="allowed amount in dollars, or 'none' to remove")
    p.set_defaults(handler=cmd_fee_set)
    p = fee.add_parser("list", parents=[common])
    p.set_defaults(handler=cmd_fee_list)


def register_patient(patient: Any, common: argparse.ArgumentParser) -> None:
    """Subcommands of `offhold patient` (the group is declared in ui.commands.core)."""
    p = patient.add_parser("edit", parents=[common], help="change demographics")
    p.add_argument("patient_id", type=int)
    for flag in ("first", "last", "dob", "sex", "phone", "email", "address"):
        p.add_argument(f"--{flag}")
    p.add_argument("--timezone", help="the patient's IANA time zone (quiet hours follow it); "
                   "empty for the practice's")
    p.set_defaults(handler=cmd_patient_edit)
    p = patient.add_parser("merge", parents=[common],
                           help="move a duplicate's records onto the patient kept")
    p.add_argument("keep", type=int)
    p.add_argument("duplicate", type=int)
    p.set_defaults(handler=cmd_patient_merge)
    p = patient.add_parser("similar", parents=[common],
                           help="existing patients a new record may duplicate")
    p.add_argument("--first", required=True)
    p.add_argument("--last", required=True)
    p.add_argument("--dob", default="")
    p.add_argument("--member-id", default="")
    p.set_defaults(handler=cmd_patient_similar)
    cov = patient.add_parser("coverage", parents=[common], help="insurance coverage"
                             ).add_subparsers(dest="coverage_cmd", required=True)
    p = cov.add_parser("add", parents=[common])
    p.add_argument("patient_id", type=int)
    p.add_argument("--payer", required=True)
    p.add_argument("--member-id", required=True)
    _coverage_flags(p)
    p.set_defaults(handler=cmd_coverage_add)
    p = cov.add_parser("edit", parents=[common])
    p.add_argument("coverage_id", type=int)
    p.add_argument("--payer")
    p.add_argument("--member-id")
    _coverage_flags(p)
    p.add_argument("--inactive", action="store_true", help="the coverage has ended")
    p.add_argument("--active", action="store_true")
    p.set_defaults(handler=cmd_coverage_edit)


def _coverage_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--group")
    p.add_argument("--plan")
    p.add_argument("--priority", type=int, choices=[1, 2, 3],
                   help="1 primary, 2 secondary, 3 tertiary")
    p.add_argument("--subscriber", help="the subscriber's name, when not the patient")
    p.add_argument("--relationship", choices=["self", "spouse", "child", "other"])
    p.add_argument("--subscriber-dob", help="YYYY-MM-DD, the subscriber's date of birth")
    p.add_argument("--from", dest="effective", help="YYYY-MM-DD coverage starts")
    p.add_argument("--to", dest="terminates", help="YYYY-MM-DD coverage ends")


def register_payer(payer: Any, common: argparse.ArgumentParser) -> None:
    p = payer.add_parser("set", parents=[common], help="change a payer; --recipe links its "
                         "portal recipe (an installed name or a .yaml file)")
    p.add_argument("payer")
    p.add_argument("--plan-type")
    p.add_argument("--code", help="the payer's ID on claims")
    p.add_argument("--decision-days", type=int, help="standard PA decision, calendar days")
    p.add_argument("--decision-hours", type=int, help="expedited PA decision, hours")
    p.add_argument("--appeal-days", type=int)
    p.add_argument("--timely-filing-days", type=int)
    p.add_argument("--recipe", help="recipe name, a .yaml file to install, or 'none'")
    p.add_argument("--recipes", metavar="DIR", help="the practice's recipes folder")
    p.add_argument("--portal-url", help="the payer's portal address (https; http only on "
                                        "this machine); '' clears it")
    switch = p.add_mutually_exclusive_group()
    switch.add_argument("--on", action="store_true", help="turn portal checks on")
    switch.add_argument("--off", action="store_true", help="turn portal checks off")
    p.set_defaults(handler=cmd_payer_set)


def register_pa(pa: Any, common: argparse.ArgumentParser) -> None:
    p = pa.add_parser("edit", parents=[common], help="correct a recorded PA request")
    p.add_argument("pa_id", type=int)
    from ui.commands.pa import add_service_flag
    add_service_flag(p)  # given, the --service lines replace all the PA's lines
    p.add_argument("--cpt", help="the code of a PA with one service line")
    p.add_argument("--units", type=int, help="the units of a PA with one service line")
    p.add_argument("--service-date")
    p.add_argument("--ref")
    p.set_defaults(handler=cmd_pa_edit)
    p = pa.add_parser("cancel", parents=[common], help="the practice withdrew the request")
    p.add_argument("pa_id", type=int)
    p.add_argument("--reason", default="")
    p.set_defaults(handler=cmd_pa_cancel)


# -- patients --------------------------------------------------------------------------------

def similar_warning(ctx: Context, session: Any, first: str, last: str, dob: str,
                    member_id: str) -> list[dict[str, Any]]:
    """Say (on stderr) which existing patients a new one looks like; ids only."""
    from app.services import patients
    found = patients.similar_patients(session, first, last, dob, member_id or "")
    for p, why in found:
        ctx.say(f"warning: looks like patient {p.id} ({why}); "
                f"merge later with `offhold patient merge {p.id} NEW` if it is the same")
    return [{"id": p.id, "reason": why} for p, why in found]


def cmd_patient_edit(args: argparse.Namespace, ctx: Context) -> int:
    from app.services import patients
    names = {"first": "first_name", "last": "last_name"}
    changes = {names.get(k, k): getattr(args, k) for k in
               ("first", "last", "dob", "sex", "phone", "email", "address", "timezone")
               if getattr(args, k) is not None}
    if not changes:
        raise UsageError("nothing to change: give --first, --dob, --phone…")
    p = patients.update_patient(ctx.session(), args.patient_id, **changes)
    ctx.emit(patients.patient_to_json(p), f"patient {p.id} updated")
    return 0


def cmd_patient_merge(args: argparse.Namespace, ctx: Context) -> int:
    from app.services import patients
    moved = patients.merge_patients(ctx.session(), args.keep, args.duplicate)
    ctx.emit({"kept": args.keep, "merged": args.duplicate, "moved": moved},
             f"patient {args.duplicate} merged into {args.keep}: "
             + (", ".join(f"{n} {t}" for t, n in sorted(moved.items())) or "nothing to move"))
    return 0


def cmd_patient_similar(args: argparse.Namespace, ctx: Context) -> int:
    from app.services import patients
    found = patients.similar_patients(ctx.session(), args.first, args.last, args.dob,
                                      args.member_id)
    ctx.emit([{"id": p.id, "reason": why} for p, why in found],
             "\n".join(f"{p.id:>6}  {p.display_name:<32} {p.dob}  {why}" for p, why in found)
             or "no similar patients")
    return 0


def _coverage_changes(args: argparse.Namespace) -> dict[str, Any]:
    pairs = (("group", "group_number"), ("plan", "plan_name"), ("priority", "priority"),
             ("subscriber", "subscriber_name"), ("relationship", "subscriber_relationship"),
             ("subscriber_dob", "subscriber_dob"),
             ("effective", "effective_date"), ("terminates", "termination_date"))
    return {field: getattr(args, flag) for flag, field in pairs
            if getattr(args, flag) is not None}


def cmd_coverage_add(args: argparse.Namespace, ctx: Context) -> int:
    from app.services import patients
    more = _coverage_changes(args)
    group = more.pop("group_number", "")
    plan = more.pop("plan_name", "")
    c = patients.add_coverage(ctx.session(), args.patient_id, args.payer, args.member_id,
                              group, plan, **more)
    ctx.emit({"id": c.id, "patient_id": c.patient_id, "payer": c.payer_name,
              "priority": c.priority}, f"coverage {c.id} added")
    return 0


def cmd_coverage_edit(args: argparse.Namespace, ctx: Context) -> int:
    from app.services import patients
    changes = _coverage_changes(args)
    if args.payer is not None:
        changes["payer"] = args.payer
    if args.member_id is not None:
        changes["member_id"] = args.member_id
    if args.inactive or args.active:
        changes["active"] = bool(args.active)
    if not changes:
        raise UsageError("nothing to change")
    c = patients.update_coverage(ctx.session(), args.coverage_id, **changes)
    ctx.emit({"id": c.id, "patient_id": c.patient_id, "payer": c.payer_name,
              "priority": c.priority, "active": c.active}, f"coverage {c.id} updated")
    return 0


# -- payers ----------------------------------------------------------------------------------

def cmd_payer_set(args: argparse.Namespace, ctx: Context) -> int:
    from app.services import patients, portal_credentials
    from automations.portal.install import set_payer_recipe
    session = ctx.session()
    payer = patients.find_payer(session, args.payer)
    changes = {k: v for k, v in (
        ("plan_type", args.plan_type), ("payer_code", args.code),
        ("decision_days_standard", args.decision_days),
        ("decision_hours_expedited", args.decision_hours),
        ("appeal_window_days", args.appeal_days),
        ("timely_filing_days", args.timely_filing_days),
        ("portal_url", args.portal_url)) if v is not None}
    if not changes and args.recipe is None and not (args.on or args.off):
        raise UsageError("nothing to change: give --recipe, --portal-url, --on, "
                         "--decision-days…")
    if changes:
        payer = patients.update_payer(session, payer.id, **changes)
    if args.recipe is not None:
        payer = set_payer_recipe(session, payer.id, args.recipe, args.recipes)
    if args.on or args.off:
        payer = portal_credentials.set_enabled(session, payer.id, bool(args.on))
    ctx.emit({"id": payer.id, "name": payer.name, "plan_type": payer.plan_type.value,
              "decision_days": payer.decision_days_standard,
              "portal_recipe": payer.portal_recipe, "portal_enabled": payer.portal_enabled,
              "portal_url": payer.portal_url},
             f"{payer.name}: {payer.plan_type.value}, recipe {payer.portal_recipe or '(none)'},"
             f" portal checks {'on' if payer.portal_enabled else 'off'}")
    return 0


# -- prior authorizations --------------------------------------------------------------------

def cmd_pa_edit(args: argparse.Namespace, ctx: Context) -> int:
    from app.services import prior_auth as pa_svc
    session = ctx.session()
    from ui.commands.pa import parse_services
    services = parse_services(args.service) or None
    if services and (args.cpt or args.units is not None):
        raise UsageError("give either --service lines or --cpt/--units, not both")
    pa = pa_svc.update_prior_auth(session, args.pa_id, services=services, cpt_code=args.cpt,
                                  units=args.units, service_date=args.service_date,
                                  payer_ref=args.ref)
    ctx.emit(pa_svc.pa_to_json(pa, pa_svc.practice_zone(session)), f"PA {pa.id} updated")
    return 0


def cmd_pa_cancel(args: argparse.Namespace, ctx: Context) -> int:
    from app.services import prior_auth as pa_svc
    session = ctx.session()
    pa = pa_svc.cancel_prior_auth(session, args.pa_id, args.reason)
    ctx.emit(pa_svc.pa_to_json(pa, pa_svc.practice_zone(session)), f"PA {pa.id} cancelled")
    return 0


# -- appointments and fees -------------------------------------------------------------------

def _appt_json(a: Any, tz: Any) -> dict[str, Any]:
    return {"id": a.id, "patient_id": a.patient_id,
            "start": a.start_at.astimezone(tz).isoformat(), "provider": a.provider,
            "visit_type": a.visit_type, "status": a.status}


def cmd_appt_add(args: argparse.Namespace, ctx: Context) -> int:
    from app.services import appointments, prior_auth
    session = ctx.session()
    a = appointments.add_appointment(session, args.patient, args.at, provider=args.provider,
                                     visit_type=args.visit_type)
    ctx.emit(_appt_json(a, prior_auth.practice_zone(session)), f"appointment {a.id}")
    return 0


def cmd_appt_reschedule(args: argparse.Namespace, ctx: Context) -> int:
    from app.services import appointments, prior_auth
    session = ctx.session()
    a = appointments.reschedule_appointment(session, args.appointment_id, args.at,
                                            provider=args.provider)
    ctx.emit(_appt_json(a, prior_auth.practice_zone(session)),
             f"appointment {a.id} moved")
    return 0


def cmd_appt_status(args: argparse.Namespace, ctx: Context) -> int:
    from app.services import appointments, prior_auth
    session = ctx.session()
    if args.status == "cancel":
        a = appointments.cancel_appointment(session, args.appointment_id)
    else:
        a = appointments.mark_no_show(session, args.appointment_id)
    ctx.emit(_appt_json(a, prior_auth.practice_zone(session)),
             f"appointment {a.id}: {a.status}")
    return 0


def cmd_appt_list(args: argparse.Namespace, ctx: Context) -> int:
    from datetime import date

    from app import clock
    from app.errors import ValidationError
    from app.services import appointments, prior_auth
    session = ctx.session()
    tz = prior_auth.practice_zone(session)
    try:
        first = date.fromisoformat(args.date) if args.date else \
            clock.now().astimezone(tz).date()
    except ValueError as exc:
        raise ValidationError(f"--date must be YYYY-MM-DD, got {args.date!r}") from exc
    rows = appointments.list_appointments(session, first, args.days)
    ctx.emit([_appt_json(a, tz) for a in rows], "\n".join(
        f"{a.id:>6}  {a.start_at.astimezone(tz):%Y-%m-%d %H:%M}  patient {a.patient_id:<6} "
        f"{a.visit_type:<16} {a.provider:<20} {a.status}" for a in rows) or "no visits")
    return 0


def cmd_fee_set(args: argparse.Namespace, ctx: Context) -> int:
    from app.services import appointments
    f = appointments.set_fee(ctx.session(), args.payer, args.visit_type, args.amount)
    ctx.emit({"payer": f.payer_name, "visit_type": f.visit_type,
              "allowed": None if args.amount.strip().lower() == "none"
              else str(f.allowed_amount)},
             f"{f.payer_name} {f.visit_type}: "
             + ("removed" if args.amount.strip().lower() == "none" else f"${f.allowed_amount}"))
    return 0


def cmd_fee_list(args: argparse.Namespace, ctx: Context) -> int:
    from app.services import appointments
    rows = appointments.list_fees(ctx.session())
    ctx.emit([{"payer": f.payer_name, "visit_type": f.visit_type,
               "allowed": str(f.allowed_amount)} for f in rows],
             "\n".join(f"{f.payer_name:<32} {f.visit_type:<20} ${f.allowed_amount}"
                       for f in rows) or "no fees set")
    return 0
