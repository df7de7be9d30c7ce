"""Charge capture verification: compare what the chart documents with what the claims
bill, per encounter (patient and date of service), and put each finding in the biller's
queue as a `charge_review` task with both sides side by side. The findings and their
natural keys come from the pure rules in app.charges.rules; this module reads through
app.services.charges and queues, in one write transaction.

A task already made for a finding (any state: a reviewed finding stays reviewed) is left
alone, so the nightly run creates nothing new for what it has seen; an open task whose
finding is no longer found in the span is closed (rejected, with the reason). Approval runs
`app.services.charges.mark_reviewed`; no claim is ever edited.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from app import clock, queue
from app.charges.crosswalk import Crosswalk, load_crosswalk
from app.charges.rules import EM_CODES, Thresholds, review
from app.identity import Session
from app.services import charges, practice
from app.services.prior_auth import practice_zone
from automations.workflows.specs import queue_spec

log = logging.getLogger(__name__)


@dataclass
class ChargeReviewResult:
    encounters: int = 0
    findings: int = 0
    created: list[int] = field(default_factory=list)
    closed: list[int] = field(default_factory=list)  # findings that went away


def thresholds(session: Session) -> Thresholds:
    return Thresholds(em_min_visits=int(practice.get_setting(session, "charge_em_min_visits")),
                      em_max_share=float(practice.get_setting(session, "charge_em_max_share")))


def _outlier_still_billed(key: str, billed_em: set[tuple[str, str, str]]) -> bool:
    """An E/M outlier finding whose visit still bills that level. Whether a level is rare
    depends on the provider's other visits in the span, not on this visit: as the span
    moves, a provider's count can fall under the minimum (or the level's share rise),
    and the finding would be closed as 'the claim or the chart has changed' when
    nothing about this visit did (and, already made, never be raised again)."""
    parts = key.split(":")  # charge:{patient}:{date}:{flag}:{code}[:{provider key}]
    return len(parts) >= 5 and parts[3] == "em_outlier" and \
        (parts[1], parts[2], parts[4]) in billed_em


def review_charges(session: Session, *, start: date | None = None, end: date | None = None,
                   crosswalk: Crosswalk | None = None) -> ChargeReviewResult:
    """Review dates of service in [start, end] (local dates; default: the last
    `charge_review_days` up to today) and queue a task per new finding."""
    now: datetime = clock.now()
    today = now.astimezone(practice_zone(session)).date()
    end = end or today
    start = start or end - timedelta(days=int(practice.get_setting(session,
                                                                   "charge_review_days")))
    encounters = charges.charge_encounters(session, start, end)  # checks claim.manage
    specs = review(encounters, crosswalk or load_crosswalk(), now, thresholds(session))
    result = ChargeReviewResult(encounters=len(encounters), findings=len(specs))
    keys = {spec.natural_key for spec in specs}
    with session.vault.write():
        for spec in specs:
            task, created = queue_spec(session, spec)
            if created:
                result.created.append(task.id)
        # A finding no longer found (the claim corrected, the chart completed) closes its
        # task, so the biller never works one that is already fixed.
        billed_em = {(str(enc.patient_id), enc.on.isoformat(), line.code)
                     for enc in encounters for line in enc.billed if line.code in EM_CODES}
        for task_id, key in charges.open_findings(session, start, end):
            if key not in keys and not _outlier_still_billed(key, billed_em):
                queue.reject(session, task_id, "closed by the charge check: the finding is "
                                               "gone (the claim or the chart has changed)")
                result.closed.append(task_id)
    log.info("charge review: %s encounters, %s findings, %s new tasks, %s closed",
             result.encounters, result.findings, len(result.created), len(result.closed))
    return result
