"""Demo seed: the outbox. The practice owner approves a few of the outreach drafts the
workflows made (two texts and an email); approval's declared effect queues each one in
the outbox, and the scheduler's send run (`send_outbox`, as the `outbox-send` job runs
it) hands them to the channels the demo practice has set up: the texting vendor's import
CSV, written to `outbox-sms/` beside the demo vault. The demo sets up no email server, so
the email waits in the outbox as 'ready' (as a practice's does until it configures SMTP).
Quiet hours hold at send time: a demo built at night keeps its texts ready too, and the
desktop's scheduler sends them once the hours allow."""

from __future__ import annotations

import random

from app import queue
from app.domain import TaskState
from app.identity import Session
from app.queue import effects
from app.services import practice
from automations.jobs.outbox_jobs import OUTBOX_ID
from automations.outbox import send_outbox

ORDER = 90
SMS_FOLDER = "outbox-sms"
APPROVE = {"sms": 2, "email": 1}  # channel -> how many drafts the owner approves


def seed(session: Session, rng: random.Random) -> None:
    del rng
    if "outreach" not in effects.installed().kinds:
        from automations.wiring import wire
        wire()  # a bare build_demo() (the faces wire it themselves)
    folder = session.vault.directory / SMS_FOLDER
    folder.mkdir(mode=0o700, exist_ok=True)
    practice.set_setting(session, "sms_export_dir", str(folder))
    wanted = dict(APPROVE)
    for task in queue.list_tasks(session, queue.QueueFilter(kinds=("outreach",))):
        channel = str(task.payload.get("channel", ""))
        if task.state is not TaskState.PENDING or not wanted.get(channel):
            continue
        queue.approve(session, task.id)
        wanted[channel] -= 1
    send_outbox(Session.system(session.vault, OUTBOX_ID))
