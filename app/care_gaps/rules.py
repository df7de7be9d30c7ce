"""Care-gap rules, read from resources/care_gaps/*.yaml and evaluated on one patient's
facts at one local date (pure: no vault, no Qt).

A rule names its population (sex, age in whole years on the evaluation date, inclusive
bounds; optional active condition codes; optional coverage plan types), the evidence that
meets it (one or more modalities, each with its codes and its interval in months, or the
influenza season), exclusions (codes that take the patient out for good), a look-back
(records older than it are not read) and the source it follows.

A gap is open from the day the last evidence's interval runs out (`due_on`), so the day an
interval expires the gap is open, and a patient enters the population on the birthday that
reaches `age.min` and leaves it on the birthday after `age.max`. The workflow keys tasks
`care_gap:{rule}:{patient}:{local date created}` and makes one per rule and patient at a
time, no sooner than the cool-down after the previous one.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from dateutil.relativedelta import relativedelta

# FHIR code system URIs (and the short names rule files use) -> the short name
CODE_SYSTEMS: dict[str, str] = {
    "http://loinc.org": "LOINC", "http://snomed.info/sct": "SNOMED",
    "http://www.ama-assn.org/go/cpt": "CPT", "urn:oid:2.16.840.1.113883.6.12": "CPT",
    "https://www.cms.gov/Medicare/Coding/HCPCSReleaseCodeSets": "HCPCS",
    "http://www.cms.gov/Medicare/Coding/HCPCSReleaseCodeSets": "HCPCS",
    "urn:oid:2.16.840.1.113883.6.285": "HCPCS",
    "http://hl7.org/fhir/sid/cvx": "CVX", "http://hl7.org/fhir/sid/icd-10-cm": "ICD10",
    "http://hl7.org/fhir/sid/icd-10": "ICD10",
}
SHORT_SYSTEMS = ("LOINC", "SNOMED", "CPT", "HCPCS", "CVX", "ICD10")
INACTIVE_CONDITION = frozenset({"resolved", "inactive", "remission", "refuted",
                                "entered-in-error"})

_CODES = {"type": "object", "minProperties": 1, "additionalProperties": False,
          "properties": {s: {"type": "array", "minItems": 1, "maxItems": 200,
                             "items": {"type": "string", "pattern": r"^[A-Za-z0-9.\-]+\*?$",
                                       "maxLength": 20}} for s in SHORT_SYSTEMS}}
_MONTH_DAY = {"type": "string", "pattern": r"^(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])$"}
SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object", "additionalProperties": False,
    "required": ["id", "title", "source", "population", "lookback_months", "evidence"],
    "properties": {
        "id": {"type": "string", "pattern": r"^[a-z][a-z0-9_]{2,40}$"},
        "title": {"type": "string", "minLength": 3, "maxLength": 80},
        "source": {"type": "object", "additionalProperties": False,
                   "required": ["citation", "url"],
                   "properties": {"citation": {"type": "string", "minLength": 10},
                                  "url": {"type": "string", "pattern": "^https://"}}},
        "population": {
            "type": "object", "additionalProperties": False, "required": ["age"],
            "properties": {
                "sex": {"type": "array", "items": {"enum": ["female", "male"]},
                        "minItems": 1, "uniqueItems": True},
                "age": {"type": "object", "additionalProperties": False,
                        "properties": {"min_years": {"type": "integer", "minimum": 0},
                                       "min_months": {"type": "integer", "minimum": 0},
                                       "max_years": {"type": "integer", "minimum": 0}}},
                "conditions": _CODES,
                "coverage": {"type": "array", "minItems": 1, "items": {"enum": [
                    "medicare_ffs", "medicare_advantage", "medicaid", "commercial", "qhp"]}},
            }},
        "lookback_months": {"type": "integer", "minimum": 1, "maximum": 240},
        "evidence": {"type": "array", "minItems": 1, "maxItems": 10, "items": {
            "type": "object", "additionalProperties": False, "required": ["name", "codes"],
            "oneOf": [{"required": ["interval_months"]}, {"required": ["season"]}],
            "properties": {
                "name": {"type": "string", "minLength": 2, "maxLength": 60},
                "interval_months": {"type": "integer", "minimum": 1, "maximum": 240},
                "season": {"type": "object", "additionalProperties": False,
                           "required": ["starts", "outreach_from", "outreach_until"],
                           "properties": {"starts": _MONTH_DAY, "outreach_from": _MONTH_DAY,
                                          "outreach_until": _MONTH_DAY}},
                "codes": _CODES}}},
        "exclusions": _CODES,
        "outreach": {"enum": ["care_gap_reminder"]},
    },
}


class RuleError(ValueError):
    """A rule file that passes the schema but not its own logic (names the rule)."""


def _codes(raw: Mapping[str, Iterable[str]] | None) -> dict[str, frozenset[str]]:
    return {system: frozenset(_norm(system, c) for c in codes)
            for system, codes in (raw or {}).items()}


def _norm(system: str, code: str) -> str:
    return code.replace(".", "").upper() if system == "ICD10" else code.strip()


@dataclass(frozen=True)
class Season:
    """The influenza season: evidence counts from `starts` (month-day); the gap is raised
    between `outreach_from` and `outreach_until` (the latter may be in the next year)."""

    starts: tuple[int, int]
    outreach_from: tuple[int, int]
    outreach_until: tuple[int, int]


@dataclass(frozen=True)
class Modality:
    name: str
    codes: dict[str, frozenset[str]]
    interval_months: int | None = None
    season: Season | None = None


@dataclass(frozen=True)
class Rule:
    id: str
    title: str
    citation: str
    url: str
    lookback_months: int
    modalities: tuple[Modality, ...]
    sexes: frozenset[str] = frozenset()
    min_years: int = 0
    min_months: int = 0
    max_years: int | None = None
    conditions: dict[str, frozenset[str]] = field(default_factory=dict)
    coverage: frozenset[str] = frozenset()
    exclusions: dict[str, frozenset[str]] = field(default_factory=dict)
    outreach: str = "care_gap_reminder"


def _md(text: str) -> tuple[int, int]:
    month, day = text.split("-")
    return int(month), int(day)


def rule_from_doc(doc: Mapping[str, Any]) -> Rule:
    """A Rule from a document that passed SCHEMA; RuleError for what a schema cannot say."""
    pop, age = doc["population"], doc["population"]["age"]
    modalities = []
    for m in doc["evidence"]:
        season = m.get("season")
        modalities.append(Modality(
            m["name"], _codes(m["codes"]), m.get("interval_months"),
            Season(_md(season["starts"]), _md(season["outreach_from"]),
                   _md(season["outreach_until"])) if season else None))
        if m.get("interval_months", 0) > doc["lookback_months"]:
            raise RuleError(f"{doc['id']}: {m['name']}'s interval is longer than the "
                            "look-back, so its evidence would never be read")
    rule = Rule(doc["id"], doc["title"], doc["source"]["citation"], doc["source"]["url"],
                doc["lookback_months"], tuple(modalities), frozenset(pop.get("sex", [])),
                age.get("min_years", 0), age.get("min_months", 0), age.get("max_years"),
                _codes(pop.get("conditions")), frozenset(pop.get("coverage", [])),
                _codes(doc.get("exclusions")), doc.get("outreach", "care_gap_reminder"))
    if rule.max_years is not None and rule.max_years < rule.min_years:
        raise RuleError(f"{rule.id}: age.max_years is below age.min_years")
    return rule


def rules_dir() -> Path:
    return Path(__file__).resolve().parents[2] / "resources" / "care_gaps"


@dataclass(frozen=True)
class Record:
    """A clinical record as the rules see it: `system` is a FHIR URI or a short name;
    `on` and `ended` are dates; `status` is the clinical status for conditions."""

    kind: str
    system: str
    code: str
    on: date | None
    status: str = ""
    ended: date | None = None

    @property
    def short_system(self) -> str:
        return CODE_SYSTEMS.get(self.system, self.system.upper())


@dataclass(frozen=True)
class PatientFacts:
    patient_id: int
    dob: date
    sex: str                              # 'female' / 'male' (F/M accepted)
    records: tuple[Record, ...] = ()
    plan_types: frozenset[str] = frozenset()

    @property
    def sex_word(self) -> str:
        s = self.sex.strip().lower()
        return {"f": "female", "m": "male"}.get(s, s)


def matches(record: Record, codes: Mapping[str, frozenset[str]]) -> bool:
    system = record.short_system
    wanted = codes.get(system)
    if not wanted:
        return False
    code = _norm(system, record.code)
    return code in wanted or any(w.endswith("*") and code.startswith(w[:-1]) for w in wanted)


@dataclass(frozen=True)
class GapResult:
    """`status`: 'open' (due), 'met', 'excluded', 'not_due_yet' (outside the season's
    outreach months) or 'not_applicable'. `reason` is PHI-free (codes and dates)."""

    rule: Rule
    status: str
    reason: str
    due_on: date | None = None
    last: Record | None = None
    modality: str = ""


def season_start(season: Season, today: date) -> date:
    """The most recent season start on or before `today`."""
    start = date(today.year, *season.starts)
    return start if start <= today else date(today.year - 1, *season.starts)


def in_outreach_months(season: Season, today: date) -> bool:
    start = season_start(season, today)
    first = date(start.year, *season.outreach_from)
    until = date(start.year, *season.outreach_until)
    if until < first:
        until = date(start.year + 1, *season.outreach_until)
    return first <= today <= until


def in_population(rule: Rule, facts: PatientFacts, today: date) -> str:
    """'' when the patient is in the rule's population today, else why not."""
    if rule.sexes and facts.sex_word not in rule.sexes:
        return "sex outside the population"
    age = relativedelta(today, facts.dob)
    if age.years * 12 + age.months < rule.min_years * 12 + rule.min_months:
        return "younger than the population"
    if rule.max_years is not None and age.years > rule.max_years:
        return "older than the population"
    if rule.coverage and not rule.coverage & facts.plan_types:
        return "no coverage of the plan types named"
    if rule.conditions and not any(
            r.kind == "condition" and r.status.lower() not in INACTIVE_CONDITION
            and (r.ended is None or r.ended > today) and matches(r, rule.conditions)
            for r in facts.records):
        return "no active condition of the codes named"
    return ""


