"""The nightly charge capture check (a module-level callable, like every job in the
vault's job store): yesterday's and earlier encounters against their claims."""

from __future__ import annotations

import logging

from app.identity import Session
from automations.jobs.runtime import running
from automations.workflows.charge_review import review_charges

log = logging.getLogger(__name__)

CHARGE_REVIEW_ID = "charge-review"
CHARGE_REVIEW_LOCAL_HOUR = 2  # after the day's charges are entered, before the biller starts


def charge_review() -> None:
    with running() as rt:
        result = review_charges(Session.system(rt.vault, CHARGE_REVIEW_ID))
        log.info("charge-review: %s new tasks", len(result.created))
