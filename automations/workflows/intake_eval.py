"""The intake evaluation: a set of forms with hand-written expected facts, the model's
summaries of them, and the figures a practice needs to trust a model.

* grounded rate: the share of valid model summaries that pass the grounding gate
  (judge_model_text), so would be shown as the model's word;
* invented claims passed: clinical terms and drugs in a summary that passed the gate but
  are not among the form's expected facts, with the same polarity. The expected facts
  are written by hand (tests/fixtures/intake/eval/expected.yaml), so this oracle is
  independent of the grounding code. It must be 0 for every model;
* summary length against the deterministic summary, and whether the reason for visit and
  the allergies (the facts a reviewer needs first) are still in it.

Used by tests/unit/test_intake_eval.py (pure logic, planted outputs), by the model test
in tests/e2e and by bench/intake_eval.py (real models through ModelRuntime).
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import yaml

from app.domain.intake import IntakeResult, SourceKind
from app.intake.extract import extract
from automations.workflows import intake as intake_flow
from local_models import clinical, grounding
from local_models.prompts import load_prompt
from local_models.runtime import ModelRuntime, ModelSpec
from local_models.structured import generate_json

MAX_FORMS = 500  # an evaluation set is small; refuse a folder that is not one
MAX_FORM_BYTES = 64 * 1024


@dataclass
class EvalForm:
    name: str
    text: str
    facts: dict[str, Any]


def load_forms(directory: Path) -> list[EvalForm]:
    """The forms (*.txt) and their expected facts (expected.yaml) in `directory`."""
    facts = yaml.safe_load((directory / "expected.yaml").read_text(encoding="utf-8")) or {}
    paths = sorted(directory.glob("*.txt"))
    if len(paths) > MAX_FORMS:
        raise ValueError(f"{directory} holds {len(paths)} forms; the limit is {MAX_FORMS}")
    forms = []
    for path in paths:
        if path.stat().st_size > MAX_FORM_BYTES:
            raise ValueError(f"{path.name} is larger than {MAX_FORM_BYTES} bytes")
        if path.stem not in facts:
            raise ValueError(f"{path.name} has no expected facts in expected.yaml")
        forms.append(EvalForm(path.stem, path.read_text(encoding="utf-8"), facts[path.stem]))
    return forms


def read_form(text: str) -> IntakeResult:
    """The extraction steps of import_intake without a vault: values, normalised and
    grounded, and the deterministic summary."""
    result = IntakeResult(SourceKind.TEXT, text)
    markers = [span for _p, span in grounding.injection_markers(text)]
    ex = extract(text, markers)
    result.values = ex.values
    result.answered = sorted(ex.answered)
    result.none_reported = sorted(ex.none_reported)
    intake_flow._normalise(result.values, result.flags)
    intake_flow._ground(text, result.values, result.flags)
    result.deterministic_summary = result.summary = intake_flow.deterministic_summary(result)
    return result


# -- the oracle -----------------------------------------------------------------------------

def _fact_words(phrases: list[str]) -> set[str]:
    words: set[str] = set()
    for phrase in phrases:
        words |= {clinical.canonical(w) for w in re.findall(r"[A-Za-z][A-Za-z'\-]*", phrase)}
    return words


def invented_claims(output: str, form: EvalForm) -> list[str]:
    """Clinical terms and drugs in `output` that the form's expected facts do not hold
    with the same polarity."""
    f = form.facts
    positive = _fact_words([f.get("reason", ""), *f.get("positive", []),
                            *f.get("problems", []), *f.get("medications", []),
                            *f.get("allergies", [])])
    negated = _fact_words(f.get("negated", []))
    if f.get("medications"):
        positive.add("medication")
    else:
        negated.add("medication")
    if f.get("allergies"):
        positive.add("allergy")
    else:
        negated.add("allergy")
    out = []
    for m in clinical.mentions(output, clinical.MAX_OUTPUT_CHARS):
        allowed = negated if m.negated else positive
        if not m.words <= allowed:
            out.append(("no " if m.negated else "") + m.text)
    drugs = _fact_words([*f.get("medications", []), *f.get("allergies", [])])
    for name, _span in grounding.find_drugs_in(output):
        if not grounding.drug_variants(name) & (drugs | {d.lower() for d in drugs}):
            out.append(name)
    return out


# -- planted outputs (no model) ---------------------------------------------------------------

def invented_variants(form: EvalForm, others: list[EvalForm]) -> list[tuple[str, str]]:
    """Summaries that each add one false claim to a faithful one: (what was planted, text).
    Every one must be rejected."""
    f = form.facts
    base = read_form(form.text)
    summary = base.deterministic_summary
    first = base.first("first_name") or "The patient"
    own = _fact_words([f.get("reason", ""), *f.get("positive", []), *f.get("negated", []),
                       *f.get("problems", [])])
    out: list[tuple[str, str]] = []
    for other in others:  # a complaint from another form that this one does not hold
        for term in other.facts.get("positive", [])[:2]:
            if not _fact_words([term]) & own and clinical.mentions(term):
                out.append((f"complaint '{term}'", f"{summary} {first} also has {term}."))
                break
        if len(out) >= 3:
            break
    for term in f.get("negated", [])[:2]:  # a denied symptom stated as present
        out.append((f"negation flipped '{term}'", f"{summary} {first} reports {term}."))
    for term in f.get("positive", [])[:1]:  # a present one stated as denied
        out.append((f"denied '{term}'", f"{summary} {first} denies {term}."))
    if f.get("allergies"):
        out.append(("no allergies", f"{summary} No known allergies."))
    for med in f.get("medications", [])[:1]:  # a medication stated as an allergy
        if med not in f.get("allergies", []):
            out.append((f"allergy to '{med}'", f"{summary} Allergic to {med}."))
    drug = next(d for d in ("warfarin", "insulin glargine", "clopidogrel", "tramadol")
                if d not in form.text.lower())
    out.append((f"drug '{drug}'", f"{summary} Takes {drug} daily."))
    dose = re.search(r"(\b[A-Za-z]+) (\d+(?:\.\d+)?) ?(mg|mcg)", form.text)
    if dose is not None:
        wrong = str(int(float(dose.group(2)) * 2 + 5))
        out.append((f"dose of {dose.group(1)}", f"{summary} Takes {dose.group(1)} {wrong} "
                    f"{dose.group(3)}."))
    return out


def faithful_paraphrases(form: EvalForm) -> list[str]:
    """Summaries that say only what the form says, in other words than the form's."""
    f = form.facts
    base = read_form(form.text)
    first = base.first("first_name") or "The patient"
    texts = [base.deterministic_summary]
    sentence = f"{first} is here for {f['reason']}."
    if f.get("negated"):
        sentence += f" Denies {f['negated'][0]}."
    if f.get("allergies"):
        sentence += f" Allergic to {', '.join(f['allergies'])}."
    elif "allergies" in base.none_reported:
        sentence += " No allergies."
    texts.append(sentence)
    return texts


