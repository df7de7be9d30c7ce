"""The outbox send job: every few minutes, whatever is ready and allowed now goes out,
and the patients' replies are read in.
A module-level callable with no arguments, like every job in the vault's job store."""

from __future__ import annotations

import logging

from app.identity import Session
from automations.jobs.runtime import running
from automations.outbox import read_replies, send_outbox

log = logging.getLogger(__name__)

OUTBOX_ID = "outbox-send"
OUTBOX_MINUTES = 10


def outbox_send() -> None:
    """Send ready messages; failures become tasks (in the service), quiet hours hold.
    Then record the replies that came back (the vendor's export folder, the mailbox)."""
    with running() as rt:
        system = Session.system(rt.vault, OUTBOX_ID)
        report = send_outbox(system)
        if report.sent or report.failed:
            log.info("outbox-send: %d sent, %d failed", len(report.sent), len(report.failed))
        replies = read_replies(system)
        if replies.report.recorded or replies.failed:
            log.info("outbox-send: %d replies recorded, %d sources failed",
                     len(replies.report.recorded), replies.failed)
