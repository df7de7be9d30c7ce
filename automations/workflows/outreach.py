"""Outreach drafts -> `outreach` tasks for the office manager.

A draft is a fixed template per kind (resources/outreach/templates.yaml) filled from the
vault, plus one opening sentence from the model. It names the practice and carries the
opt-out line. Checked in code before it becomes a task, and again when it is approved:
  * minimum necessary: no diagnosis, test, result or medication (a term list, the drug
    list and the patient's own problems and medications) - the model's sentence is
    dropped if it trips the check, and a template that still trips it is flagged;
  * the intake summaries' claim check: no clinical term (symptom, condition, body site,
    injury) that the kind's template does not hold, in the model's sentence or in an
    edit a person makes before approving;
  * readability: Flesch-Kincaid grade, flagged above the readability_max_grade setting;
  * length: SMS cut to sms_max_chars, keeping the practice name and the opt-out line;
  * opt-outs: an opted-out patient gets no draft for that channel.
Approval puts the message in the outbox with state 'ready'.
"""

from __future__ import annotations

import re
import string
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo

import yaml

from app import clock, queue
from app.domain import Patient, Task
from app.domain.outreach import Channel, OutreachCheck, OutreachKind, OutreachMessage
from app.errors import ValidationError
from app.identity import Session, require
from app.services import models as model_service
from app.services import outreach as outreach_service
from app.services import patients, practice
from automations.workflows import models as model_flow
from local_models import clinical, grounding
from local_models.prompts import resources_dir
from local_models.readability import fk_grade
from local_models.runtime import ModelRuntime

TASK_KIND = "outreach"
PROMPT = "outreach_personalize"
EMAIL_MAX_CHARS = 2000
WAITLIST_HOLD_HOURS = 4
REVIEW_WITHIN = timedelta(hours=4)  # patient messages go out the same day


@lru_cache(maxsize=1)
def templates() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(
        (resources_dir() / "outreach" / "templates.yaml").read_text(encoding="utf-8"))
    return data


@lru_cache(maxsize=1)
def _base_terms() -> tuple[str, ...]:
    data = yaml.safe_load((resources_dir() / "outreach" / "restricted_terms.yaml")
                          .read_text(encoding="utf-8"))
    terms = [str(t) for group in data.values() for t in group]
    return tuple(terms) + tuple(grounding.drug_lexicon())


def restricted_terms(patient: Patient | None) -> list[str]:
    """The shared list plus this patient's own problems and medications (the drug name,
    and any long word of a problem such as 'hypertension')."""
    terms = list(_base_terms())
    if patient is not None:
        for problem in patient.problems:
            terms.append(problem)
            terms.extend(w for w in re.findall(r"[A-Za-z]{5,}", problem)
                         if w.lower() not in grounding.COMMON_WORDS)
        for med in patient.medications:
            terms.append(med)
            first = med.split()[0] if med.split() else ""
            if len(first) >= 4:
                terms.append(first)
    return terms


def restricted_hits(text: str, terms: list[str]) -> list[str]:
    hits = []
    for term in terms:
        if term.strip() and grounding.find_text(text, term):
            hits.append(term)
    return sorted(set(hits), key=str.lower)


def claim_source(kind: str, practice_name: str, first_name: str) -> str:
    """What an outreach message of this kind may say: its template texts, the practice's
    name and the patient's first name. Nothing else may add a clinical term."""
    spec = templates()["kinds"].get(kind, {})
    parts = [str(spec.get(k, "")) for k in ("purpose", "body", "body_undated", "subject")]
    return "\n".join([*parts, practice_name, first_name, *templates()["opt_out"].values()])


def clinical_claims(text: str, source: str) -> list[str]:
    """Reasons for each clinical term in `text` that `source` does not hold."""
    return [c.reason for c in clinical.check_claims(text, source, noun="the message",
                                                    where="its template") if not c.grounded]


def send_to_outbox(session: Session, task: Task) -> str:
    """The outreach effect: re-check the (possibly edited) text, then queue it as ready."""
    payload = task.payload
    missing = [k for k in ("channel", "kind", "recipient") if not payload.get(k)]
    if missing:
        raise ValidationError("this outreach task has no " + ", ".join(missing) +
                              "; draft it with 'offhold outreach draft' instead")
    channel = Channel(payload["channel"])
    patient = patients._load_patient(session, task.patient_id) if task.patient_id else None
    hits = restricted_hits(task.draft, restricted_terms(patient))
    if hits:
        raise ValidationError("the message names clinical information (" + ", ".join(hits) +
                              "); remove it before approving")
    claims = clinical_claims(task.draft, claim_source(
        str(payload["kind"]), str(practice.practice_info(session)["name"]),
        patient.first_name if patient is not None else ""))
    if claims:
        raise ValidationError("; ".join(claims) + "; remove it before approving")
    limit = _limit(session, channel)
    if len(task.draft) > limit:
        raise ValidationError(f"the message is {len(task.draft)} characters; the "
                              f"{channel.value} limit is {limit}")
    optout = templates()["opt_out"][channel.value]
    if optout not in task.draft:
        raise ValidationError(f"the message must keep the opt-out line: {optout!r}")
    outbox_id = outreach_service.add_to_outbox(
        session, task.id, task.patient_id, payload["kind"], channel, payload["recipient"],
        task.draft, subject=payload.get("subject", ""),
        tcpa_exempt=bool(payload.get("tcpa_exempt", True)))
    return f"outbox {outbox_id} ready ({channel.value})"


