"""`offhold model list|import FILE|verify|use NAME --for KIND|test [NAME]`."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from ui.context import Context


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    model = sub.add_parser("model", parents=[common], help="local language models"
                           ).add_subparsers(dest="model_cmd", required=True)
    p = model.add_parser("list", parents=[common], help="registered models")
    p.set_defaults(handler=cmd_list)
    p = model.add_parser("import", parents=[common], help="import a GGUF model file")
    p.add_argument("file")
    p.add_argument("--name", help="registry name (default: from the file name)")
    p.set_defaults(handler=cmd_import)
    p = model.add_parser("verify", parents=[common],
                         help="re-check every model's SHA-256 and re-run its self-test")
    p.set_defaults(handler=cmd_verify)
    p = model.add_parser("use", parents=[common], help="choose the model for a task kind")
    p.add_argument("name")
    p.add_argument("--for", dest="task_kind", default="default",
                   help="task kind (e.g. intake_review, outreach) or 'default'")
    p.set_defaults(handler=cmd_use)
    p = model.add_parser("test", parents=[common], help="stream a short test generation")
    p.add_argument("name", nargs="?")
    p.set_defaults(handler=cmd_test)


def _line(m: Any) -> str:
    from app.services.models import model_to_json
    data = model_to_json(m)
    rate = data["grounding_pass_rate"]
    grounding = "-" if rate is None else f"{rate:.0%} of {data['grounding_checks']}"
    tag = " [bundled]" if m.bundled else ""
    used = ",".join(m.used_for) or "-"
    return (f"{m.name}{tag}\n  sha256 {m.sha256}\n  size {m.size / 1e6:.0f} MB, context "
            f"{m.context_length or '?'}, licence {m.license}\n  used for {used}; grounding "
            f"pass rate {grounding}" + (f"\n  note: {m.note}" if m.note else ""))


def cmd_list(args: argparse.Namespace, ctx: Context) -> int:
    from app.services.models import model_to_json
    from automations.workflows import models as flow
    from local_models.registry import RECOMMENDATION
    rows = flow.list_models(ctx.session())
    ctx.emit({"models": [model_to_json(m) for m in rows], "recommendation": RECOMMENDATION},
             "\n".join(_line(m) for m in rows) + f"\n\n{RECOMMENDATION}")
    return 0


def cmd_import(args: argparse.Namespace, ctx: Context) -> int:
    from app.services.models import model_to_json
    from automations.workflows import models as flow
    rec = flow.import_model(ctx.session(), Path(args.file), args.name)
    ctx.emit(model_to_json(rec), _line(rec))
    return 0


def cmd_verify(args: argparse.Namespace, ctx: Context) -> int:
    from automations.workflows import models as flow
    checks = flow.verify_models(ctx.session())
    ctx.emit([vars(c) for c in checks],
             "\n".join(f"{'ok  ' if c.ok else 'FAIL'} {c.name}: {c.message}" for c in checks))
    return 0 if all(c.ok for c in checks) else 1


def cmd_use(args: argparse.Namespace, ctx: Context) -> int:
    from app.services import models as service
    from automations.workflows import models as flow
    session = ctx.session()
    flow.ensure_bundled(session)
    rec = service.set_active(session, args.task_kind, args.name)
    ctx.emit(service.model_to_json(rec), f"{args.task_kind}: {rec.name}")
    return 0


def cmd_test(args: argparse.Namespace, ctx: Context) -> int:
    from automations.workflows import models as flow
    stream = not ctx.json

    def show(token: str) -> None:
        sys.stdout.write(token)
        sys.stdout.flush()

    session = ctx.session()
    try:
        flow.ensure_usable(session, flow.test_target(session, args.name))
    except flow.ModelUnavailable as exc:
        ctx.say(f"model test: {exc}; run 'offhold model verify' to re-test it")
        return 1
    test = flow.start_model_test(session, args.name, on_token=show if stream else None)
    try:
        result = test.wait()
    except KeyboardInterrupt:
        test.cancel()
        raise
    if stream:
        print()
    ctx.say(f"{test.model.name}: {result.completion_tokens} tokens in {result.duration_s:.2f}s"
            f" (first token {result.ttft_s or 0:.2f}s, {result.tokens_per_s:.0f} tokens/s), "
            f"run {test.run_id}")
    if ctx.json:
        ctx.emit({"model": test.model.name, "text": result.text, "run_id": test.run_id,
                  "tokens": result.completion_tokens, "duration_s": result.duration_s,
                  "ttft_s": result.ttft_s, "finish": result.finish_reason})
    return 0
