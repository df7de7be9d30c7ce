"""Referral triage as data: the practice's rules (resources/referrals/triage.yaml) and the
pure decision they make for one incoming referral, with the reasons it can show.

`triage_task` turns a decision into the referral_triage task spec. Natural key:
`referral:in:{referral_id}` (the referral row is itself keyed by its source and the
source's own id, so a re-import finds it). Titles carry the urgency and the action, never
the patient's name.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from functools import lru_cache
from pathlib import Path
from typing import Any

from app.domain.specs import PRIORITY_HIGH, PRIORITY_NORMAL, EvidenceSpec, TaskSpec
from app.referrals import IncomingReferral
from app.referrals.summary import SOURCE_NAMES, SummaryOutcome
from app.rulefiles import load_rule_file, parse_rule_text

RULES_PATH = Path(__file__).resolve().parents[2] / "resources" / "referrals" / "triage.yaml"
_WORDS = {"type": "array", "maxItems": 200, "items": {"type": "string", "minLength": 1,
                                                      "maxLength": 80}}
SCHEMA: dict[str, Any] = {
    "type": "object", "additionalProperties": False, "required": ["urgency"],
    "properties": {
        "specialty": {"type": "object", "additionalProperties": False,
                      "properties": {"accepts": _WORDS,
                                     "decline_reason": {"type": "string", "maxLength": 400}}},
        "urgency": {"type": "array", "minItems": 1, "maxItems": 10, "items": {
            "type": "object", "additionalProperties": False,
            "required": ["class", "action"],
            "properties": {
                "class": {"type": "string", "pattern": "^[a-z_]{1,20}$"},
                "priority_codes": _WORDS, "words": _WORDS, "codes": _WORDS,
                "action": {"enum": ["schedule", "decline"]},
                "within_days": {"type": "integer", "minimum": 0, "maximum": 365},
                "reason": {"type": "string", "maxLength": 400},
                "respond_within_hours": {"type": "integer", "minimum": 0, "maximum": 720}},
            "allOf": [
                {"if": {"properties": {"action": {"const": "schedule"}}, "required": ["action"]},
                 "then": {"required": ["within_days"]}},
                {"if": {"properties": {"action": {"const": "decline"}}, "required": ["action"]},
                 "then": {"required": ["reason"]}}]}},
        "records": {"type": "object", "additionalProperties": False,
                    "properties": {"require_reason": {"type": "boolean"},
                                   "reason": {"type": "string", "maxLength": 400}}},
        "payers": {"type": "array", "maxItems": 50, "items": {
            "type": "object", "additionalProperties": False, "required": ["requires", "reason"],
            "properties": {"plan_types": _WORDS, "names": _WORDS,
                           "requires": {"enum": ["authorization"]},
                           "reason": {"type": "string", "maxLength": 400}}}},
    },
}


@dataclass(frozen=True)
class UrgencyClass:
    name: str
    priority_codes: frozenset[str]
    words: tuple[str, ...]
    codes: tuple[str, ...]
    action: str
    within_days: int | None
    reason: str
    respond_within_hours: int


@dataclass(frozen=True)
class PayerRule:
    plan_types: frozenset[str]
    names: tuple[str, ...]
    requires: str
    reason: str


@dataclass(frozen=True)
class TriageRules:
    classes: tuple[UrgencyClass, ...]
    accepts: tuple[str, ...] = ()
    decline_reason: str = "The practice does not see this specialty."
    require_reason: bool = True
    records_reason: str = "The referral states no reason and no diagnosis."
    payers: tuple[PayerRule, ...] = ()


@dataclass(frozen=True)
class Decision:
    urgency: str
    action: str                      # schedule, request_records, decline
    within_days: int | None          # schedule: see the patient within this many days
    reason: str                      # why this action (shown on the task)
    matched: tuple[str, ...] = ()    # what set the urgency (priority code, word, code)
    respond_within_hours: int = 24


def _lower(items: Any) -> tuple[str, ...]:
    return tuple(str(i).lower() for i in items or [])


def from_document(doc: dict[str, Any]) -> TriageRules:
    classes = tuple(UrgencyClass(
        str(c["class"]), frozenset(str(p).lower() for p in c.get("priority_codes", [])),
        _lower(c.get("words")), tuple(str(x).upper() for x in c.get("codes", [])),
        str(c["action"]), c.get("within_days"), str(c.get("reason", "")),
        int(c.get("respond_within_hours", 24))) for c in doc["urgency"])
    spec = doc.get("specialty", {})
    records = doc.get("records", {})
    payers = tuple(PayerRule(frozenset(_lower(p.get("plan_types"))), _lower(p.get("names")),
                             str(p["requires"]), str(p["reason"]))
                   for p in doc.get("payers", []))
    return TriageRules(classes, _lower(spec.get("accepts")),
                       str(spec.get("decline_reason", TriageRules.decline_reason)),
                       bool(records.get("require_reason", True)),
                       str(records.get("reason", TriageRules.records_reason)), payers)


def parse_rules(data: bytes, name: str = "triage.yaml") -> TriageRules:
    return from_document(parse_rule_text(data, SCHEMA, name))


@lru_cache(maxsize=2)
def load_rules(path: Path = RULES_PATH) -> TriageRules:
    return from_document(load_rule_file(path, SCHEMA))


def _has_word(text: str, word: str) -> bool:
    return re.search(r"(?<!\w)" + re.escape(word) + r"(?!\w)", text) is not None


def urgency_of(ref: IncomingReferral, rules: TriageRules) -> tuple[UrgencyClass, tuple[str, ...]]:
    """The first class that matches (priority code, word in the text, diagnosis code
    prefix), with what matched; the last class when none does."""
    text = ref.text_for_rules().lower()
    priority = ref.priority.strip().lower()
    codes = [d.code.upper() for d in ref.diagnoses if d.system in ("icd10", "")]
    for cls in rules.classes:
        matched: list[str] = []
        if priority and priority in cls.priority_codes:
            matched.append(f"priority code {ref.priority}")
        matched += [f"word '{w}'" for w in cls.words if _has_word(text, w)]
        matched += [f"diagnosis {c}" for c in codes
                    if any(c.startswith(prefix) for prefix in cls.codes)]
        if matched:
            return cls, tuple(matched)
    return rules.classes[-1], ()


def _specialty_ok(ref: IncomingReferral, rules: TriageRules) -> bool:
    wanted = ref.specialty.strip().lower()
    if not rules.accepts or not wanted:
        return True
    return any(term == wanted or _has_word(wanted, term) for term in rules.accepts)


def triage(ref: IncomingReferral, rules: TriageRules, *, plan_type: str = "",
           payer_name: str = "") -> Decision:
    """The suggested action for one incoming referral (see the rule file's header for
    the order of the checks). `plan_type` and `payer_name` are the matched patient's
    payer's, else what the referral names."""
    cls, matched = urgency_of(ref, rules)
    hours = cls.respond_within_hours

    def decide(action: str, reason: str, days: int | None = None) -> Decision:
        return Decision(cls.name, action, days, reason, matched, hours)

    if cls.action == "decline":
        return decide("decline", cls.reason)
    if not _specialty_ok(ref, rules):
        return decide("decline", rules.decline_reason)
    if rules.require_reason and not ref.reason.strip() and not ref.diagnoses:
        return decide("request_records", rules.records_reason)
    payer = (payer_name or ref.payer_name).lower()
    for rule in rules.payers:
        applies = plan_type.lower() in rule.plan_types or any(
            _has_word(payer, n) for n in rule.names)
        if applies and rule.requires == "authorization" and not ref.authorization.strip():
            return decide("request_records", rule.reason)
    days = cls.within_days if cls.within_days is not None else 30
    return decide("schedule", f"{cls.name.capitalize()} referral: see the patient within "
                              f"{days} day(s).", days)


