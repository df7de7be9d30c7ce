"""`offhold intake import FILE [--patient ID]` and `offhold outreach draft`.

Both print the new task's ID. What approving their tasks does is declared on the kinds
and wired by automations/wiring.py.
"""

from __future__ import annotations

import argparse
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from ui.context import Context, UsageError


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    intake = sub.add_parser("intake", parents=[common], help="intake forms").add_subparsers(
        dest="intake_cmd", required=True)
    p = intake.add_parser("import", parents=[common],
                          help="process a form (PDF or text; '-' reads stdin) into a review task")
    p.add_argument("file")
    p.add_argument("--patient", type=int, help="the patient this form belongs to")
    p.add_argument("--no-model", action="store_true", help="deterministic summary only")
    p.set_defaults(handler=cmd_intake_import)
    p = intake.add_parser("show", parents=[common], help="the review view of an intake task")
    p.add_argument("task_id", type=int)
    p.set_defaults(handler=cmd_intake_show)

    out = sub.add_parser("outreach", parents=[common], help="patient outreach"
                         ).add_subparsers(dest="outreach_cmd", required=True)
    p = out.add_parser("draft", parents=[common], help="draft a message as an outreach task")
    p.add_argument("--patient", type=int, required=True)
    p.add_argument("--kind", required=True,
                   choices=["no_show", "cancellation_rebook", "waitlist_offer",
                            "care_gap_reminder", "pa_delay", "balance_notice"])
    p.add_argument("--channel", choices=["sms", "email"], default="sms")
    p.add_argument("--when", help="appointment or slot time, ISO (UTC unless an offset)")
    p.add_argument("--amount", default="", help="balance notices: the amount, e.g. $45.00")
    p.add_argument("--no-model", action="store_true", help="template only")
    p.set_defaults(handler=cmd_outreach_draft)
    # Approved messages are listed by `offhold outbox list` (one command for the outbox).


def cmd_intake_import(args: argparse.Namespace, ctx: Context) -> int:
    import sys

    from app.imports.files import read_capped
    from app.intake import source
    from automations.workflows.intake import import_intake
    if args.file == "-":  # one byte over the cap is enough for the import to refuse it
        data, name = sys.stdin.buffer.read(source.MAX_BYTES + 1), "stdin"
    else:
        path = Path(args.file)
        if not path.is_file():
            raise UsageError(f"no such file: {path}")
        data, name = read_capped(path, source.MAX_BYTES), path.name  # never a whole huge file
    out = import_intake(ctx.session(), data, name, patient_id=args.patient,
                        use_model=not args.no_model)
    r = out.result
    ctx.say(f"intake task {out.task.id} ({'new' if out.created else 'already imported'}), "
            f"{r.source_kind.value}, {len(r.values)} values, flags: "
            f"{', '.join(sorted({f.code for f in r.flags})) or 'none'}; summary from "
            f"{r.summary_origin}" + (f"; eligibility re-check task {out.eligibility_task.id}"
                                     if out.eligibility_task else ""))
    ctx.emit({"task_id": out.task.id, "created": out.created,
              "eligibility_task_id": out.eligibility_task.id if out.eligibility_task else None,
              "flags": [f.code for f in r.flags]}, str(out.task.id))
    return 0


def cmd_intake_show(args: argparse.Namespace, ctx: Context) -> int:
    from app.services import intake as service
    view = service.review(ctx.session(), args.task_id)
    r = view.result
    ctx.emit({"task_id": view.task.id, "state": view.task.state.value,
              "source_kind": r.source_kind.value, "fields": view.fields,
              "summary": r.summary, "summary_origin": r.summary_origin,
              "model_summary": r.model_summary,
              "flags": [vars(f) for f in r.flags],
              "discrepancies": [vars(d) for d in r.discrepancies],
              "stated_none": [vars(v) for v in r.stated_none],
              "highlights": [vars(h) for h in view.highlights],
              "source_text": r.source_text})
    return 0


def cmd_outreach_draft(args: argparse.Namespace, ctx: Context) -> int:
    from automations.workflows.outreach import draft_outreach
    when = None
    if args.when:
        try:
            when = datetime.fromisoformat(args.when)
        except ValueError as exc:
            raise UsageError(f"--when takes an ISO time, not {args.when!r}") from exc
        when = when if when.tzinfo else when.replace(tzinfo=timezone.utc)
    out = draft_outreach(ctx.session(), args.patient, args.kind, args.channel, when=when,
                         amount=args.amount, use_model=not args.no_model)
    m = out.message
    ctx.say(f"outreach task {out.task.id} ({'new' if out.created else 'existing'}): "
            f"{m.channel.value}, grade {m.grade:g}, {len(m.body)} chars"
            + ("" if m.tcpa_exempt else ", NOT TCPA-exempt (billing)")
            + (f"; checks: {', '.join(c.code for c in m.checks)}" if m.checks else ""))
    ctx.emit({"task_id": out.task.id, "created": out.created, "channel": m.channel.value,
              "tcpa_exempt": m.tcpa_exempt, "checks": [vars(c) for c in m.checks]},
             str(out.task.id))
    return 0

