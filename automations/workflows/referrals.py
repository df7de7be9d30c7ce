"""Referral triage and loop closure.

Incoming: `import_referral` reads a FHIR ServiceRequest (or a Bundle of them), a C-CDA
referral note or a letter (a PDF, scan or text through the intake reader), matches the
practice's patient, applies the practice's triage rules (app.referrals.triage, pure) and,
in one write transaction, stores each referral (keyed by source and the source's own id)
with its referral_triage task (natural key `referral:in:{referral_id}`); a re-import
creates nothing. Approving the task runs `app.services.referrals.apply_triage`.

Outbound: `check_referral_loops` (the scheduler, daily) turns each late step of an open
outbound referral into a referral_followup task (`referral:out:{id}:overdue:{step}`,
app.referrals.loop), noted on the referral's trail; an open follow-up whose step has
since been recorded is closed.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass, field

from app import clock, queue
from app.identity import Session, require
from app.referrals import IncomingReferral
from app.referrals.loop import overdue
from app.referrals.sources import detect, read_ccda, read_letter, read_service_requests
from app.referrals.triage import TriageRules, load_rules, triage, triage_task
from app.services import referrals
from app.services.prior_auth import practice_zone
from automations.workflows.specs import queue_spec

log = logging.getLogger(__name__)
MIME = {"ccda": "application/xml", "fhir": "application/fhir+json"}


@dataclass
class ReferralImportResult:
    kind: str
    referrals: list[int] = field(default_factory=list)
    tasks: list[int] = field(default_factory=list)
    duplicates: int = 0
    unmatched: int = 0


def read_referrals(data: bytes, filename: str = "") -> tuple[str, list[IncomingReferral],
                                                             str]:
    """(kind, referrals, mime of the source) from a file's bytes; ImportRejected names the
    problem. Nothing is written."""
    kind = detect(data)
    if kind == "ccda":
        return kind, [read_ccda(data)], MIME[kind]
    if kind == "fhir":
        return kind, read_service_requests(data), MIME[kind]
    from app.intake.source import read_source  # bounded: PDFs and scans in a worker
    doc = read_source(data, filename)
    digest = "sha256:" + hashlib.sha256(data).hexdigest()[:32]
    return kind, [read_letter(doc.text, digest)], doc.mime


def import_referral(session: Session, data: bytes, filename: str = "", *,
                    rules: TriageRules | None = None) -> ReferralImportResult:
    """Read, triage and queue the referrals in one file (one write transaction)."""
    require(session, "referral.manage")
    kind, found, mime = read_referrals(data, filename)
    rules = rules or load_rules()
    now = clock.now()
    today = now.astimezone(practice_zone(session)).date()
    result = ReferralImportResult(kind)
    planned = []
    for ref in found:
        patient_id, plan_type, payer = referrals.match_patient(session, ref)
        planned.append((ref, patient_id, triage(ref, rules, plan_type=plan_type,
                                                payer_name=payer)))
    with session.vault.write() as conn:
        for ref, patient_id, decision in planned:
            referral_id, created = referrals.store_incoming(session, conn, ref, patient_id,
                                                            decision)
            result.referrals.append(referral_id)
            if not created:
                result.duplicates += 1
                continue
            result.unmatched += patient_id is None
            spec = triage_task(referral_id, ref, decision, now, today, patient_id=patient_id)
            task, _created = queue_spec(session, spec, [queue.NewEvidence(
                "Source document", excerpt=f"{kind} ({mime})", blob=data, mime=mime)])
            referrals.link_task(session, conn, referral_id, task.id)
            result.tasks.append(task.id)
    log.info("referral import (%s): %s referrals, %s tasks, %s already stored", kind,
             len(result.referrals), len(result.tasks), result.duplicates)
    return result


def check_referral_loops(session: Session) -> list[int]:
    """A referral_followup task for each late step of an open outbound referral; returns
    the ids of the tasks created (a step already followed up is not repeated)."""
    days = referrals.loop_days(session)
    now = clock.now()
    created_ids: list[int] = []
    late = [(ref, f) for ref in referrals.open_outbound(session)
            if (f := overdue(ref, now, days)) is not None]
    stale = referrals.stale_followups(session)
    with session.vault.write() as conn:
        for task_id in stale:  # the step came after all: nobody needs to chase it
            queue.reject(session, task_id, "closed by the referral check: the step has "
                                           "been recorded")
        for ref, follow in late:
            task, created = queue_spec(session, follow)
            if created:
                referrals.note_overdue(session, conn, ref.referral_id,
                                       str(follow.payload["step"]), task.id)
                created_ids.append(task.id)
    log.info("referral loops: %s late steps, %s new follow-ups, %s closed", len(late),
             len(created_ids), len(stale))
    return created_ids
