"""`offhold import 837|fhir|csv FILE...`: claims from the billing system and records from
the EHR. The services check roles, validate, store in one transaction and audit; this
face reads files within the size caps and prints one line per file."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from app.errors import KnownError
from app.imports.common import ImportOutcome
from app.imports.files import read_import_file
from app.services import imports as import_service
from ui.context import Context, UsageError
from ui.commands.revenue import _import_subparsers


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    group = _import_subparsers(sub, common)
    p = _kind(group, common, "837", "837P/837I claims the billing system sent to the "
              "clearinghouse", "claims")
    p.add_argument("--lenient", action="store_true",
                   help="flag (not reject) envelope count and control-number mismatches")
    p.set_defaults(handler=cmd_import_837)
    p = _kind(group, common, "fhir", "FHIR R4 bundles (.json) or a bulk export (.ndjson "
              "files)", "records")
    p.set_defaults(handler=cmd_import_fhir)
    p = _kind(group, common, "csv", "CSV exports of the patient roster or the schedule",
              "rows")
    p.add_argument("--mapping", metavar="NAME",
                   help="the saved column mapping to use (saved on the first import)")
    p.add_argument("--target", choices=["patients", "appointments"],
                   help="what the export holds (needed when the mapping is new)")
    p.add_argument("--map", action="append", default=[], metavar="FIELD=COLUMN",
                   help="which column holds a field (repeatable); unmapped fields are "
                        "guessed from the headers")
    p.add_argument("--source", default="",
                   help="the system the export comes from, so a schedule's patient IDs "
                        "find that system's roster (default: the mapping's name)")
    p.add_argument("--date-format", default="", metavar="FMT",
                   help="strptime format of the dates, e.g. %%d.%%m.%%Y (default: "
                        "YYYY-MM-DD or MM/DD/YYYY)")
    p.add_argument("--preview", action="store_true",
                   help="show the first rows and the mapping; import nothing")
    p.set_defaults(handler=cmd_import_csv)


def _kind(group: Any, common: argparse.ArgumentParser, name: str, helptext: str,
          records: str) -> Any:
    p = group.add_parser(name, parents=[common], help=helptext)
    p.add_argument("files", nargs="+", metavar="FILE")
    p.add_argument("--skip-bad", action="store_true",
                   help=f"leave out bad {records} (listed, and audited) instead of refusing")
    source = p.add_mutually_exclusive_group()
    source.add_argument("--delete-source", action="store_true",
                        help="delete the file once its import is verified (it holds PHI the "
                             "vault now keeps); asked on a terminal when neither is given")
    source.add_argument("--keep-source", action="store_true",
                        help="keep the file without asking (the default without a terminal)")
    return p


def _read(path: str, kind: str) -> bytes:
    return read_import_file(Path(path), kind)  # refused by its size before it is read


def _report(ctx: Context, path: str, outcome: ImportOutcome) -> dict[str, Any]:
    ctx.say(f"{path}: {outcome.records} records: {outcome.created} new, {outcome.updated} "
            f"updated, {outcome.unchanged} unchanged"
            + (f", {len(outcome.skipped)} SKIPPED" if outcome.skipped else ""))
    for bad in outcome.skipped:
        ctx.say(f"  skipped {bad}")
    for finding in outcome.findings:
        ctx.say(f"  finding: {finding}")
    return {"file": path, **outcome.to_json()}


def _delete_source(args: argparse.Namespace, ctx: Context, kind: str,
                   outcome: ImportOutcome, paths: list[str]) -> bool:
    """Delete the imported files with --delete-source, or when the person at a terminal
    says yes; --keep-source and scripts keep them. The service deletes only after
    verifying the import (its row in the vault, the files' hash), and audits it."""
    if args.keep_source or outcome.import_id is None:
        return False
    if outcome.skipped:  # the skipped records exist only in the file
        ctx.say(f"  kept: {len(outcome.skipped)} record(s) were skipped and exist only in "
                "the file")
        return False
    if not args.delete_source:
        isatty = getattr(ctx.stdin, "isatty", None)
        if isatty is None or not isatty():
            return False
        names = ", ".join(Path(p).name for p in paths)
        sys.stderr.write(f"{names}: imported and verified. Delete the file(s)? They hold "
                         "PHI the vault now keeps. [y/N] ")
        sys.stderr.flush()
        if ctx.stdin.readline().strip().lower() not in ("y", "yes"):
            return False
    try:
        deleted = import_service.delete_imported_files(ctx.session(), kind,
                                                       outcome.import_id,
                                                       [Path(p) for p in paths])
    except KnownError as exc:
        ctx.say(f"  kept: {exc}")
        return False
    ctx.say(f"  deleted {deleted} file(s) after verifying the import")
    return True


def _each_file(args: argparse.Namespace, ctx: Context, kind: str, run: Any) -> int:
    ctx.session()  # log in once, before any file is read
    results: list[dict[str, Any]] = []
    failed = 0
    for path in args.files:
        try:
            outcome = run(path)
            results.append(_report(ctx, path, outcome))
            results[-1]["source_deleted"] = _delete_source(args, ctx, kind, outcome, [path])
        except KnownError as exc:  # one bad file does not stop the others
            failed += 1
            results.append({"file": path, "rejected": str(exc)})
            ctx.say(f"{path}: REJECTED, nothing imported: {exc}")
    ctx.emit(results, "\n".join(f"{r['file']}: {'rejected' if 'rejected' in r else 'ok'}"
                                for r in results))
    return 1 if failed else 0


def cmd_import_837(args: argparse.Namespace, ctx: Context) -> int:
    def run(path: str) -> ImportOutcome:
        return import_service.import_837(ctx.session(), _read(path, "837"),
                                         skip_bad=args.skip_bad, lenient=args.lenient)
    return _each_file(args, ctx, "837", run)


def cmd_import_fhir(args: argparse.Namespace, ctx: Context) -> int:
    """All the files in one import (a bulk export's files refer to each other)."""
    session = ctx.session()
    try:
        files = [(Path(path).name, _read(path, "fhir")) for path in args.files]
        outcome = import_service.import_fhir(session, files, skip_bad=args.skip_bad)
    except KnownError as exc:
        ctx.say(f"REJECTED, nothing imported: {exc}")
        ctx.emit({"files": args.files, "rejected": str(exc)}, "rejected")
        return 1
    data = _report(ctx, ", ".join(args.files) if len(args.files) < 4
                   else f"{len(args.files)} files", outcome)
    data["source_deleted"] = _delete_source(args, ctx, "fhir", outcome, list(args.files))
    ctx.emit(data, "ok")
    return 0


def _overrides(pairs: list[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for pair in pairs:
        name, sep, column = pair.partition("=")
        if not sep or not name.strip() or not column.strip():
            raise UsageError(f"--map takes FIELD=COLUMN, not {pair[:40]!r}")
        out[name.strip()] = column.strip()
    return out


def _mapping_for(args: argparse.Namespace, ctx: Context, first_file: bytes
                 ) -> import_service.Mapping | None:
    """The saved mapping, updated by --map; or a new one from the headers and --map."""
    session = ctx.session()
    saved = import_service.get_mapping(session, args.mapping) if args.mapping else None
    overrides = _overrides(args.map)
    if saved is not None and not overrides:
        return saved
    target = args.target or (saved.target if saved else None)
    if target is None:
        if args.preview:
            return None
        raise UsageError(f"the mapping {args.mapping!r} is new: say what the export holds "
                         "with --target patients|appointments")
    columns = dict(saved.columns) if saved else dict(
        import_service.preview_csv(session, first_file, target=target, rows=1)["suggested"])
    columns.update(overrides)
    if args.preview or not args.mapping:
        return import_service.Mapping(args.mapping or "preview", target, columns,
                                      args.source, args.date_format)
    mapping = import_service.save_mapping(session, args.mapping, target, columns,
                                          source=args.source or (saved.source if saved
                                                                 else ""),
                                          date_format=args.date_format or (
                                              saved.date_format if saved else ""))
    ctx.say(f"saved mapping {mapping.name!r} ({mapping.target}, source "
            f"{mapping.source!r}): " + ", ".join(f"{k}={v!r}" for k, v in
                                                 mapping.columns.items()))
    return mapping


def cmd_import_csv(args: argparse.Namespace, ctx: Context) -> int:
    session = ctx.session()
    first = _read(args.files[0], "csv")
    if not args.preview and not args.mapping:
        raise UsageError("name the column mapping with --mapping NAME (see the columns "
                         "first with --preview)")
    mapping = _mapping_for(args, ctx, first)
    if args.preview:
        shown = import_service.preview_csv(session, first, mapping,
                                           target=args.target or "patients")
        text = [f"columns: {', '.join(shown['headers'])}",
                "suggested mapping: " + " ".join(f"--map {k}={v!r}" for k, v in
                                                 shown["suggested"].items())]
        text += ["first rows:"] + [f"  {row}" for row in shown["rows"]]
        if "mapped" in shown:
            text += ["as OffHold reads them:"] + [f"  {row}" for row in shown["mapped"]]
            text += [f"  problem: {p}" for p in shown["problems"]]
        ctx.emit(shown, "\n".join(text))
        return 0
    assert mapping is not None

    def run(path: str) -> ImportOutcome:
        data = first if path == args.files[0] else _read(path, "csv")
        return import_service.import_csv(session, data, mapping.name, skip_bad=args.skip_bad,
                                         file_name=Path(path).name)
    return _each_file(args, ctx, "csv", run)