ACTION_LABEL = {"schedule": "schedule", "request_records": "request records",
                "decline": "decline"}


def triage_task(referral_id: int, ref: IncomingReferral, decision: Decision, now: datetime,
                today: date, *, patient_id: int | None,
                summary: SummaryOutcome | None = None) -> TaskSpec:
    """The referral_triage task: the suggested action as the draft, the source excerpt and
    the rule that decided as evidence, after the summary (from the fields, and the
    model's as checked, when it was asked; its spans point into the source-text
    evidence). `now` aware UTC; `today` the practice's date."""
    action = ACTION_LABEL[decision.action]
    by = today + timedelta(days=decision.within_days) if decision.within_days is not None \
        else None
    headline = {"schedule": f"Schedule within {decision.within_days} day(s)"
                            + (f" (by {by.isoformat()})" if by else ""),
                "request_records": "Request records before scheduling",
                "decline": "Decline"}[decision.action]
    draft = "\n".join(line for line in [
        f"Suggested action: {headline}.",
        f"Why: {decision.reason}",
        f"Urgency: {decision.urgency}" + (f" ({', '.join(decision.matched)})"
                                          if decision.matched else " (no urgency signal)"),
        "" if patient_id is not None else "No patient on file matches the referral: check the name "
                                   "and date of birth, or add the patient.",
    ] if line)
    source = SOURCE_NAMES.get(ref.source, ref.source)
    facts = [f"Source: {source} ({ref.source_id})"]
    for label, value in (("Referring", ref.referring), ("Specialty asked", ref.specialty),
                         ("Service", f"{ref.service.system} {ref.service.code} "
                                     f"{ref.service.display}".strip() if ref.service else ""),
                         ("Priority code", ref.priority), ("Payer", ref.payer_name),
                         ("Referral authorization", ref.authorization),
                         ("Requested", ref.requested_on.isoformat() if ref.requested_on
                          else ""),
                         ("Diagnoses", ", ".join(f"{d.system} {d.code}".strip()
                                                 for d in ref.diagnoses[:10]))):
        if value:
            facts.append(f"{label}: {value}")
    told: list[EvidenceSpec] = []
    if summary is not None:
        told.append(EvidenceSpec("Summary from the extracted fields", summary.deterministic))
        if summary.asked:
            told.append(EvidenceSpec(summary.model_label(), summary.model_excerpt()))
    evidence = [*told, EvidenceSpec("Referral", "\n".join(facts)),
                # the summary's spans index this text: it is shown exactly as checked
                EvidenceSpec("Reason for referral (source text)",
                             summary.source if summary is not None and summary.source
                             else (ref.excerpt or ref.reason or "(none stated)")[:2000]),
                EvidenceSpec("Triage rule", f"class {decision.urgency}; action {action}; "
                                            + (", ".join(decision.matched) or "default class"))]
    return TaskSpec(
        kind="referral_triage", natural_key=f"referral:in:{referral_id}",
        subject_type="referral", subject_id=str(referral_id), patient_id=patient_id,
        title=f"Referral ({decision.urgency}): {action}"[:200], draft=draft,
        due_at=now + timedelta(hours=decision.respond_within_hours),
        priority=PRIORITY_HIGH if decision.urgency in ("emergent", "urgent")
        or decision.respond_within_hours <= 4 else PRIORITY_NORMAL,
        payload={"referral_id": referral_id, "action": decision.action,
                 "within_days": decision.within_days, "urgency": decision.urgency,
                 "schedule_by": by.isoformat() if by else None, "reason": decision.reason,
                 "matched": list(decision.matched),
                 **({"summary": summary.payload()} if summary is not None else {})},
        evidence=tuple(evidence))
