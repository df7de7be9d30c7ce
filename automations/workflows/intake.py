"""Intake forms -> `intake_review` tasks.

1. Read the file (fillable PDF fields, PDF text, plain text); a scan is stored and queued
   for manual entry with a clear note; a malformed file is refused, nothing imported.
2. Find instruction-like text (prompt injection) first, so it can never supply a
   structured value; extract labelled values deterministically, with their spans.
3. Normalise (dates to ISO) and ground every value against the source; ungrounded values
   are flagged, never silently kept.
4. A deterministic summary always exists and is what the reviewer sees by default. The
   model (JSON schema, fenced data) orders its sentences (extractive) or writes prose; its
   draft is kept with the grounding verdict, and replaces the deterministic summary only
   when MODEL_SUMMARY_SHOWN and every claim in it is grounded.
5. Match the patient, compare with the vault (name/DOB, allergies, medications, payer,
   member ID); a payer or member change queues an `eligibility_gap` re-check.
6. Create the review task. Approval writes the reviewed fields to the patient record.
"""

from __future__ import annotations

import hashlib
import logging
import re
from dataclasses import dataclass, field
from typing import Any

from app import queue
from app.domain import Task
from app.domain.intake import (
    FIELDS,
    LIST_FIELDS,
    IntakeFlag,
    IntakeResult,
    IntakeValue,
    SourceKind,
    Span,
)
from app.errors import NotFound
from app.identity import Session, require
from app.intake.compare import compare
from app.intake import ocr
from app.intake.extract import extract
from app.intake.source import read_source
from app.services import intake as intake_service
from app.services import models as model_service
from app.services import patients
from automations.workflows import models as model_flow
from local_models import grounding
from local_models.runtime import ModelRuntime

log = logging.getLogger(__name__)

TASK_KIND = "intake_review"
PROMPT = "intake_summary"  # free prose, checked claim by claim (strict grounding)
EXTRACTIVE_PROMPT = "intake_extractive"  # the model only orders our own sentences
# What the model is asked for at import. Extractive: a JSON-schema enum of sentence ids,
# so llama.cpp's grammar cannot write a word of its own. Prose stays available for a
# larger model (bench/intake_eval.py measures both).
SUMMARY_STYLE = "extractive"
# Whether a model summary that passes grounding replaces the deterministic one on the
# task. Off: on the evaluation set (README, "Intake summaries and the model") the bundled
# model's prose almost never passes, and its extractive order is shorter only by dropping
# sentences, in nearly the same order for every form, which a fixed rule does as well. The
# model's draft is still kept on the task for the reviewer, with its verdict.
MODEL_SUMMARY_SHOWN = False
INJECTION_PROMPT = "injection_check"
# The model as a second injection classifier, after the patterns found nothing. It can
# only add a warning: never clear the patterns' flag, never change a field (values come
# only from the form's spans either way). Measured on the paraphrase corpus (README).
MODEL_INJECTION_CHECK = True
# The form text given to the model is capped so prompt + answer fit a 4k context; the
# grounding check still uses the whole form.
MODEL_SOURCE_CHARS = 8000


@dataclass
class IntakeOutcome:
    task: Task
    created: bool
    result: IntakeResult
    eligibility_task: Task | None = None


def _quoted(value: str) -> str:
    """A compared value in a flag: quoted, or "nothing" rather than a bare ''."""
    return f"'{value}'" if value else "nothing"


def same_drug(a: str, b: str) -> bool:
    """Same drug across brand/generic names: compares the leading drug name."""
    wa, wb = (a.strip().split() or [""])[0], (b.strip().split() or [""])[0]
    return bool(wa) and bool(grounding.drug_variants(wa) & grounding.drug_variants(wb))


def _normalise(values: list[IntakeValue], flags: list[IntakeFlag]) -> None:
    for v in values:
        kind = FIELDS[v.field][1]
        if kind == "date":
            parsed = grounding.parse_date(v.value)
            if parsed is not None:
                v.value = parsed.isoformat()
            else:
                flags.append(IntakeFlag("unreadable_date", f"{FIELDS[v.field][0]} "
                                        f"'{v.value}' is not a date this software can read; "
                                        "enter it as YYYY-MM-DD", v.field, "warning",
                                        list(v.spans)))


