"""`offhold outbox send|list|retry|resolve|replies|reply-list|set-password`: the outbox that
sends approved outreach and records the patients' replies.

`send` runs once over the configured channels (email, the texting vendor's CSV folder,
printed letters); `offhold run` and the desktop send on a schedule too.
"""

from __future__ import annotations

import argparse
import os
from typing import Any

from ui.context import Context, UsageError


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    box = sub.add_parser("outbox", parents=[common], help="send approved messages"
                         ).add_subparsers(dest="outbox_cmd", required=True)
    p = box.add_parser("send", parents=[common],
                       help="send what is ready now (quiet hours and opt-outs enforced)")
    p.set_defaults(handler=cmd_outbox_send)
    p = box.add_parser("list", parents=[common],
                       help="queued, sending, sent, failed (with the reason), cancelled")
    p.add_argument("--state", choices=["ready", "sent", "failed", "cancelled"])
    p.set_defaults(handler=cmd_outbox_list)
    p = box.add_parser("retry", parents=[common],
                       help="queue failed messages again (several ids: an outage's messages)")
    p.add_argument("outbox_ids", type=int, nargs="+", metavar="outbox_id")
    p.set_defaults(handler=cmd_outbox_retry)
    p = box.add_parser("resolve", parents=[common],
                       help="after checking an interrupted send: it went out, or it did not")
    p.add_argument("outbox_id", type=int)
    went = p.add_mutually_exclusive_group(required=True)
    went.add_argument("--sent", action="store_true", help="it went out: record it as sent")
    went.add_argument("--not-sent", action="store_true", help="it did not: send it again")
    p.set_defaults(handler=cmd_outbox_resolve)
    p = box.add_parser("replies", parents=[common],
                       help="record patients' replies: the texting vendor's replies export "
                            "(CSV) or a saved email (.eml); without FILE, the configured "
                            "replies folder and mailbox")
    p.add_argument("files", nargs="*", metavar="FILE")
    p.set_defaults(handler=cmd_outbox_replies)
    p = box.add_parser("reply-list", parents=[common],
                       help="recorded replies, newest first, with what each did")
    p.add_argument("--message", type=int, help="only the replies to this outbox message")
    p.set_defaults(handler=cmd_outbox_reply_list)
    p = box.add_parser("set-password", parents=[common],
                       help="keep the SMTP password in the vault (from OFFHOLD_SMTP_PASSWORD "
                            "or the next line of stdin); --imap: the IMAP password (from "
                            "OFFHOLD_IMAP_PASSWORD or stdin)")
    p.add_argument("--imap", action="store_true", help="the replies mailbox's password")
    p.set_defaults(handler=cmd_outbox_set_password)


def cmd_outbox_send(args: argparse.Namespace, ctx: Context) -> int:
    from automations.outbox import send_outbox
    report = send_outbox(ctx.session())
    ctx.say(f"outbox: {len(report.sent)} sent, {len(report.failed)} failed (see the "
            f"tasks), {len(report.cancelled)} cancelled (opted out), {len(report.held)} held")
    for channel, task_id in sorted(report.outages.items()):
        ctx.say(f"  the {channel} channel is down: task {task_id} lists what waits")
    for outbox_id, why in sorted(report.held.items()):
        ctx.say(f"  held {outbox_id}: {why}")
    ctx.emit(report.to_json(), "\n".join(str(i) for i in report.sent) or "nothing sent")
    return 1 if report.failed else 0


def cmd_outbox_list(args: argparse.Namespace, ctx: Context) -> int:
    from app.services.outbox import list_messages
    rows = list_messages(ctx.session(), args.state)
    shown = [{k: v for k, v in r.items() if k != "body"} for r in rows]
    ctx.emit(shown, "\n".join(
        f"{r['id']:>5} task {r['task_id']:>5} {r['channel']:<6} {r['kind']:<20} "
        f"{r['status']:<9} {(r['sent_at'] or '')[:16]:<16} "
        f"{r['last_error'] if r['status'] in ('failed', 'cancelled') else ''}".rstrip()
        for r in rows) or "outbox empty")
    return 0


def cmd_outbox_retry(args: argparse.Namespace, ctx: Context) -> int:
    from app.services.outbox import retry_messages
    rows = retry_messages(ctx.session(), args.outbox_ids)  # all of them, or none
    for row in rows:
        ctx.say(f"outbox message {row['id']} is queued again; it goes with the next send")
    ctx.emit([{"id": r["id"], "state": r["state"]} for r in rows] if len(rows) > 1
             else {"id": rows[0]["id"], "state": rows[0]["state"]},
             "\n".join(str(r["id"]) for r in rows))
    return 0


def cmd_outbox_resolve(args: argparse.Namespace, ctx: Context) -> int:
    from app.services.outbox import resolve_interrupted
    row = resolve_interrupted(ctx.session(), args.outbox_id, went_out=args.sent)
    ctx.say(f"outbox message {row['id']} is now {row['status']}")
    ctx.emit({"id": row["id"], "state": row["state"]}, str(row["id"]))
    return 0


def cmd_outbox_set_password(args: argparse.Namespace, ctx: Context) -> int:
    from app.services.outbox import IMAP_PASSWORD, SMTP_PASSWORD, set_secret
    session = ctx.session()  # the user's own password is read first
    what, name = ("IMAP", IMAP_PASSWORD) if args.imap else ("SMTP", SMTP_PASSWORD)
    variable = f"OFFHOLD_{what}_PASSWORD"
    password = os.environ.get(variable) or ctx.stdin.readline().rstrip("\r\n")
    if not password:
        raise UsageError(f"no {what} password: set {variable} or give it on stdin")
    set_secret(session, name, password)
    ctx.say(f"{what} password kept in the vault")
    return 0


def cmd_outbox_replies(args: argparse.Namespace, ctx: Context) -> int:
    from pathlib import Path

    from automations.outbox import read_replies
    paths = [Path(f) for f in args.files]
    for path in paths:
        if not path.is_file():
            raise UsageError(f"no such file: {path}")
    run = read_replies(ctx.session(), paths or None)
    r = run.report
    ctx.say(f"replies: {len(r.recorded)} recorded ({r.duplicates} already recorded), "
            f"{len(r.booked)} booked, {len(r.declined)} declined, {len(r.opted_out)} opted "
            f"out, {len(r.tasks)} for a person (tasks)"
            + (f"; {run.failed} source(s) could not be read (a task each)" if run.failed
               else ""))
    ctx.emit(run.to_json(), "\n".join(str(i) for i in r.recorded) or "no new replies")
    return 1 if run.failed else 0


def cmd_outbox_reply_list(args: argparse.Namespace, ctx: Context) -> int:
    from app.services.replies import list_replies
    rows = list_replies(ctx.session(), args.message)
    ctx.emit(rows, "\n".join(
        f"{r['id']:>5} outbox {r['outbox_id'] or '-':>5} {r['channel']:<5} "
        f"{r['received_at'][:16]:<16} {r['intent']:<5} {r['outcome']}".rstrip()
        for r in rows) or "no replies")
    return 0
