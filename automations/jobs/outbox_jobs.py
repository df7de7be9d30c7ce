"""The outbox send job: every few minutes, whatever is ready and allowed now goes out.
A module-level callable with no arguments, like every job in the vault's job store."""

from __future__ import annotations

import logging

from app.identity import Session
from automations.jobs.runtime import running
from automations.outbox import send_outbox

log = logging.getLogger(__name__)

OUTBOX_ID = "outbox-send"
OUTBOX_MINUTES = 10


def outbox_send() -> None:
    """Send ready messages; failures become tasks (in the service), quiet hours hold."""
    with running() as rt:
        report = send_outbox(Session.system(rt.vault, OUTBOX_ID))
        if report.sent or report.failed:
            log.info("outbox-send: %d sent, %d failed", len(report.sent), len(report.failed))