def _place_ocr(result: IntakeResult, words: list[ocr.OcrWord], note: str) -> None:
    """OCR'd values keep their page and box for the review pane; a word tesseract was
    unsure of is flagged on its field, so a misread digit is checked, not approved."""
    result.flags.append(IntakeFlag(
        "ocr", "This form was read by OCR from a scan: check each value against the scan."
        + (f" {note}." if note else ""), severity="warning" if note else "info"))
    for v in [*result.values, *result.stated_none]:
        v.origin = "ocr"
        v.boxes = [box for s, e in v.spans for box in ocr.boxes_for(words, s, e)]
        unsure = [w for s, e in v.spans for w in ocr.unsure_words(words, s, e)]
        if unsure:
            read = " ".join(result.source_text[w.start:w.end] for w in unsure)
            result.flags.append(IntakeFlag(
                "ocr_low_confidence", f"OCR was unsure of '{read}' in {FIELDS[v.field][0]}; "
                "check it against the scan.", v.field, "warning",
                [(w.start, w.end) for w in unsure],
                [(w.page, *w.box) for w in unsure]))  # each unsure word, drawn on the scan


def _ground(source: str, values: list[IntakeValue], flags: list[IntakeFlag]) -> None:
    """Every value must be found in the source (normalised); spans are re-derived from the
    source, so a value an editor or a bug changed can never keep a stale highlight."""
    for v in values:
        kind = FIELDS[v.field][1]
        # Prefer the occurrence the extractor read; look there first (one character each
        # side, for the word-boundary check), so grounding stays linear in the form: a
        # search of the whole form per value made a 40 KB medication list take 9 s.
        inside = []
        for a, b in v.spans:
            lo, hi = max(0, a - 1), min(len(source), b + 1)
            inside += [(s + lo, e + lo) for s, e in
                       grounding.find_value(source[lo:hi], v.value, kind)
                       if s + lo >= a and e + lo <= b]
        found = inside or grounding.find_value(source, v.value, kind)
        v.grounded = bool(found)
        v.spans = found
        if not found:
            flags.append(IntakeFlag("ungrounded", f"{FIELDS[v.field][0]} '{v.value}' was not "
                                    "found in the form; check it before approving", v.field,
                                    "critical"))


# The order of the deterministic summary; the extractive model may reorder and drop these.
SENTENCE_IDS = ("reason", "medications", "allergies", "problems", "smoking", "screenings",
                "insurance")


def summary_sentences(result: IntakeResult) -> dict[str, str]:
    """The summary's sentences by id, each built only from extracted values copied
    verbatim ('name' is the patient line and always comes first)."""
    out: dict[str, str] = {}
    name = " ".join(x for x in (result.first("first_name"), result.first("last_name")) if x)
    if name:
        out["name"] = name + (f" (DOB {result.first('dob')})" if result.first("dob") else "") \
            + "."
    if result.first("reason"):
        out["reason"] = f"Reason for visit: {result.first('reason')}."
    for field_name, label in (("medications", "Medications"), ("allergies", "Allergies"),
                              ("problems", "Problems")):
        items = result.items(field_name)
        if items:
            out[field_name] = f"{label}: {'; '.join(items)}."
        elif field_name in result.none_reported:
            out[field_name] = f"{label}: none reported."
    if result.first("smoking"):
        out["smoking"] = f"Smoking: {result.first('smoking')}."
    if result.items("last_screenings"):
        out["screenings"] = f"Screenings: {'; '.join(result.items('last_screenings'))}."
    if result.first("insurance") or result.first("member_id"):
        out["insurance"] = (f"Insurance: {result.first('insurance') or '-'}, member ID "
                            f"{result.first('member_id') or '-'}.")
    return out


def deterministic_summary(result: IntakeResult) -> str:
    """A correct summary built only from the extracted values, copied verbatim."""
    sentences = summary_sentences(result)
    return " ".join(sentences[k] for k in ("name", *SENTENCE_IDS) if k in sentences) or \
        "No values could be read from this form."


def extractive_summary(result: IntakeResult, order: list[str]) -> tuple[str, list[str]]:
    """The name line, then the chosen sentences in the model's order. Returns the text and
    the ids the form has no sentence for (dropped, and reported)."""
    sentences = summary_sentences(result)
    chosen = [k for k in dict.fromkeys(order) if k in sentences and k != "name"]
    missing = [k for k in order if k not in sentences]
    parts = ([sentences["name"]] if "name" in sentences else []) + [sentences[k] for k in chosen]
    return " ".join(parts), missing


