"""Queue commands: tasks list/show/approve/reject/snooze/escalate/edit, and mode set."""

from __future__ import annotations

import argparse
from datetime import datetime, timedelta, timezone
from typing import Any

from app import clock, queue
from app.reports import trust
from ui.context import Context, UsageError


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    tasks = sub.add_parser("tasks", parents=[common], help="the work queue").add_subparsers(
        dest="tasks_cmd", required=True)
    p = tasks.add_parser("list", parents=[common])
    p.add_argument("--kind", action="append", default=[])
    p.add_argument("--state", action="append", default=[])
    p.add_argument("--limit", type=int, default=200)
    p.set_defaults(handler=cmd_list)
    p = tasks.add_parser("show", parents=[common])
    p.add_argument("task_id", type=int)
    p.set_defaults(handler=cmd_show)
    p = tasks.add_parser("approve", parents=[common])
    p.add_argument("task_id", type=int)
    p.add_argument("--draft-file", help="approve with this edited draft")
    p.set_defaults(handler=cmd_approve)
    p = tasks.add_parser("reject", parents=[common])
    p.add_argument("task_id", type=int)
    p.add_argument("--reason", required=True)
    p.set_defaults(handler=cmd_reject)
    p = tasks.add_parser("snooze", parents=[common])
    p.add_argument("task_id", type=int)
    p.add_argument("--until", help="YYYY-MM-DD or ISO time (UTC); default: tomorrow")
    p.add_argument("--hours", type=float)
    p.set_defaults(handler=cmd_snooze)
    p = tasks.add_parser("escalate", parents=[common])
    p.add_argument("task_id", type=int)
    p.add_argument("--note", default="")
    p.set_defaults(handler=cmd_escalate)
    p = tasks.add_parser("verdict", parents=[common], help="shadow mode: what you would do")
    p.add_argument("task_id", type=int)
    p.add_argument("verdict", choices=list(queue.SHADOW_VERDICTS))
    p.set_defaults(handler=cmd_verdict)
    p = tasks.add_parser("trust", parents=[common], help="trust figures per kind")
    p.set_defaults(handler=cmd_trust)

    mode = sub.add_parser("mode", parents=[common], help="action modes per task kind"
                          ).add_subparsers(dest="mode_cmd", required=True)
    p = mode.add_parser("set", parents=[common])
    p.add_argument("kind")
    p.add_argument("mode", choices=["shadow", "approve_each", "automatic"])
    p.set_defaults(handler=cmd_mode_set)
    p = mode.add_parser("list", parents=[common])
    p.set_defaults(handler=cmd_mode_list)


def cmd_list(args: argparse.Namespace, ctx: Context) -> int:
    flt = queue.QueueFilter(kinds=tuple(args.kind),
                            states=tuple(args.state) or queue.QueueFilter().states)
    rows = queue.list_tasks(ctx.session(), flt, limit=args.limit)
    ctx.emit([queue.task_to_json(t) for t in rows],
             "\n".join(f"{t.id:>6} {t.state.value:<9} P{t.priority} {t.kind:<16} "
                       f"{clock.iso(t.due_at)[:16] if t.due_at else '-':<16} {t.title}"
                       for t in rows) or "no tasks")
    return 0


def cmd_show(args: argparse.Namespace, ctx: Context) -> int:
    task = queue.get_task(ctx.session(), args.task_id)
    ctx.emit(queue.task_to_json(task, full=True))
    return 0


def cmd_approve(args: argparse.Namespace, ctx: Context) -> int:
    draft = None
    if args.draft_file:
        with open(args.draft_file, encoding="utf-8") as fh:
            draft = fh.read()
    task = queue.approve(ctx.session(), args.task_id, draft)
    ctx.emit(queue.task_to_json(task), f"task {task.id}: {task.state.value}")
    return 0 if task.state.value != "failed" else 1


def cmd_reject(args: argparse.Namespace, ctx: Context) -> int:
    task = queue.reject(ctx.session(), args.task_id, args.reason)
    ctx.emit(queue.task_to_json(task), f"task {task.id}: {task.state.value}")
    return 0


def _parse_until(args: argparse.Namespace) -> datetime:
    if args.hours:
        return clock.now() + timedelta(hours=args.hours)
    if not args.until:
        return clock.now() + timedelta(days=1)
    try:
        value = datetime.fromisoformat(args.until)
    except ValueError as exc:
        raise UsageError(f"--until takes YYYY-MM-DD or an ISO time, not {args.until!r}") from exc
    return value if value.tzinfo else value.replace(tzinfo=timezone.utc)


def cmd_snooze(args: argparse.Namespace, ctx: Context) -> int:
    task = queue.snooze(ctx.session(), args.task_id, _parse_until(args))
    ctx.emit(queue.task_to_json(task), f"task {task.id}: snoozed")
    return 0


def cmd_escalate(args: argparse.Namespace, ctx: Context) -> int:
    task = queue.escalate(ctx.session(), args.task_id, args.note)
    ctx.emit(queue.task_to_json(task), f"task {task.id}: escalated to {task.role}")
    return 0


def cmd_verdict(args: argparse.Namespace, ctx: Context) -> int:
    task = queue.shadow_verdict(ctx.session(), args.task_id, args.verdict)
    ctx.emit(queue.task_to_json(task), f"task {task.id}: {args.verdict}")
    return 0


def cmd_trust(args: argparse.Namespace, ctx: Context) -> int:
    figures = trust.trust_figures(ctx.session())
    ctx.emit({k: vars(v) for k, v in figures.items()})
    return 0


def cmd_mode_set(args: argparse.Namespace, ctx: Context) -> int:
    mode = queue.set_mode(ctx.session(), args.kind, args.mode)
    ctx.say(f"{args.kind}: {mode.value}")
    return 0


def cmd_mode_list(args: argparse.Namespace, ctx: Context) -> int:
    modes = queue.all_modes(ctx.session())
    ctx.emit({k: v.value for k, v in modes.items()},
             "\n".join(f"{k:<18} {v.value}" for k, v in modes.items()))
    return 0