# -- model runs -----------------------------------------------------------------------------

@dataclass
class FormRun:
    form: str
    valid: bool
    passed: bool
    summary: str
    reasons: list[str]
    invented_passed: list[str]
    invented_caught: list[str]
    tokens_per_s: float
    seconds: float
    keeps_reason: bool
    keeps_allergies: bool
    order: tuple[str, ...] = ()  # extractive: the sentence ids the model chose, in order


@dataclass
class ModelReport:
    model: str
    style: str  # prose | extractive | planted
    runs: list[FormRun] = field(default_factory=list)
    deterministic_chars: float = 0.0

    @property
    def valid(self) -> int:
        return sum(r.valid for r in self.runs)

    @property
    def grounded_rate(self) -> float:
        valid = [r for r in self.runs if r.valid]
        return sum(r.passed for r in valid) / len(valid) if valid else 0.0

    @property
    def invented_passed(self) -> int:
        return sum(len(r.invented_passed) for r in self.runs)

    @property
    def invented_caught(self) -> int:
        return sum(len(r.invented_caught) for r in self.runs)

    @property
    def mean_summary_chars(self) -> float:
        shown = [len(r.summary) for r in self.runs if r.passed]
        return sum(shown) / len(shown) if shown else 0.0

    @property
    def tokens_per_s(self) -> float:
        rates = sorted(r.tokens_per_s for r in self.runs if r.tokens_per_s > 0)
        return rates[len(rates) // 2] if rates else 0.0

    @property
    def key_facts_kept(self) -> float:
        """Of the passed summaries, the share that still hold the reason and allergies."""
        passed = [r for r in self.runs if r.passed]
        return sum(r.keeps_reason and r.keeps_allergies for r in passed) / len(passed) \
            if passed else 0.0

    @property
    def distinct_orders(self) -> int:
        """Extractive: how many different orders the model chose. One order for every
        form means it copies the prompt's example, which a fixed rule does as well."""
        return len({r.order for r in self.runs if r.valid})

    def line(self) -> str:
        orders = f", {self.distinct_orders} distinct orders" if self.style == "extractive" \
            else ""
        speed = f", {self.tokens_per_s:.1f} tok/s" if self.tokens_per_s else ""
        return (f"{self.model} [{self.style}]: {len(self.runs)} summaries of "
                f"{len({r.form for r in self.runs})} forms, {self.valid} valid, "
                f"grounded {self.grounded_rate:.2f}, invented claims passed "
                f"{self.invented_passed} (caught {self.invented_caught}), summary "
                f"{self.mean_summary_chars:.0f} chars vs deterministic "
                f"{self.deterministic_chars:.0f}, key facts kept {self.key_facts_kept:.2f}"
                f"{speed}{orders}")


def judge(form: EvalForm, result: IntakeResult, summary: str, reason: str = ""
          ) -> tuple[bool, list[str], list[str], list[str]]:
    """(passed, reasons, invented claims that passed, invented claims caught)."""
    verdict = intake_flow.judge_model_text(result, summary, reason)
    invented = invented_claims(summary + " " + reason, form)
    return (verdict.passed, verdict.reasons, invented if verdict.passed else [],
            [] if verdict.passed else invented)


def _keeps(result: IntakeResult, summary: str) -> tuple[bool, bool]:
    sentences = intake_flow.summary_sentences(result)
    return (sentences.get("reason", "") in summary,
            sentences.get("allergies", "") in summary)


def run_model(runtime: ModelRuntime, spec: ModelSpec, forms: list[EvalForm], style: str,
              on_form: Callable[[FormRun], None] | None = None) -> ModelReport:
    """Run one model over the forms in one style ('prose': the intake_summary prompt;
    'extractive': the model orders the deterministic sentences) and judge every output."""
    report = ModelReport(spec.name or Path(spec.path).name, style)
    det = [len(read_form(f.text).deterministic_summary) for f in forms]
    report.deterministic_chars = sum(det) / len(det) if det else 0.0
    prompt = load_prompt("intake_summary" if style == "prose" else "intake_extractive")
    for form in forms:
        result = read_form(form.text)
        started = time.perf_counter()
        if style == "prose":
            out = generate_json(runtime, spec, prompt, untrusted={
                "intake_form": result.source_text[:intake_flow.MODEL_SOURCE_CHARS]})
        else:
            out = generate_json(runtime, spec, prompt, untrusted={
                "summary_sentences": intake_flow.extractive_lines(result)})
        seconds = time.perf_counter() - started
        tps = max((a.result.tokens_per_s for a in out.attempts), default=0.0)
        if not out.ok or out.data is None:
            run = FormRun(form.name, False, False, "", out.errors[:2], [], [], tps, seconds,
                          False, False)
        else:
            if style == "prose":
                summary = str(out.data.get("summary", "")).strip()
                reason = str(out.data.get("reason_for_visit", "")).strip()
            else:
                order = [str(x) for x in out.data.get("order", [])]
                summary, _missing = intake_flow.extractive_summary(result, order)
                reason = ""
            passed, reasons, inv_passed, inv_caught = judge(form, result, summary, reason)
            keeps = _keeps(result, summary)
            run = FormRun(form.name, True, passed, summary, reasons, inv_passed, inv_caught,
                          tps, seconds, *keeps,
                          order=tuple(out.data.get("order", [])) if style != "prose" else ())
        report.runs.append(run)
        if on_form is not None:
            on_form(run)
    return report


def planted_report(forms: list[EvalForm]) -> tuple[ModelReport, ModelReport]:
    """Without a model: faithful paraphrases (should pass) and invented variants (must all
    fail), judged and scored like model outputs."""
    det = [len(read_form(f.text).deterministic_summary) for f in forms]
    mean = sum(det) / len(det) if det else 0.0
    faithful = ModelReport("planted-faithful", "planted", deterministic_chars=mean)
    invented = ModelReport("planted-invented", "planted", deterministic_chars=mean)
    for form in forms:
        result = read_form(form.text)
        for text in faithful_paraphrases(form):
            passed, reasons, inv_p, inv_c = judge(form, result, text)
            faithful.runs.append(FormRun(form.name, True, passed, text, reasons, inv_p, inv_c,
                                         0.0, 0.0, *_keeps(result, text)))
        others = [o for o in forms if o.name != form.name]
        for what, text in invented_variants(form, others):
            passed, reasons, inv_p, inv_c = judge(form, result, text)
            # A planted claim the oracle cannot see still counts when it passes the gate.
            if passed and not inv_p:
                inv_p = [what]
            invented.runs.append(FormRun(form.name, True, passed, text, reasons, inv_p,
                                         inv_c or ([] if passed else [what]), 0.0, 0.0,
                                         *_keeps(result, text)))
    return faithful, invented


@dataclass
class InjectionReport:
    model: str
    caught: int  # paraphrased instructions the model called an instruction
    paraphrases: int
    false_flags: int  # benign notes it called an instruction
    benign: int

    def line(self) -> str:
        return (f"{self.model} [injection check]: {self.caught}/{self.paraphrases} "
                f"paraphrases flagged, {self.false_flags}/{self.benign} benign notes flagged")


def run_injection_check(runtime: ModelRuntime, spec: ModelSpec, paraphrases: list[str],
                        benign: list[str]) -> InjectionReport:
    """The model as the second injection classifier, on the paraphrase corpus."""
    prompt = load_prompt(intake_flow.INJECTION_PROMPT)

    def says_instruction(text: str) -> bool:
        out = generate_json(runtime, spec, prompt, untrusted={"form_text": text}, retries=0)
        return bool(out.ok and out.data is not None and out.data.get("instruction") is True)

    return InjectionReport(spec.name or Path(spec.path).name,
                           sum(says_instruction(t) for t in paraphrases), len(paraphrases),
                           sum(says_instruction(t) for t in benign), len(benign))
