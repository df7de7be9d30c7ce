"""`offhold waitlist add|list|run`: the waitlist that fills freed slots.

`run` does now what the scheduler does every 15 minutes: rebook drafts for missed visits
and late cancellations, and a slot offer to the best waitlisted patient for each freed
slot. A patient's yes is recorded by approving the offer's `waitlist_hold` task (in the
desktop, or `offhold tasks approve ID`), which books the slot.
"""

from __future__ import annotations

import argparse
from datetime import date
from typing import Any

from ui.context import Context


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    wl = sub.add_parser("waitlist", parents=[common], help="the waitlist for freed slots"
                        ).add_subparsers(dest="waitlist_cmd", required=True)
    p = wl.add_parser("add", parents=[common], help="put a patient on the waitlist")
    p.add_argument("--patient", type=int, required=True)
    p.add_argument("--from", dest="earliest", type=date.fromisoformat, required=True,
                   help="earliest date, YYYY-MM-DD")
    p.add_argument("--to", dest="latest", type=date.fromisoformat, required=True,
                   help="latest date, YYYY-MM-DD")
    p.add_argument("--provider", default="", help="only this provider (default: any)")
    p.add_argument("--visit-type", default="", help="only this visit type (default: any)")
    p.add_argument("--days", default="", help="preferred days, e.g. mon,wed")
    p.add_argument("--times", default="", help="preferred times: morning,afternoon,evening")
    p.set_defaults(handler=cmd_waitlist_add)
    p = wl.add_parser("list", parents=[common], help="who is waiting")
    p.set_defaults(handler=cmd_waitlist_list)
    p = wl.add_parser("run", parents=[common],
                      help="rebook drafts and slot offers now (the scheduler's job)")
    p.set_defaults(handler=cmd_waitlist_run)


def _split(text: str) -> list[str]:
    return [t.strip().lower() for t in text.split(",") if t.strip()]


def cmd_waitlist_add(args: argparse.Namespace, ctx: Context) -> int:
    from app.services.waitlist import add_entry
    entry_id = add_entry(ctx.session(), args.patient, args.earliest, args.latest,
                         provider=args.provider, visit_type=args.visit_type,
                         preferred_days=_split(args.days), preferred_times=_split(args.times))
    ctx.say(f"waitlist entry {entry_id} added")
    ctx.emit({"id": entry_id}, str(entry_id))
    return 0


def cmd_waitlist_list(args: argparse.Namespace, ctx: Context) -> int:
    from app.services.waitlist import list_entries
    rows = [{"id": e.id, "patient_id": e.patient_id, "earliest": e.earliest.isoformat(),
             "latest": e.latest.isoformat(), "provider": e.provider,
             "visit_type": e.visit_type, "days": list(e.preferred_days),
             "times": list(e.preferred_times)} for e in list_entries(ctx.session())]
    ctx.emit(rows, "\n".join(
        f"{r['id']:>5} patient {r['patient_id']:>5} {r['earliest']}..{r['latest']} "
        f"{r['provider'] or 'any provider'} {r['visit_type'] or 'any visit'}"
        for r in rows) or "nobody is waiting")
    return 0


def cmd_waitlist_run(args: argparse.Namespace, ctx: Context) -> int:
    from automations.workflows.no_show import run_now
    summary = run_now(ctx.session())
    ctx.say(f"rebook drafts {summary.rebooks_created} ({summary.repeat_flagged} repeat "
            f"no-shows), slot offers {summary.offers_created}, offers closed "
            f"{summary.offers_closed}, unreachable {summary.unreachable}")
    ctx.emit(summary.to_json(), str(summary.rebooks_created + summary.offers_created))
    return 0