def extractive_lines(result: IntakeResult) -> str:
    """The sentences shown to the extractive prompt, one per line after its id."""
    sentences = summary_sentences(result)
    return "\n".join(f"{k}: {sentences[k]}" for k in SENTENCE_IDS if k in sentences)


def _model_summary(session: Session, result: IntakeResult, natural_key: str,
                   runtime: ModelRuntime | None) -> None:
    """Ask the model for a summary; keep it only if it is valid and fully grounded."""
    extractive = SUMMARY_STYLE == "extractive"
    try:
        if extractive:
            run = model_flow.run_structured(
                session, TASK_KIND, EXTRACTIVE_PROMPT,
                untrusted={"summary_sentences": extractive_lines(result)},
                subject=natural_key, patient_id=result.patient_id, runtime=runtime)
        else:
            run = model_flow.run_structured(
                session, TASK_KIND, PROMPT,
                untrusted={"intake_form": result.source_text[:MODEL_SOURCE_CHARS]},
                subject=natural_key, patient_id=result.patient_id, runtime=runtime)
    except model_flow.ModelUnavailable as exc:
        result.flags.append(IntakeFlag("model_unavailable", model_flow.template_notice(exc),
                                       severity="warning"))
        return
    result.model_name = run.model.name
    if not run.result.ok or run.result.data is None:
        result.flags.append(IntakeFlag("model_invalid", "The model's output was invalid twice ("
                                       + "; ".join(run.result.errors[:3]) + "); the summary "
                                       "below was built from the fields.", severity="info"))
        return
    if extractive:
        summary, _unknown = extractive_summary(
            result, [str(x) for x in run.result.data.get("order", [])])
        reason = ""
    else:
        summary = str(run.result.data.get("summary", "")).strip()
        reason = str(run.result.data.get("reason_for_visit", "")).strip()
    verdict = judge_model_text(result, summary, reason)
    model_service.set_run_grounding(session, run.last_run_id, verdict.passed)
    apply_verdict(result, verdict)


def _model_injection_check(session: Session, result: IntakeResult, natural_key: str,
                           runtime: ModelRuntime | None) -> None:
    """Ask the model whether the form holds an instruction the patterns missed. A model
    that is unavailable (or failed its self-test) is simply not asked."""
    try:
        run = model_flow.run_structured(
            session, TASK_KIND, INJECTION_PROMPT,
            untrusted={"form_text": result.source_text[:MODEL_SOURCE_CHARS]},
            subject=natural_key, patient_id=result.patient_id, runtime=runtime)
    except model_flow.ModelUnavailable:
        return
    if run.result.ok and run.result.data is not None and \
            run.result.data.get("instruction") is True:
        result.flags.append(IntakeFlag(
            "injection_model", "The local model reads part of this form as an instruction "
            "to software or staff. Nothing was changed by it (fields come only from the "
            "form's answers); check the free-text answers.", severity="warning"))


@dataclass
class Verdict:
    summary: str
    reason: str
    passed: bool
    problems: list[str]  # the offending words or phrases
    ungrounded: list[Span]
    reasons: list[str] = field(default_factory=list)  # one sentence each, for the task


