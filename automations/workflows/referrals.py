"""Referral triage and loop closure.

Incoming: `import_referral` reads a FHIR ServiceRequest (or a Bundle of them), a C-CDA
referral note or a letter (a PDF, scan or text through the intake reader), matches the
practice's patient, applies the practice's triage rules (app.referrals.triage, pure) and,
in one write transaction, stores each referral (keyed by source and the source's own id)
with its referral_triage task (natural key `referral:in:{referral_id}`); a re-import
creates nothing. Approving the task runs `app.services.referrals.apply_triage`.

The file is stored once (one blob, however many referrals a bundle holds, and found again
by its SHA-256 on a re-import); each referral and each task's "Source document" evidence
points at it.

A letter or a C-CDA narrative may be summarised by the local model (the intake path's
model, runtime and grounding check): each sentence of its summary is kept only when every
claim in it is found in the source text, and the rest are dropped with the reason. The
summary from the extracted fields is always on the task, and the triage rule reads only
the extracted fields. A model marked slow or broken is never called; the task then says
so (automations.workflows.models.template_notice).

Loops: `check_referral_loops` (the scheduler, daily) turns each late step of an open
outbound referral into a referral_followup task (`referral:out:{id}:overdue:{step}`,
app.referrals.loop), and each incoming referral whose triage was decided and whose visit
is still not booked past the triage's "schedule within N days" into one too
(`referral:in:{id}:overdue:scheduled`), each noted on the referral's trail; an open
follow-up whose step has since been recorded (or whose incoming referral was declined) is
closed.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass, field

from app import clock, queue
from app.identity import Session, require
from app.imports.worker import read_referral_bounded
from app.referrals import IncomingReferral
from app.referrals.loop import incoming_overdue, overdue
from app.referrals.sources import detect, read_letter
from app.referrals.summary import (
    MODEL_SOURCES,
    SummaryOutcome,
    deterministic_summary,
    fact_values,
    negation_problems,
    relation_problems,
    sentences,
)
from app.referrals.triage import TriageRules, load_rules, triage, triage_task
from app.services import models as model_service
from app.services import referrals
from app.services.prior_auth import practice_zone
from automations.workflows import models as model_flow
from automations.workflows.specs import queue_spec
from local_models import grounding
from local_models.runtime import ModelRuntime

log = logging.getLogger(__name__)
MIME = {"ccda": "application/xml", "fhir": "application/fhir+json"}
TASK_KIND = "referral_triage"
SUMMARY_PROMPT = "referral_summary"
# The source text given to the model is capped so prompt + answer fit a 4k context (as
# for intake); the grounding check reads the whole text shown on the task.
MODEL_SOURCE_CHARS = 6000
# The verbs a referral summary is phrased with ("Dr. Ames refers the patient to…"), which a
# letter's labels ("Referred to:", "Referring provider:") do not always spell the same
# way; in the strict check only these are added to the source's own words.
REFERRAL_PHRASING = "refers referred referral referring"


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
    if kind in MIME:  # parsed in a worker bounded in memory, CPU and wall time
        return kind, read_referral_bounded(kind, data), MIME[kind]
    from app.intake.source import read_source  # bounded: PDFs and scans in a worker
    doc = read_source(data, filename)
    digest = "sha256:" + hashlib.sha256(data).hexdigest()[:32]
    return kind, [read_letter(doc.text, digest)], doc.mime


def summarise(session: Session, ref: IncomingReferral, patient_id: int | None, *,
              use_model: bool = True, runtime: ModelRuntime | None = None) -> SummaryOutcome:
    """The referral's summary: from the fields always; for a letter or a C-CDA narrative
    also the model's, sentence by sentence through the grounding check. The model runs
    in the worker process (run_structured), outside any write transaction."""
    source = ref.excerpt or ref.reason
    out = SummaryOutcome(source, deterministic_summary(ref))
    out.fact_spans = sorted({span for _label, value in fact_values(ref)
                             for span in grounding.find_text(source, value)})
    if not use_model or ref.source not in MODEL_SOURCES or not source.strip():
        return out
    out.asked = True
    try:
        run = model_flow.run_structured(
            session, TASK_KIND, SUMMARY_PROMPT,
            untrusted={"referral_letter": source[:MODEL_SOURCE_CHARS]},
            subject=f"referral:{ref.source}:{ref.source_id}"[:200], patient_id=patient_id,
            runtime=runtime)
    except model_flow.ModelUnavailable as exc:
        out.notice = model_flow.template_notice(exc)
        return out
    out.model = run.model.name
    if not run.result.ok or run.result.data is None:
        out.notice = ("The model's output was invalid twice ("
                      + "; ".join(run.result.errors[:3]) + ").")
        return out
    out.model_draft = str(run.result.data.get("summary", "")).strip()
    kept: list[str] = []
    spans: set[tuple[int, int]] = set()
    for sentence in sentences(out.model_draft):
        report = grounding.check_text(sentence, source, allowed=(REFERRAL_PHRASING,),
                                      strict=True, noun="the sentence", where="the referral")
        facts = [c for c in report.claims if c.grounded]
        swapped = relation_problems(sentence, ref) + negation_problems(sentence, source)
        if report.passed and facts and not swapped:
            kept.append(sentence)
            out.checked += len(report.claims)
            spans.update(s for c in facts for s in c.source_spans if s[0] >= 0)
            continue
        why = report.reasons + swapped + [
            f"it contains instruction or approval language ('{p}')" for p in report.injection]
        out.dropped.append((sentence, "; ".join(why) or "it states no fact from the "
                                                         "referral"))
    model_service.set_run_grounding(session, run.last_run_id, bool(kept) and not out.dropped)
    out.text, out.spans = " ".join(kept), sorted(spans)
    if not kept:
        out.notice = "No sentence of the model's summary passed the grounding check."
    return out


def import_referral(session: Session, data: bytes, filename: str = "", *,
                    rules: TriageRules | None = None, use_model: bool = True,
                    runtime: ModelRuntime | None = None) -> ReferralImportResult:
    """Read, triage and queue the referrals in one file (one write transaction; the model,
    when asked, runs before it)."""
    require(session, "referral.manage")
    kind, found, mime = read_referrals(data, filename)
    rules = rules or load_rules()
    now = clock.now()
    today = now.astimezone(practice_zone(session)).date()
    result = ReferralImportResult(kind)
    planned = []
    for ref in found:
        patient_id, plan_type, payer = referrals.match_patient(session, ref)
        known = referrals.find_incoming(session, ref.source, ref.source_id) is not None
        summary = None if known else summarise(session, ref, patient_id,
                                               use_model=use_model, runtime=runtime)
        planned.append((ref, patient_id, triage(ref, rules, plan_type=plan_type,
                                                payer_name=payer), summary))
    sha = hashlib.sha256(data).hexdigest()
    with session.vault.write() as conn:
        blob_id: int | None = None
        for ref, patient_id, decision, summary in planned:
            referral_id, created = referrals.store_incoming(session, conn, ref, patient_id,
                                                            decision)
            result.referrals.append(referral_id)
            if not created:
                result.duplicates += 1
                continue
            if blob_id is None:  # once per file, and not again for a re-import
                blob_id = referrals.source_blob(session, conn, sha) or queue.store_blob(
                    session, conn, data, mime)
            referrals.link_source(session, conn, referral_id, blob_id)
            result.unmatched += patient_id is None
            spec = triage_task(referral_id, ref, decision, now, today, patient_id=patient_id,
                               summary=summary)
            task, _created = queue_spec(session, spec, [queue.NewEvidence(
                "Source document", excerpt=f"{kind} ({mime})", blob_id=blob_id, mime=mime)])
            referrals.link_task(session, conn, referral_id, task.id)
            result.tasks.append(task.id)
    log.info("referral import (%s): %s referrals, %s tasks, %s already stored", kind,
             len(result.referrals), len(result.tasks), result.duplicates)
    return result


def check_referral_loops(session: Session) -> list[int]:
    """A referral_followup task for each late step of an open outbound referral and for
    each incoming referral whose visit is still not booked past its triage's days;
    returns the ids of the tasks created (a step already followed up is not repeated)."""
    days = referrals.loop_days(session)
    now = clock.now()
    created_ids: list[int] = []
    late = [(ref.referral_id, f) for ref in referrals.open_outbound(session)
            if (f := overdue(ref, now, days)) is not None]
    late += [(ref.referral_id, f) for ref in referrals.open_incoming(session)
             if (f := incoming_overdue(ref, now)) is not None]
    stale = referrals.stale_followups(session)
    with session.vault.write() as conn:
        for task_id in stale:  # the step came after all: nobody needs to chase it
            queue.reject(session, task_id, "closed by the referral check: the step has "
                                           "been recorded")
        for referral_id, follow in late:
            task, created = queue_spec(session, follow)
            if created:
                referrals.note_overdue(session, conn, referral_id,
                                       str(follow.payload["step"]), task.id)
                created_ids.append(task.id)
    log.info("referral loops: %s late steps, %s new follow-ups, %s closed", len(late),
             len(created_ids), len(stale))
    return created_ids
