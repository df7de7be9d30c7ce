"""The summary a person reads on a referral_triage task (pure: no vault, no model).

Every referral has a deterministic summary built only from the extracted fields, copied
verbatim, so a correct summary exists whatever the model does. The local model may phrase
one for a letter or a C-CDA narrative (automations.workflows.referrals); its sentences are
kept only when each passes the grounding check, and the triage rule never reads either.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from app.referrals import IncomingReferral

SOURCE_NAMES = {"fhir": "FHIR ServiceRequest", "ccda": "C-CDA referral note",
                "letter": "referral letter"}
# The sources whose free text the model may summarise: a FHIR request is structured, its
# facts are the fields themselves.
MODEL_SOURCES = ("letter", "ccda")


def fact_values(ref: IncomingReferral) -> list[tuple[str, str]]:
    """(label, value) of the facts the deterministic summary states, in its order."""
    out = [("Referring", ref.referring), ("Referred to", ref.specialty),
           ("Reason", ref.reason),
           ("Diagnoses", ", ".join(d.code for d in ref.diagnoses[:10] if d.code)),
           ("Urgency stated", ref.priority), ("Referral number", ref.authorization),
           ("Requested", ref.requested_on.isoformat() if ref.requested_on else "")]
    return [(label, value) for label, value in out if value]


def deterministic_summary(ref: IncomingReferral) -> str:
    """'Referring: …. Referred to: …. Reason: ….' from the extracted fields only."""
    facts = fact_values(ref)
    if not facts:
        return "No fields could be read from this referral; read the source text."
    return " ".join(f"{label}: {value.rstrip('.')}." for label, value in facts)


_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9\"'(])")
_ABBREVIATION = re.compile(r"\b(?:Dr|Mr|Mrs|Ms|St|Jr|Sr|Prof|No|vs|e\.g|i\.e)\.$", re.I)


def sentences(text: str) -> list[str]:
    """The model's summary split into sentences (the unit kept or dropped); "Dr. Ames"
    does not end one."""
    out: list[str] = []
    for piece in (p.strip() for p in _SENTENCE_END.split(text.strip())):
        if out and _ABBREVIATION.search(out[-1]):
            out[-1] = f"{out[-1]} {piece}"
        elif piece:
            out.append(piece)
    return out


# One sentence at a time: "Dr." may be inside it, so a part runs to ';' or the end.
_REFER = r"\brefer(?:s|red|ring|ral)?\b[^;]*?"
_TO = re.compile(_REFER + r"\bto\s+([^;]+)", re.I)
_FROM = re.compile(_REFER + r"\b(?:from|by)\s+([^;]+?)(?=\s+to\b|[;,]|[.!?]?\s*$)", re.I)
_BY = re.compile(r"^(.+?)\s+(?:refers|referred|is referring)\b", re.I)
_FILLER = frozenset({"the", "a", "an", "and", "dr", "doctor"})


def _words(text: str) -> set[str]:
    return set(re.findall(r"[a-z0-9]+", text.lower())) - _FILLER


def relation_problems(sentence: str, ref: IncomingReferral) -> list[str]:
    """Who refers and to whom, checked against the letter's own labelled fields. Word by
    word grounding cannot see a swap: "refers the patient to Lakeside Clinic" grounds
    every word when Lakeside Clinic is the referring practice (the bundled model wrote
    exactly that)."""
    out: list[str] = []
    to = _TO.search(sentence)
    if to and ref.specialty:
        for part in re.split(r",|\band\b", to.group(1).rstrip(".!? ")):
            if _words(part) and not _words(part) <= _words(ref.specialty):
                out.append(f"it says the patient is referred to '{part.strip()}', but the "
                           f"referral is to '{ref.specialty}'")
    # "Referred by Family medicine to Lakeside Clinic": the referrer named after the verb
    said_by = [m.group(1) for m in (_BY.search(sentence), _FROM.search(sentence)) if m]
    for by in said_by:
        if ref.referring and _words(by) and not _words(by) <= _words(ref.referring):
            out.append(f"it says '{by.strip()}' refers the patient, but the referral is "
                       f"from '{ref.referring}'")
    return out


_NEGATION = r"(?:not|no|never|none|nor|neither|without|cannot|denies|denied|\w+n['\u2019]t)"
# the negation ("No." is an abbreviation: "Referral No. 12"), the little words after it,
# then the word it negates
_NEGATED = re.compile(r"\b" + _NEGATION + r"\b(?!\.)((?:\W+(?:be|been|is|are|was|were|a|an|"
                      r"the|any|to|very|yet|currently|considered))*)\W+([a-z0-9][\w-]*)", re.I)


def negation_problems(sentence: str, source: str) -> list[str]:
    """A negated word must be negated in the source too. Word by word grounding cannot
    see a 'not': "The referral is not urgent." grounds every word in a letter that says
    "Priority: urgent"."""
    out: list[str] = []
    for m in _NEGATED.finditer(sentence):
        word = m.group(2)
        # the source's negation within three words before it, in the same clause
        near = re.compile(r"\b" + _NEGATION + r"\b(?:[^\w.;:!?]+\w+){0,3}?[^\w.;:!?]+"
                          + re.escape(word) + r"\b", re.I)
        if not near.search(source):
            out.append(f"it says '{m.group(0).strip()}', which the referral does not say")
    return out


@dataclass
class SummaryOutcome:
    """What the reviewer is shown, and how it was made.

    `deterministic` (from the fields) always exists and is always shown. `text` is the
    model's summary as kept: only its sentences whose every claim was found in `source`
    (empty when the model was not asked, was unavailable, gave invalid output or no
    sentence passed; `notice` then says why). Spans are (start, end) character offsets
    into `source`, the text shown as the task's source-text evidence: `spans` where the
    kept claims were found, `fact_spans` where the extracted facts were."""

    source: str
    deterministic: str
    text: str = ""
    asked: bool = False             # the model was asked (or would have been: unavailable)
    model: str = ""                 # the model's name, when it answered
    model_draft: str = ""           # what the model wrote, whole
    notice: str = ""                # why there is no model text (template notice…)
    checked: int = 0                # claims checked in the kept sentences
    dropped: list[tuple[str, str]] = field(default_factory=list)  # (sentence, why)
    spans: list[tuple[int, int]] = field(default_factory=list)
    fact_spans: list[tuple[int, int]] = field(default_factory=list)

    @property
    def origin(self) -> str:
        return "model" if self.text else "fields"

    def model_label(self) -> str:
        if self.text:
            return (f"Model summary by the local model {self.model} (checked claim by "
                    "claim against the source text)")
        return "Model summary: not used"

    def model_excerpt(self) -> str:
        """The model evidence: the kept summary and what was checked, or why there is
        none; then every dropped sentence with its reason."""
        if self.text:
            lines = [self.text, "", f"Each of its {self.checked} claim(s) (numbers, dates, "
                     "names, drugs, clinical terms and every other word) was found in the "
                     "source text, and who refers to whom matches the letter's labelled "
                     "fields. The triage suggestion comes from the practice's rules on "
                     "the extracted fields, not from this summary."]
        else:
            lines = [self.notice or "The model wrote nothing usable.",
                     "Read the summary from the extracted fields."]
        lines += [f"Dropped (not in the source): \"{s}\" ({why})." for s, why in
                  self.dropped]
        return "\n".join(lines)

    def payload(self) -> dict[str, Any]:
        return {"deterministic": self.deterministic, "text": self.text,
                "origin": self.origin, "asked": self.asked, "model": self.model,
                "model_draft": self.model_draft, "notice": self.notice,
                "checked": self.checked,
                "dropped": [{"sentence": s, "why": w} for s, w in self.dropped],
                "spans": [list(s) for s in self.spans],
                "fact_spans": [list(s) for s in self.fact_spans]}