def judge_model_text(result: IntakeResult, summary: str, reason: str) -> Verdict:
    """The grounding gate for the model's prose: every number, date, drug, name and
    clinical term (symptom, condition, body site, injury, allergy, with its negation) must
    be in the form, and in strict mode every other word too unless it is plain phrasing;
    no instruction-like or approval language; no parroted prompt; and at least one fact
    from the form (an empty platitude is not a summary)."""
    report = grounding.check_text(summary, result.source_text, strict=True)
    reason_report = grounding.check_text(reason, result.source_text, strict=True,
                                         noun="the reason for visit")
    parroted = re.findall(r"\b(?:untrusted|instructions?|prompt|BEGIN DATA|END DATA|json)\b",
                          summary + " " + reason, re.I)
    # The reason phrase is a short copy from the form, so all its words must be there too.
    missing_words = [w for w in re.findall(r"[A-Za-z]{4,}", reason)
                     if w.lower() not in grounding.COMMON_WORDS
                     and not grounding.find_text(result.source_text, w)]
    facts = [c for c in report.claims if c.grounded]
    problems = list(dict.fromkeys(
        [c.text for c in report.ungrounded + reason_report.ungrounded]
        + report.injection + reason_report.injection + parroted + missing_words))
    reasons = report.reasons + reason_report.reasons
    reasons += [f"it contains instruction or approval language ('{p}')"
                for p in report.injection + reason_report.injection]
    reasons += [f"it repeats its instructions ('{p}')" for p in dict.fromkeys(parroted)]
    reasons += [f"the reason for visit says '{w}', which the form does not say"
                for w in missing_words if not any(f"'{w}'" in r for r in reasons)]
    # A header copied from the form ("PEDIATRIC INTAKE") grounds but says nothing: a
    # summary must carry at least one answer, the patient's name or an extracted value.
    answers = [v.value for v in result.values if v.field in (
        "first_name", "last_name", "reason", "medications", "allergies", "problems")]
    if summary and (not facts or (answers and not any(
            grounding.find_text(summary, a) for a in answers))):
        problems.append("it states no fact from the form")
        reasons.append("it states no fact from the form")
    if not summary:
        problems.append("it is empty")
        reasons.append("it is empty")
    spans = [(c.start, c.end) for c in report.ungrounded]
    spans += [span for _p, span in grounding.injection_markers(summary)]
    spans += [m.span() for m in re.finditer(r"\b(?:approved|verified|authori[sz]ed)\b",
                                             summary, re.I)]
    return Verdict(summary, reason, not problems, problems, sorted(set(spans)),
                   list(dict.fromkeys(reasons)))


def apply_verdict(result: IntakeResult, verdict: Verdict, *,
                  show: bool | None = None) -> None:
    """Keep the model's draft and its verdict on the result; a grounded draft replaces the
    deterministic summary only when `show` (default MODEL_SUMMARY_SHOWN)."""
    result.model_summary = verdict.summary
    result.model_ungrounded = verdict.ungrounded
    if verdict.passed and (MODEL_SUMMARY_SHOWN if show is None else show):
        result.summary, result.summary_origin = verdict.summary, "model"
        if verdict.reason and verdict.reason.lower() != result.first("reason").lower():
            result.reason_phrase = verdict.reason
    elif verdict.passed:
        result.flags.append(IntakeFlag(
            "model_grounded", "The model's summary passed the grounding check; the summary "
            "built from the fields is shown (the default).", severity="info"))
    else:
        result.flags.append(IntakeFlag(
            "model_ungrounded", "The model's summary was not used: "
            + "; ".join(verdict.reasons or verdict.problems) + ".", severity="warning"))


