"""`offhold referral ...`: incoming referrals (import: FHIR ServiceRequest, C-CDA note,
letter), outbound ones (send, step), the loop check, and `show ID`: what happened to a
referral (its steps, what is due, its tasks, its audit trail)."""

from __future__ import annotations

import argparse
from datetime import datetime
from pathlib import Path
from typing import Any

from ui.context import Context, UsageError

STEP_CHOICES = ("scheduled", "seen", "report_received")


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    ref = sub.add_parser("referral", parents=[common], help="referral triage and loop closure"
                         ).add_subparsers(dest="referral_cmd", required=True)
    p = ref.add_parser("import", parents=[common],
                       help="an incoming referral (FHIR JSON, C-CDA XML, letter PDF/text)")
    p.add_argument("file")
    p.add_argument("--no-model", action="store_true",
                   help="no model summary (the summary from the fields only)")
    p.set_defaults(handler=cmd_import)
    p = ref.add_parser("send", parents=[common], help="record an outbound referral as sent")
    p.add_argument("--patient", type=int, required=True)
    p.add_argument("--to", required=True, help="the specialist or organisation")
    p.add_argument("--specialty", default="")
    p.add_argument("--reason", default="")
    p.add_argument("--urgency", default="routine",
                   choices=["routine", "soon", "urgent", "emergent"])
    p.set_defaults(handler=cmd_send)
    p = ref.add_parser("step", parents=[common], help="record the next step of an outbound "
                                                      "referral")
    p.add_argument("referral_id", type=int)
    p.add_argument("step", choices=STEP_CHOICES)
    p.add_argument("--at", help="when it happened (YYYY-MM-DD[ HH:MM], practice time; "
                                "default now)")
    p.add_argument("--visit", help="scheduled: the booked visit (YYYY-MM-DD[ HH:MM])")
    p.add_argument("--note", default="")
    p.set_defaults(handler=cmd_step)
    p = ref.add_parser("show", parents=[common], help="what happened to this referral")
    p.add_argument("referral_id", type=int)
    p.set_defaults(handler=cmd_show)
    p = ref.add_parser("list", parents=[common], help="referrals, newest first")
    p.add_argument("--direction", choices=["in", "out"])
    p.add_argument("--open", action="store_true", help="only referrals still in progress")
    p.set_defaults(handler=cmd_list)
    p = ref.add_parser("check", parents=[common],
                       help="late referral steps become follow-up tasks (the daily job)")
    p.set_defaults(handler=cmd_check)


def _when(session: Any, text: str | None) -> datetime | None:
    if text is None:
        return None
    from app.services.prior_auth import practice_zone
    try:
        value = datetime.fromisoformat(text)
    except ValueError as exc:
        raise UsageError(f"not a date or time (YYYY-MM-DD[ HH:MM]): {text!r}") from exc
    return value if value.tzinfo else value.replace(tzinfo=practice_zone(session))


def cmd_import(args: argparse.Namespace, ctx: Context) -> int:
    from app.imports.files import read_capped
    from app.referrals import sources
    from automations.workflows.referrals import import_referral
    path = Path(args.file)
    if not path.is_file():
        raise UsageError(f"no such file: {args.file}")
    data = read_capped(path, sources.MAX_REFERRAL_BYTES)  # a huge file never reaches memory
    result = import_referral(ctx.session(), data, path.name, use_model=not args.no_model)
    ctx.emit({"kind": result.kind, "referrals": result.referrals, "tasks": result.tasks,
              "duplicates": result.duplicates, "unmatched": result.unmatched},
             f"{result.kind}: {len(result.referrals)} referral(s), {len(result.tasks)} new "
             f"triage task(s), {result.duplicates} already imported"
             + (f", {result.unmatched} with no matching patient" if result.unmatched else ""))
    return 0