def _limit(session: Session, channel: Channel) -> int:
    return int(practice.get_setting(session, "sms_max_chars")) if channel is Channel.SMS \
        else EMAIL_MAX_CHARS


def _when(session: Session, at: datetime) -> str:
    tz = ZoneInfo(practice.practice_info(session)["timezone"])
    local = at.astimezone(tz)
    return local.strftime("%a %b ") + str(local.day) + local.strftime(" at ") + \
        local.strftime("%I:%M %p").lstrip("0")


def _truncate(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    cut = text[:max(0, limit - 1)].rsplit(" ", 1)[0].rstrip(",;:")
    return cut + "\u2026"


def _first_sentence(text: str) -> str:
    """Only the greeting: a small model tends to add a second, invented sentence."""
    m = re.match(r"\s*(.+?[.!?])(?:\s|$)", text)
    return (m.group(1) if m else text).strip()


def _sentence_problems(text: str, first_name: str) -> list[str]:
    """Cheap sanity checks on the model's sentence: a 135M model drifts into other
    languages or parrots its instructions, and grounding alone cannot see that."""
    problems = []
    words = re.findall(r"[A-Za-z']+", text)
    if not 3 <= len(words) <= 25:
        problems.append("wrong length")
    if any(ord(c) > 127 for c in text):
        problems.append("non-English characters")
    if first_name.lower() not in text.lower():
        problems.append("does not greet the patient by name")
    if not re.search(r"[.!?,]$", text.strip()):
        problems.append("not a complete sentence")
    if re.search(r"\b(instruction|untrusted|data|json|prompt)\b", text, re.I):
        problems.append("repeats its instructions")
    if re.search(r"\b(today|tonight|tomorrow|yesterday|scheduled|(mon|tues|wednes|thurs|fri|"
                 r"satur|sun)day|a\.?m\.?|p\.?m\.?)\b", text, re.I):
        problems.append("mentions a time")
    if fk_grade(text) > 10:
        problems.append("too hard to read")
    return problems


@dataclass
class OutreachOutcome:
    task: Task
    created: bool
    message: OutreachMessage


def compose(session: Session, patient: Patient, kind: OutreachKind, channel: Channel, *,
            when: datetime | None = None, amount: str = "", use_model: bool = True,
            runtime: ModelRuntime | None = None,
            hold_hours: int = WAITLIST_HOLD_HOURS) -> tuple[OutreachMessage, list[int]]:
    """Build and check one message; returns it with the ids of the model runs used."""
    recipient = outreach_service.recipient_for(patient, channel)  # opt-outs refused here
    spec = templates()["kinds"][kind.value]
    practice_name = str(practice.practice_info(session)["name"])
    values = {"when": _when(session, when) if when else "",
              "amount": amount or "an amount due", "hold_hours": str(hold_hours)}
    if kind in (OutreachKind.WAITLIST_OFFER,) and when is None:
        raise ValidationError("a waitlist offer needs the open slot's time (--when)")
    if kind is OutreachKind.BALANCE and not amount:
        raise ValidationError("a balance notice needs the amount (--amount)")
    template = spec["body"] if when is not None or "body_undated" not in spec else \
        spec["body_undated"]
    body = string.Template(template).substitute(values)
    checks: list[OutreachCheck] = []
    terms = restricted_terms(patient)
    opening = f"Hi {patient.first_name}," if channel is Channel.SMS else \
        f"Dear {patient.first_name},"
    personalized = False
    run_ids: list[int] = []
    if use_model:
        try:
            run = model_flow.run_structured(
                session, TASK_KIND, PROMPT, values={
                    "purpose": spec["purpose"], "first_name": patient.first_name,
                    "practice": practice_name}, subject=f"outreach:{kind.value}",
                patient_id=patient.id, runtime=runtime)
            run_ids = run.run_ids
            candidate = _first_sentence(str((run.result.data or {}).get("opening", "")))
            if not run.result.ok or not candidate:
                checks.append(OutreachCheck("model_dropped", "the model's sentence was invalid; "
                                            "the template greeting is used", "info"))
            else:
                context = f"{patient.first_name}\n{practice_name}\n{spec['purpose']}\n{body}"
                report = grounding.check_text(candidate, context, noun="the sentence",
                                              where="the message's template")
                hits = restricted_hits(candidate, terms)
                problems = _sentence_problems(candidate, patient.first_name)
                ok = report.passed and not hits and not problems
                hits += problems
                model_service.set_run_grounding(session, run.last_run_id, report.passed)
                if ok:
                    opening, personalized = candidate, True
                else:
                    why = "; ".join(report.reasons + report.injection + hits)
                    checks.append(OutreachCheck("model_dropped", "the model's sentence was not "
                                                f"used ({why})", "info"))
        except model_flow.ModelUnavailable as exc:
            checks.append(OutreachCheck("model_unavailable", model_flow.template_notice(exc),
                                        "warning"))
    optout = templates()["opt_out"][channel.value]
    prefix = f"{practice_name}: " if channel is Channel.SMS else ""
    suffix = f" {optout}" if channel is Channel.SMS else f"\n\n{practice_name}\n{optout}"
    if opening.endswith(","):
        body = body[:1].lower() + body[1:] if channel is Channel.SMS else body
    middle = f"{opening} {body}" if channel is Channel.SMS else f"{opening}\n\n{body}"
    limit = _limit(session, channel)
    room = limit - len(prefix) - len(suffix)
    if len(middle) > room:
        checks.append(OutreachCheck("truncated", f"cut to the {channel.value} limit of "
                                    f"{limit} characters"))
        middle = _truncate(middle, room)
    text = prefix + middle + suffix
    hits = restricted_hits(text, terms)
    if hits:
        checks.append(OutreachCheck("restricted_term", "names clinical information: "
                                    + ", ".join(hits), "critical"))
    claims = clinical_claims(text, claim_source(kind.value, practice_name, patient.first_name))
    if claims:
        checks.append(OutreachCheck("clinical_claim", "; ".join(claims), "critical"))
    grade = fk_grade(middle)
    max_grade = float(practice.get_setting(session, "readability_max_grade"))
    if grade > max_grade:
        checks.append(OutreachCheck("readability", f"reading grade {grade:g} is above "
                                    f"{max_grade:g}; simplify the wording"))
    if not kind.tcpa_exempt:
        checks.append(OutreachCheck("not_tcpa_exempt", "billing/collections message: not the "
                                    "TCPA-exempt kind; send only with the patient's consent",
                                    "warning"))
    return OutreachMessage(kind=kind, channel=channel, recipient=recipient, body=text,
                           subject=spec["subject"] if channel is Channel.EMAIL else "",
                           patient_id=patient.id, tcpa_exempt=kind.tcpa_exempt, grade=grade,
                           personalized=personalized, checks=checks), run_ids


def checks_evidence(message: OutreachMessage) -> list[queue.NewEvidence]:
    """The draft's checks as evidence, shown beside the draft (empty when it has none)."""
    return [queue.NewEvidence("Draft checks", excerpt="\n".join(
        f"{c.severity}: {c.message}" for c in message.checks))] if message.checks else []


def draft_outreach(session: Session, patient_id: int, kind: str, channel: str = "sms", *,
                   when: datetime | None = None, amount: str = "", ref: str = "",
                   use_model: bool = True, runtime: ModelRuntime | None = None,
                   flag: str = "", history: list[queue.NewEvidence] | None = None
                   ) -> OutreachOutcome:
    """Draft one message as an outreach task (idempotent per patient, kind, channel, ref).
    A workflow may add `history` evidence and a `flag` (e.g. "repeat no-show") that leads
    the title and raises the priority."""
    require(session, "outreach.draft")
    try:
        okind, ochannel = OutreachKind(kind), Channel(channel)
    except ValueError as exc:
        raise ValidationError(f"unknown outreach kind or channel: {exc}; kinds: "
                              + ", ".join(k.value for k in OutreachKind)
                              + "; channels: sms, email") from exc
    patient = patients._load_patient(session, patient_id)
    if when is None and okind in (OutreachKind.NO_SHOW, OutreachKind.CANCELLATION):
        status = "no_show" if okind is OutreachKind.NO_SHOW else "cancelled"
        appt = outreach_service.last_appointment(session, patient_id, status)
        if appt is not None:
            when, ref = appt.start_at, ref or f"appt{appt.id}"
    message, run_ids = compose(session, patient, okind, ochannel, when=when, amount=amount,
                               use_model=use_model, runtime=runtime)
    label = templates()["kinds"][okind.value]["label"]
    natural_key = (f"outreach:{okind.value}:{patient_id}:{ochannel.value}:"
                   f"{ref or clock.now().date().isoformat()}")
    critical = any(c.severity == "critical" for c in message.checks)
    checks = checks_evidence(message)
    task, created = queue.create_task(
        session, TASK_KIND, natural_key,
        (f"{flag[:1].upper()}{flag[1:]}: " if flag else "") +
        f"{label} ({ochannel.value.upper()})", draft=message.body,
        priority=queue.PRIORITY_HIGH if critical or flag else queue.PRIORITY_NORMAL,
        due_at=clock.now() + REVIEW_WITHIN,
        subject_type="patient", subject_id=patient_id, patient_id=patient_id,
        payload={"kind": okind.value, "channel": ochannel.value, "recipient": message.recipient,
                 "subject": message.subject, "tcpa_exempt": message.tcpa_exempt,
                 "grade": message.grade, "personalized": message.personalized,
                 "checks": [vars(c) for c in message.checks], "model_runs": run_ids,
                 **({"flag": flag} if flag else {})},
        # the checks on the task's face, where the reviewer reads them beside the draft
        # (for example "Drafted from the template: the model is unavailable (...)")
        evidence=(history or []) + checks or None)
    return OutreachOutcome(task, created, message)
