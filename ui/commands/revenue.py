"""Revenue-cycle commands: import 835/271/277 files, eligibility requests (270) and
patient-responsibility estimates."""

from __future__ import annotations

import argparse
import sys
from datetime import date
from pathlib import Path
from typing import Any

from app.denials.view import claim_summary
from app.errors import KnownError
from app.imports.files import read_import_file
from app.services import eligibility as eligibility_service
from app.services import remittance as remittance_service
from automations.workflows import claim_status, denials, eligibility
from ui.context import Context, UsageError


def _import_subparsers(sub: Any, common: argparse.ArgumentParser) -> Any:
    """The shared `offhold import` group: other areas may add their own kinds to it, so
    reuse it when another module registered it first."""
    parser = sub.choices.get("import")
    if parser is None:
        parser = sub.add_parser("import", parents=[common], help="import files")
        group = parser.add_subparsers(dest="import_kind", metavar="KIND")
        group.required = True
        parser.offhold_group = group
        return group
    group = getattr(parser, "offhold_group", None)
    if group is None:  # registered without the attribute: find its subparsers action
        group = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
        parser.offhold_group = group
    return group


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    group = _import_subparsers(sub, common)
    for kind, handler, helptext in (
            ("835", cmd_import_835, "835 remittance advice (ERA) files"),
            ("271", cmd_import_271, "271 eligibility responses"),
            ("277", cmd_import_277, "277 claim status responses / 277CA")):
        p = group.add_parser(kind, parents=[common], help=helptext)
        p.add_argument("files", nargs="+", metavar="FILE")
        p.add_argument("--lenient", action="store_true",
                       help="flag (not reject) envelope count and control-number mismatches")
        p.set_defaults(handler=handler)

    elig = sub.add_parser("eligibility", parents=[common], help="eligibility (270/271)"
                          ).add_subparsers(dest="eligibility_cmd", required=True)
    p = elig.add_parser("request", parents=[common], help="write a 270 for the clearinghouse")
    p.add_argument("--patient", type=int, required=True)
    p.add_argument("--date", required=True, help="date of service, YYYY-MM-DD")
    p.add_argument("--out", help="file or folder to write the 270 to (default: stdout)")
    p.set_defaults(handler=cmd_eligibility_request)
    p = elig.add_parser("show", parents=[common], help="the latest 271 for a patient")
    p.add_argument("--patient", type=int, required=True)
    p.set_defaults(handler=cmd_eligibility_show)
    p = elig.add_parser("check", parents=[common], help="check upcoming visits now")
    p.add_argument("--days", type=int, default=1)
    p.set_defaults(handler=cmd_eligibility_check)

    p = sub.add_parser("estimate", parents=[common], help="patient-responsibility estimate")
    p.add_argument("--patient", type=int, required=True)
    p.add_argument("--visit-type", required=True)
    p.set_defaults(handler=cmd_estimate)

    den = sub.add_parser("denial", parents=[common], help="denial drafts"
                         ).add_subparsers(dest="denial_cmd", required=True)
    p = den.add_parser("export", parents=[common], help="write a denial task's letter PDF")
    p.add_argument("task_id", type=int)
    p.add_argument("--out", required=True, help="file or folder (the PDF holds PHI)")
    p.set_defaults(handler=cmd_denial_export)

    remit = sub.add_parser("remit", parents=[common], help="imported remittances"
                           ).add_subparsers(dest="remit_cmd", required=True)
    p = remit.add_parser("list", parents=[common])
    p.set_defaults(handler=cmd_remit_list)
    p = remit.add_parser("show", parents=[common])
    p.add_argument("remittance_id", type=int)
    p.set_defaults(handler=cmd_remit_show)
    p = remit.add_parser("claim", parents=[common], help="one remitted claim: every "
                         "adjustment group, patient responsibility, line-level adjustments")
    p.add_argument("remit_claim_id", type=int)
    p.set_defaults(handler=cmd_remit_claim)


def _read(path: str) -> bytes:
    return read_import_file(Path(path), "x12")  # refused by its size before it is read


def _run_imports(args: argparse.Namespace, ctx: Context, fn: Any) -> int:
    session = ctx.session()
    results = []
    failed = 0
    for path in args.files:
        try:
            result = fn(session, _read(path), lenient=args.lenient)
        except KnownError as exc:  # one bad file does not stop the others
            failed += 1
            results.append({"file": path, "rejected": str(exc)})
            ctx.say(f"{path}: REJECTED, nothing imported: {exc}")
            continue
        data = {"file": path, **result.to_json()}
        results.append(data)
        ctx.say(f"{path}: {result.stored} new, {result.duplicates} already imported, "
                f"{result.claims} claims, {result.denials} denials, "
                f"{len(result.tasks)} tasks"
                + (f", {len(result.issues)} BALANCE PROBLEM(S)" if result.issues else "")
                + (f", {len(result.findings)} finding(s)" if result.findings else ""))
        for issue in result.issues:
            ctx.say(f"  imbalance: {issue}")
        for finding in result.findings:
            ctx.say(f"  finding: {finding}")
    ctx.emit(results, "\n".join(f"{r['file']}: {'rejected' if 'rejected' in r else 'ok'}"
                                for r in results))
    return 1 if failed else 0