def evaluate(rule: Rule, facts: PatientFacts, today: date) -> GapResult:
    """This rule for this patient at the local date `today`."""
    why_not = in_population(rule, facts, today)
    if why_not:
        return GapResult(rule, "not_applicable", why_not)
    for r in facts.records:
        if matches(r, rule.exclusions) and (r.on is None or r.on <= today):
            return GapResult(rule, "excluded", f"excluded by {r.short_system} {r.code}"
                             + (f" ({r.on.isoformat()})" if r.on else ""), last=r)
    since = today - relativedelta(months=rule.lookback_months)
    best: tuple[date, Modality, Record | None] | None = None
    for m in rule.modalities:
        hits = sorted((r for r in facts.records if r.kind != "condition" and r.on is not None
                       and since <= r.on <= today and matches(r, m.codes)),
                      key=lambda r: r.on or date.min)
        last = hits[-1] if hits else None
        if m.season is not None:
            start = season_start(m.season, today)
            if last is not None and last.on is not None and last.on >= start:
                return GapResult(rule, "met", f"{m.name} this season "
                                 f"({last.short_system} {last.code}, {last.on.isoformat()})",
                                 date(start.year + 1, *m.season.starts), last, m.name)
            if not in_outreach_months(m.season, today):
                return GapResult(rule, "not_due_yet", "outside the season's outreach months")
            due = max(start, date(start.year, *m.season.outreach_from))
        else:
            assert m.interval_months is not None
            if last is None or last.on is None:
                due = today
            else:
                due = last.on + relativedelta(months=m.interval_months)
                if due > today:
                    return GapResult(rule, "met", f"{m.name} on {last.on.isoformat()} "
                                     f"({last.short_system} {last.code}), good until "
                                     f"{due.isoformat()}", due, last, m.name)
        if best is None or (last is not None and (best[2] is None or best[0] < due)):
            best = (due, m, last)
    assert best is not None
    due, m, last = best
    if last is None or last.on is None:
        reason = f"no {' / '.join(x.name for x in rule.modalities)} on record in the last " \
                 f"{rule.lookback_months} months"
        due = today
    else:
        reason = (f"last {m.name} {last.on.isoformat()} ({last.short_system} {last.code}); "
                  f"due {due.isoformat()}")
    return GapResult(rule, "open", reason, due, last, m.name)


def load_rules(directory: Path | None = None) -> list[Rule]:
    """Every *.yaml rule in `directory` (default: the shipped resources/care_gaps), checked
    against SCHEMA; a bad file is refused naming the file and the failing path."""
    from app.rulefiles import RuleFileError, load_rule_file
    rules: list[Rule] = []
    for path in sorted((directory or rules_dir()).glob("*.yaml")):
        try:
            rules.append(rule_from_doc(load_rule_file(path, SCHEMA)))
        except RuleError as exc:
            raise RuleFileError(f"{path.name}: {exc}") from None
    if len({r.id for r in rules}) != len(rules):
        raise RuleFileError("two care-gap rule files share an id")
    return rules
