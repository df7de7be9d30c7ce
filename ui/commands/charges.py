"""`offhold charges check [--from DATE] [--to DATE]`: compare documented services with
billed claim lines and queue a charge_review task per new finding (biller, owner)."""

from __future__ import annotations

import argparse
from datetime import date
from typing import Any

from ui.context import Context, iso_day


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    charges = sub.add_parser("charges", parents=[common], help="charge capture verification"
                             ).add_subparsers(dest="charges_cmd", required=True)
    p = charges.add_parser("check", parents=[common],
                           help="documented vs billed, per encounter; findings become tasks")
    p.add_argument("--from", dest="start", help="first date of service (YYYY-MM-DD)")
    p.add_argument("--to", dest="end", help="last date of service (YYYY-MM-DD; default today)")
    p.set_defaults(handler=cmd_charges_check)


def _day(text: str | None) -> date | None:
    return iso_day(text, "--from/--to")


def cmd_charges_check(args: argparse.Namespace, ctx: Context) -> int:
    from automations.workflows.charge_review import review_charges
    result = review_charges(ctx.session(), start=_day(args.start), end=_day(args.end))
    ctx.emit({"encounters": result.encounters, "findings": result.findings,
              "tasks": result.created, "closed": result.closed},
             f"{result.encounters} encounter(s), {result.findings} finding(s), "
             f"{len(result.created)} new charge_review task(s), {len(result.closed)} closed "
             "(finding gone)")
    return 0