def cmd_send(args: argparse.Namespace, ctx: Context) -> int:
    from app.services import referrals
    rid = referrals.send_referral(ctx.session(), args.patient, args.to,
                                  specialty=args.specialty, reason=args.reason,
                                  urgency=args.urgency)
    ctx.emit({"id": rid, "status": "sent"}, f"referral {rid} sent")
    return 0


def cmd_step(args: argparse.Namespace, ctx: Context) -> int:
    from app.services import referrals
    session = ctx.session()
    state = referrals.record_step(session, args.referral_id, args.step,
                                  at=_when(session, args.at),
                                  appointment_at=_when(session, args.visit), note=args.note)
    ctx.emit(state, f"referral {args.referral_id}: {args.step}"
             + (f"; next step due {state['due_at']}" if state["due_at"] else "; loop closed"))
    return 0


def cmd_show(args: argparse.Namespace, ctx: Context) -> int:
    from app.services import referrals
    h = referrals.referral_history(ctx.session(), args.referral_id)
    lines = [f"Referral {h['id']} ({'incoming' if h['direction'] == 'in' else 'outbound'}, "
             f"{h['urgency'] or 'no urgency'}): {h['status']}",
             f"  {'from' if h['direction'] == 'in' else 'to'}: {h['counterpart'] or '-'}"
             f"  specialty: {h['specialty'] or '-'}  patient id: {h['patient_id'] or '-'}"]
    if h["next_step"] or h["due_at"]:  # an incoming referral's triage or visit too
        lines.append(f"  next: {h['due_for'] or h['next_step']} due {h['due_at'] or '-'}"
                     + (f"  OVERDUE by {h['days_late']} day(s)" if h["overdue"] else ""))
    doc = h["source_document"]
    if doc:
        lines.append(f"  source document: {doc['mime']}, {doc['size']:,} bytes"
                     + (f", shared with referral(s) "
                        f"{', '.join(str(r) for r in doc['referrals'] if r != h['id'])}"
                        if len(doc["referrals"]) > 1 else ""))
    if h["suggested"]:
        lines.append(f"  triage suggested: {h['suggested']['action']} "
                     f"({h['suggested']['reason']})")
    lines.append("Steps:")
    lines += [f"  {s['at']}  {s['step']:<18} by {s['actor']}"
              + (f"  due {s['due']}{' LATE' if s['late'] else ''}" if s["due"] else "")
              + (f"  ({s['note']})" if s["note"] else "") for s in h["steps"]]
    lines.append("Tasks:")
    for t in h["tasks"]:
        lines.append(f"  #{t['id']} {t['kind']} [{t['state']}] {t['title']}")
        lines += [f"      {d['ts']}  {d['action']} by {d['actor']}"
                  + (f": {d['note']}" if d["note"] else "") for d in t["decisions"]
                  if d["action"] not in ("create", "view")]
    if not h["tasks"]:
        lines.append("  none")
    lines.append("Audit trail:")
    lines += [f"  {a['ts']}  {a['action']:<18} {a['actor']:<12} {a['object']}"
              for a in h["audit"]]
    ctx.emit(h, "\n".join(lines))
    return 0


def cmd_list(args: argparse.Namespace, ctx: Context) -> int:
    from app.services import referrals
    rows = referrals.list_referrals(ctx.session(), direction=args.direction,
                                    open_only=args.open)
    text = "\n".join(f"{r['id']:>5} {r['direction']:<3} {r['status']:<18} "
                     f"{(r['urgency'] or '-'):<9} {r['counterpart'][:30]:<30} due "
                     f"{r['due_at'] or '-'}{'  OVERDUE' if r['overdue'] else ''}"
                     for r in rows) or "no referrals"
    ctx.emit(rows, text)
    return 0


def cmd_check(args: argparse.Namespace, ctx: Context) -> int:
    from automations.workflows.referrals import check_referral_loops
    created = check_referral_loops(ctx.session())
    ctx.emit({"tasks": created}, f"{len(created)} referral follow-up task(s)")
    return 0
