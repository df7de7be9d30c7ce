"""`offhold care-gaps check`: the nightly preventive care-gap check, now.

Rules are the files in resources/care_gaps/*.yaml (checked against their schema when
read); open gaps become care_gap tasks with a reminder draft, met ones close.
"""

from __future__ import annotations

import argparse
from typing import Any

from ui.context import Context


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    cg = sub.add_parser("care-gaps", parents=[common], help="preventive care gaps"
                        ).add_subparsers(dest="care_gaps_cmd", required=True)
    p = cg.add_parser("check", parents=[common],
                      help="evaluate every rule for every patient now (the nightly job)")
    p.set_defaults(handler=cmd_care_gaps_check)


def cmd_care_gaps_check(args: argparse.Namespace, ctx: Context) -> int:
    from automations.workflows.care_gaps import run_now
    summary = run_now(ctx.session())
    ctx.say(f"care gaps: {summary.open_gaps} open in {summary.patients} patients, tasks "
            f"created {summary.tasks_created}, closed {summary.tasks_closed}, cooling down "
            f"{summary.cooling_down}, no message channel {summary.no_channel}")
    ctx.emit(summary.to_json(), str(summary.tasks_created))
    return 0
