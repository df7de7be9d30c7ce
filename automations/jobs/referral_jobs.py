"""The daily referral loop check (a module-level callable, like every job in the vault's
job store): late steps of outbound referrals become follow-up tasks."""

from __future__ import annotations

import logging

from app.identity import Session
from automations.jobs.runtime import running
from automations.workflows.referrals import check_referral_loops

log = logging.getLogger(__name__)

REFERRAL_LOOPS_ID = "referral-loops"
REFERRAL_LOOPS_LOCAL_HOUR = 7  # before the front desk starts calling


def referral_loops() -> None:
    with running() as rt:
        created = check_referral_loops(Session.system(rt.vault, REFERRAL_LOOPS_ID))
        log.info("referral-loops: %s follow-up tasks", len(created))