def cmd_import_835(args: argparse.Namespace, ctx: Context) -> int:
    return _run_imports(args, ctx, denials.import_835_file)


def cmd_import_271(args: argparse.Namespace, ctx: Context) -> int:
    return _run_imports(args, ctx, eligibility.import_271_file)


def cmd_import_277(args: argparse.Namespace, ctx: Context) -> int:
    return _run_imports(args, ctx, claim_status.import_277_file)


def cmd_eligibility_request(args: argparse.Namespace, ctx: Context) -> int:
    try:
        when = date.fromisoformat(args.date)
    except ValueError as exc:
        raise UsageError(f"--date takes YYYY-MM-DD, not {args.date!r}") from exc
    session = ctx.session()
    if args.out:
        trace, where = eligibility_service.request_eligibility(
            session, args.patient, when, eligibility_service.FileDropClearinghouse(
                Path(args.out)))
        ctx.emit({"trace": trace, "written": where}, f"270 written to {where} (trace {trace})")
        return 0

    class _Stdout:
        name = "stdout"

        def submit_270(self, data: bytes, reference: str) -> str:
            sys.stdout.write(data.decode("ascii"))
            return "stdout"

    eligibility_service.request_eligibility(session, args.patient, when, _Stdout())
    return 0


def cmd_eligibility_check(args: argparse.Namespace, ctx: Context) -> int:
    ids = eligibility.check_upcoming_visits(ctx.session(), days_ahead=args.days)
    ctx.emit({"tasks": ids}, f"{len(ids)} eligibility gap task(s)")
    return 0


def cmd_estimate(args: argparse.Namespace, ctx: Context) -> int:
    est = eligibility_service.estimate_for_visit(ctx.session(), args.patient, args.visit_type)
    ctx.emit(est.to_json(), est.text())
    return 0


def cmd_remit_list(args: argparse.Namespace, ctx: Context) -> int:
    rows = remittance_service.list_remittances(ctx.session())
    ctx.emit(rows, "\n".join(
        f"{r['id']:>5} {r['payer'][:28]:<28} trace {r['trace_number']:<16} ${r['payment']:>10} "
        f"{r['claims']:>4} claims {r['denials']:>3} denials"
        + ("" if r["balanced"] else "  UNBALANCED") for r in rows) or "no remittances")
    return 0


def cmd_remit_show(args: argparse.Namespace, ctx: Context) -> int:
    data = remittance_service.remittance_summary(ctx.session(), args.remittance_id)
    head = (f"{data['payer']} trace {data['trace_number']} ${data['payment']} on "
            f"{data['payment_date'] or '?'}" + ("" if data["balanced"] else "  UNBALANCED"))
    rows = [f"{c['id']:>5} {c['claim_number']:<16} {c['status_text'][:24]:<24} "
            f"paid ${c['paid']:>9}  patient ${c['patient_responsibility']:>8}  "
            + (f"{c['scope_label']}: {c['category_label']}, {c['next_action_label']}"
               + (f", appeal by {c['appeal_deadline_text']}" if c["appeal_deadline"] else "")
               if c["denial"] else c["next_action_label"])
            for c in data["claims"]]
    ctx.emit(data, "\n".join([head, *rows]))
    return 0


def remit_claim_text(d: dict[str, Any]) -> str:
    """The biller's view of one remitted claim: every adjustment group together, what
    the patient owes, and which adjustments are on a line (codes only, no CPT text)."""
    head, *rest = claim_summary(d)
    out = [head, *(f"  {line}" for line in rest)]
    for g in d["groups"]:
        out.append(f"  {g['label']}: ${g['total']}")
        for a in g["adjustments"]:
            where = f"line {a['line']}" if a["line_level"] else "claim level"
            out.append(f"    {a['code']:<8} ${a['amount']:>9}  {where:<14} {a['reason'][:70]}")
    out += [f"  remark {r['code']}: {r['text'][:80]}" for r in d["remarks"]]
    return "\n".join(out)


def cmd_remit_claim(args: argparse.Namespace, ctx: Context) -> int:
    data = remittance_service.remit_claim_detail(ctx.session(), args.remit_claim_id)
    ctx.emit(data, remit_claim_text(data))
    return 0


def cmd_denial_export(args: argparse.Namespace, ctx: Context) -> int:
    path = remittance_service.export_letter(ctx.session(), args.task_id, Path(args.out))
    ctx.emit({"written": str(path)}, f"letter written to {path}")
    return 0


def cmd_eligibility_show(args: argparse.Namespace, ctx: Context) -> int:
    data = eligibility_service.show_eligibility(ctx.session(), args.patient)
    elig = data["eligibility"]
    if elig is None:
        text = "no eligibility response on file"
    else:
        state = {True: "ACTIVE", False: "INACTIVE", None: "unknown"}[elig["active"]]
        text = "\n".join([f"{elig['payer']} {elig['plan']} (group {elig['group'] or '-'}): "
                          f"{state}, received {elig['received_at'][:10]}"]
                         + [f"  rejected: {r['code']} {r['reason']}" for r in elig["rejections"]]
                         + [f"  {line}" for line in data["lines"]])
    ctx.emit(data, text)
    return 0