def import_intake(session: Session, data: bytes, filename: str = "", *,
                  patient_id: int | None = None, use_model: bool = True,
                  runtime: ModelRuntime | None = None) -> IntakeOutcome:
    """Process one intake file into a review task (idempotent on the file's content)."""
    require(session, "intake.import")
    doc = read_source(data, filename)  # raises ImportRejected before anything is stored
    sha = hashlib.sha256(data).hexdigest()
    natural_key = f"intake:{sha[:24]}" + (f":p{patient_id}" if patient_id else "")
    if patient_id is not None:
        patients._load_patient(session, patient_id)  # NotFound names the id
    result = IntakeResult(source_kind=doc.kind, source_text=doc.text)
    if doc.kind in (SourceKind.SCANNED_PDF, SourceKind.IMAGE) and not doc.text.strip():
        result.patient_id, result.match = patient_id, "given" if patient_id else "none"
        result.flags.append(IntakeFlag(
            "manual_entry", "This form is a scan or photo with no readable text. It was stored "
            "in the vault; type its values into the fields, then approve."
            + (f" ({doc.ocr_note}.)" if doc.ocr_note else ""), severity="warning"))
        result.summary = result.deterministic_summary = "Scanned form: manual entry needed."
        task, created = intake_service.create_review(
            session, result, data=data, mime=doc.mime, natural_key=natural_key, sha256=sha,
            title="Scanned intake form: manual entry needed")
        return IntakeOutcome(task, created, result)

    text = doc.text
    markers = grounding.injection_markers(text)
    for phrase, (s, e) in markers:
        result.flags.append(IntakeFlag(
            "injection", f"The form contains text that reads like an instruction to software "
            f"('{phrase}'). It was treated as data only; check this part of the form.",
            severity="critical", spans=[(s, e)]))
    ex = extract(text, [span for _phrase, span in markers])
    result.values = ex.values
    result.answered = sorted(ex.answered)
    result.none_reported = sorted(ex.none_reported)
    result.stated_none = ex.stated_none
    for occ in ex.dropped:
        result.flags.append(IntakeFlag(
            "injection_value_ignored", f"An answer for {FIELDS[occ.field][0]} inside "
            "instruction-like text was ignored.", occ.field, "critical", [occ.line]))
    for occ in ex.conflicts:
        result.flags.append(IntakeFlag(
            "conflicting_answer", f"{FIELDS[occ.field][0]} is answered more than once with "
            "different values; the first answer is used.", occ.field, "warning", [occ.line]))
    for v in ex.suspect:
        result.flags.append(IntakeFlag(
            "injection_text_removed", f"{FIELDS[v.field][0]} ran into instruction-like text; "
            "only the part before it was kept. Check the form.", v.field, "warning",
            list(v.spans)))
    _normalise(result.values, result.flags)
    _ground(text, result.values, result.flags)
    if doc.ocr_words or doc.kind in (SourceKind.SCANNED_PDF, SourceKind.IMAGE):
        _place_ocr(result, doc.ocr_words, doc.ocr_note)
    for required in ("first_name", "last_name", "dob"):
        if not result.first(required):
            result.flags.append(IntakeFlag("missing", f"No {FIELDS[required][0].lower()} was "
                                           "found on the form.", required, "warning"))

    # Which patient is this?
    if patient_id is not None:
        result.patient_id, result.match = patient_id, "given"
    else:
        result.patient_id, result.match = intake_service.find_patient(
            session, result.first("first_name"), result.first("last_name"),
            result.first("dob"), result.first("member_id"))
    if result.patient_id is None:
        result.flags.append(IntakeFlag("new_patient", "No patient in the vault matches this "
                                       "form; approving it creates a new patient record.",
                                       severity="info"))
    else:
        patient = patients._load_patient(session, result.patient_id)
        fields = result.fields_dict()
        result.discrepancies = compare(patient, fields, set(ex.answered), set(ex.none_reported),
                                       same_drug)
        for d in result.discrepancies:
            severity = "critical" if d.field in ("dob", "first_name", "last_name",
                                                 "allergies") else "warning"
            result.flags.append(IntakeFlag(
                "discrepancy", f"{FIELDS[d.field][0]} {d.kind}: on file "
                f"{_quoted(d.vault_value)}, on the form {_quoted(d.form_value)}", d.field,
                severity,
                [s for v in result.values if v.field == d.field and v.value == d.form_value
                 for s in v.spans]))

    result.deterministic_summary = result.summary = deterministic_summary(result)
    if use_model and result.values:
        if MODEL_INJECTION_CHECK and not markers:
            _model_injection_check(session, result, natural_key, runtime)
        _model_summary(session, result, natural_key, runtime)

    title = ("Intake form: review and update record" if result.patient_id else
             "Intake form: new patient")
    task, created = intake_service.create_review(session, result, data=data, mime=doc.mime,
                                                 natural_key=natural_key, sha256=sha,
                                                 title=title)
    elig = None
    if any(d.field in ("member_id", "insurance") for d in result.discrepancies):
        elig, _ = queue.create_task(
            session, "eligibility_gap", f"{natural_key}:eligibility",
            "Insurance changed on an intake form: re-check eligibility",
            draft="The intake form lists a different payer or member ID than the record. "
            "Re-check eligibility before the visit.", priority=queue.PRIORITY_HIGH,
            subject_type="patient", subject_id=result.patient_id or "",
            patient_id=result.patient_id,
            payload={"reason": "intake_coverage_change", "intake_task_id": task.id,
                     "changes": [d.field for d in result.discrepancies
                                 if d.field in ("member_id", "insurance")]})
    return IntakeOutcome(task, created, result, elig)


def review_fields(result: IntakeResult) -> dict[str, Any]:
    """Fields in the shape of the task draft (lists for list fields)."""
    return {k: (result.items(k) if k in LIST_FIELDS else result.first(k)) for k in FIELDS}


__all__ = ["IntakeOutcome", "import_intake", "deterministic_summary",
           "NotFound"]
