"""`offhold report monthly --month 2026-11 --out FILE.pdf [--phi-appendix]` (owner only)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from ui.context import Context


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    report = sub.add_parser("report", parents=[common], help="the practice's reports"
                            ).add_subparsers(dest="report_cmd", required=True)
    p = report.add_parser("monthly", parents=[common],
                          help="the owner's monthly PDF (de-identified unless --phi-appendix)")
    p.add_argument("--month", required=True, help="YYYY-MM, e.g. 2026-11")
    p.add_argument("--out", required=True, help="the PDF file to write")
    p.add_argument("--phi-appendix", action="store_true",
                   help="add the owner-only appendix with patient identifiers (audited)")
    p.set_defaults(handler=cmd_report_monthly)


def cmd_report_monthly(args: argparse.Namespace, ctx: Context) -> int:
    from app.services import reports
    year, month = reports.parse_month(args.month)
    out = reports.export_monthly_report(ctx.session(), year, month, Path(args.out),
                                        phi_appendix=args.phi_appendix)
    ctx.say(f"monthly report for {args.month} written to {out}"
            + (" (with the PHI appendix: keep it safe)" if args.phi_appendix else
               " (de-identified)"))
    ctx.emit({"file": str(out), "month": args.month, "phi_appendix": args.phi_appendix},
             str(out))
    return 0
