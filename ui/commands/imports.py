"""`offhold import 837|fhir|csv FILE...`: claims from the billing system and records from
the EHR. The services check roles, validate, store in one transaction and audit; this
face reads files within the size caps and prints one line per file."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from app.errors import KnownError
from app.imports.common import ImportOutcome
from app.services import imports as import_service
from ui.context import Context, UsageError
from ui.commands.revenue import _import_subparsers


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    group = _import_subparsers(sub, common)
    p = group.add_parser("837", parents=[common],
                         help="837P/837I claims the billing system sent to the clearinghouse")
    p.add_argument("files", nargs="+", metavar="FILE")
    p.add_argument("--skip-bad", action="store_true",
                   help="leave out bad claims (listed, and audited) instead of refusing")
    p.add_argument("--lenient", action="store_true",
                   help="flag (not reject) envelope count and control-number mismatches")
    p.set_defaults(handler=cmd_import_837)
    p = group.add_parser("fhir", parents=[common],
                         help="FHIR R4 bundles (.json) or a bulk export (.ndjson files)")
    p.add_argument("files", nargs="+", metavar="FILE")
    p.add_argument("--skip-bad", action="store_true",
                   help="leave out bad records (listed, and audited) instead of refusing")
    p.set_defaults(handler=cmd_import_fhir)


def _read(path: str, cap: int) -> bytes:
    try:
        size = Path(path).stat().st_size
        if size > cap:  # refused before the file is read into memory
            import_service.check_size(size, cap, "file")
        return Path(path).read_bytes()
    except OSError as exc:
        raise UsageError(f"cannot read {path}: {exc.strerror}") from exc


def _report(ctx: Context, path: str, outcome: ImportOutcome) -> dict[str, Any]:
    ctx.say(f"{path}: {outcome.records} records: {outcome.created} new, {outcome.updated} "
            f"updated, {outcome.unchanged} unchanged"
            + (f", {len(outcome.skipped)} SKIPPED" if outcome.skipped else ""))
    for bad in outcome.skipped:
        ctx.say(f"  skipped {bad}")
    for finding in outcome.findings:
        ctx.say(f"  finding: {finding}")
    return {"file": path, **outcome.to_json()}


def _each_file(args: argparse.Namespace, ctx: Context, run: Any) -> int:
    ctx.session()  # log in once, before any file is read
    results: list[dict[str, Any]] = []
    failed = 0
    for path in args.files:
        try:
            results.append(_report(ctx, path, run(path)))
        except KnownError as exc:  # one bad file does not stop the others
            failed += 1
            results.append({"file": path, "rejected": str(exc)})
            ctx.say(f"{path}: REJECTED, nothing imported: {exc}")
    ctx.emit(results, "\n".join(f"{r['file']}: {'rejected' if 'rejected' in r else 'ok'}"
                                for r in results))
    return 1 if failed else 0


def cmd_import_837(args: argparse.Namespace, ctx: Context) -> int:
    from app.x12.tokenizer import MAX_X12_BYTES

    def run(path: str) -> ImportOutcome:
        return import_service.import_837(ctx.session(), _read(path, MAX_X12_BYTES),
                                         skip_bad=args.skip_bad, lenient=args.lenient)
    return _each_file(args, ctx, run)


def cmd_import_fhir(args: argparse.Namespace, ctx: Context) -> int:
    """All the files in one import (a bulk export's files refer to each other)."""
    session = ctx.session()
    files = [(Path(path).name, _read(path, import_service.LIMITS.max_ndjson_bytes))
             for path in args.files]
    try:
        outcome = import_service.import_fhir(session, files, skip_bad=args.skip_bad)
    except KnownError as exc:
        ctx.say(f"REJECTED, nothing imported: {exc}")
        ctx.emit({"files": args.files, "rejected": str(exc)}, "rejected")
        return 1
    data = _report(ctx, ", ".join(args.files) if len(args.files) < 4
                   else f"{len(args.files)} files", outcome)
    ctx.emit(data, "ok")
    return 0
