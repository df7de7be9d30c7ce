"""Charge capture verification as task specs (pure: no vault, no queue).

An encounter is one patient on one date of service: what the chart documents that day
(procedures, immunizations, billable observations, the visit itself) beside what the
claims bill for that day. Flags, each a `charge_review` task for the biller:
Only days the practice saw the patient count (a documented visit, a kept appointment or a
claim): chart items on other days are history from elsewhere, not charges.
- `missing`      documented and billable, but no claim line bills it
- `no_charge`    a documented visit with nothing billed at all that day
- `unsupported`  billed, but nothing documented that day accounts for it
- `units`        documented and billed in different quantities
- `em_outlier`   an E/M level rare in its rendering provider's own distribution
Providers: a claim line carries its rendering provider (837 2420A, else the claim's
2310B/2310D, else the attending or the billing provider, each marked with its loop), a
chart record its documenting provider (FHIR Encounter.participant or performer). Items
of two different known providers never account for each other; an item whose provider is
unknown, or is only the billing provider (2010AA names the practice, not a person),
matches any, and one documented by someone who renders none of the day's lines (a nurse
giving an injection the physician bills, incident-to) counts with the day's rendering
provider.
Natural keys: `charge:{patient_id}:{date}:{flag}:{code}` (the code is the billing code,
or `visit` for no_charge), so a re-run, or a new claim for the same day, never makes a
second task for the same finding. On a day two or more known providers saw the patient,
the provider's key is appended (`...:{code}:npi:1234567893`), one finding each. Text
carries dates, codes, units, claim numbers and provider names and NPIs; never patient
names, and never CPT descriptors (the AMA's): codes only.
OffHold never edits a claim: approving records that the biller reviewed the finding.
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone
from decimal import Decimal

from app.charges.crosswalk import Crosswalk, short_system
from app.domain.specs import PRIORITY_HIGH, PRIORITY_NORMAL, EvidenceSpec, TaskSpec

KIND = "charge_review"
EM_NEW = ("99202", "99203", "99204", "99205")
EM_ESTABLISHED = ("99211", "99212", "99213", "99214", "99215")
EM_FAMILIES = {"new patient": EM_NEW, "established patient": EM_ESTABLISHED}
EM_CODES = frozenset(EM_NEW + EM_ESTABLISHED)
FLAG_LABEL = {"missing": "documented, not billed", "no_charge": "visit with no charge",
              "unsupported": "billed without documentation", "units": "units differ",
              "em_outlier": "E/M level outlier"}


# Titles and degrees left out when names are compared ("Dr. June Kassulke" is
# "KASSULKE, JUNE" on the 837).
_TITLES = frozenset({"dr", "md", "do", "np", "pa", "rn", "mr", "mrs", "ms", "jr", "sr",
                     "phd", "dnp", "fnp", "aprn"})
# Where a provider was read that names the practice rather than a person: the 837's
# billing provider, used as the rendering provider only when the claim names none.
BILLING_FALLBACK = "2010AA"
PROVIDER_SOURCE = {
    "2420A": "rendering provider of the line (837P 2420A)",
    "2420C": "rendering provider of the line (837I 2420C)",
    "2310B": "rendering provider (837P 2310B)",
    "2310D": "rendering provider (837I 2310D)",
    "2310A": "attending provider (837I 2310A; the claim names no rendering provider)",
    "2010AA": "billing provider (2010AA; the claim names no rendering provider)",
    "appointment": "the appointment's provider (the claim names no rendering provider)",
}


@dataclass(frozen=True)
class Provider:
    """A rendering (claims) or documenting (chart) provider. `source` says where it was
    read: an 837 loop (PROVIDER_SOURCE), a FHIR role (PPRF, ATND, participant,
    performer, 'encounter PPRF'...) or 'appointment'."""

    name: str = ""
    npi: str = ""
    source: str = ""

    @property
    def name_key(self) -> str:
        words = re.split(r"[^a-z0-9]+", self.name.casefold())
        return " ".join(sorted(w for w in words if w and w not in _TITLES))

    @property
    def known(self) -> bool:
        """A person we can compare: named or with an NPI, and not the billing fallback."""
        return bool(self.npi or self.name_key) and self.source != BILLING_FALLBACK

    @property
    def key(self) -> str:
        """The distribution key: the NPI, else the name ('' when neither)."""
        if self.npi:
            return f"npi:{self.npi}"
        return f"name:{self.name_key}" if self.name_key else ""

    def same(self, other: Provider) -> bool | None:
        """True/False when both are known people, None when either is not."""
        if not (self.known and other.known):
            return None
        if self.npi and other.npi:
            return self.npi == other.npi
        return bool(self.name_key) and self.name_key == other.name_key

    def label(self) -> str:
        text = self.name or "(no name)"
        return f"{text} (NPI {self.npi})" if self.npi else text

    def described(self) -> str:
        """The label with where it was read, e.g. '... - rendering provider (837P 2310B)'."""
        where = PROVIDER_SOURCE.get(self.source, f"documenting provider ({self.source})"
                                    if self.source else "")
        return f"{self.label()} - {where}" if where else self.label()


NO_PROVIDER = Provider()


def sentence(label: str) -> str:
    """A label as the start of a sentence ("E/M level outlier" keeps its capitals, which
    str.capitalize() lowered to "E/m")."""
    return label[:1].upper() + label[1:]


@dataclass(frozen=True)
class Documented:
    """One chart record (clinical_records row)."""

    record_id: int
    kind: str          # procedure, immunization, observation, encounter
    system: str        # FHIR system URI or short name
    code: str
    display: str = ""  # never set for CPT (the import drops it)
    # The quantity the documentation states; 1 when it states none (the record is one
    # service or one dose: a FHIR R4 Procedure has no quantity, see app.imports.fhir).
    units: int | Decimal = 1
    provider: Provider = NO_PROVIDER


@dataclass(frozen=True)
class Billed:
    """One claim line (claim_lines row)."""

    claim_id: int
    claim_number: str
    line_id: int
    ordinal: int
    code: str
    units: Decimal = Decimal(1)
    modifiers: tuple[str, ...] = ()
    provider: Provider = NO_PROVIDER  # the line's, else its claim's rendering provider
    unit_basis: str = ""  # SV103/SV204: UN units, MJ minutes (anesthesia time)


@dataclass
class Encounter:
    patient_id: int
    on: date
    provider: str = ""  # from the day's appointment; '' when unknown
    documented: list[Documented] = field(default_factory=list)
    billed: list[Billed] = field(default_factory=list)
    appointment: bool = False  # a kept appointment at the practice that day

    def provider_keys(self) -> dict[Provider, str]:
        """Each known provider of the day (both sides) -> one key per person: an NPI and
        a bare name of the same person (the chart without the NPI) share a key."""
        people = [d.provider for d in self.documented] + [b.provider for b in self.billed]
        keys: dict[Provider, str] = {}
        for p in sorted({p for p in people if p.known}, key=lambda p: (not p.npi, p.key)):
            keys[p] = next((k for q, k in keys.items() if p.same(q)), p.key)
        return keys

    @property
    def several_providers(self) -> bool:
        return len(set(self.provider_keys().values())) > 1

    @property
    def has_visit(self) -> bool:
        return any(d.kind == "encounter" for d in self.documented)

    @property
    def seen_here(self) -> bool:
        """The practice saw the patient that day: a documented visit, a kept appointment
        or a claim. Chart items on other days are history recorded here (a flu shot at
        the pharmacy, an outside lab), not charges."""
        return self.has_visit or self.appointment or bool(self.billed)


@dataclass(frozen=True)
class Flag:
    flag: str
    code: str                   # billing code (or 'visit')
    documented: tuple[Documented, ...] = ()
    billed: tuple[Billed, ...] = ()
    why: str = ""
    provider: Provider = NO_PROVIDER  # whose finding it is (rendering or documenting)


@dataclass(frozen=True)
class Thresholds:
    em_min_visits: int = 20         # a provider's distribution needs this many E/M visits
    em_max_share: float = 0.05      # a level at or under this share of them is an outlier
    due_days: int = 7


def _units(b: Billed) -> Decimal:
    # A line without units (SV104 empty, or a claim stored before units were kept) bills
    # one: that is how a payer reads it.
    return b.units if b.units > 0 else Decimal(1)


def _compatible(a: Provider, b: Provider) -> bool:
    return a.same(b) is not False


def _first_known(items: Iterable[Provider]) -> Provider:
    return next((p for p in items if p.known), NO_PROVIDER)


def compare(enc: Encounter, crosswalk: Crosswalk) -> list[Flag]:
    """The documented-vs-billed flags of one encounter (no E/M outliers: those need the
    provider's distribution, see `em_outliers`)."""
    flags: list[Flag] = []
    if not enc.seen_here:
        return flags
    # Only a day two or more known providers share is split by provider: otherwise an
    # item without one (a record with no performer) counts with the rest.
    keys = enc.provider_keys() if enc.several_providers else {}
    # Someone who renders none of the day's billed lines (the nurse who gave the
    # injection the physician bills, incident-to; an Immunization's administering
    # performer) is not a second biller: their items count with the day's one rendering
    # provider, or with any line when the claims name several.
    billing = {keys[b.provider] for b in enc.billed if b.provider in keys}

    def group_of(p: Provider) -> str:
        key = keys.get(p, "")
        if not key or key in billing:
            return key
        return next(iter(billing)) if len(billing) == 1 else ""

    def matches(b: Billed, who: str, doc_provider: Provider) -> bool:
        if not keys:
            return _compatible(b.provider, doc_provider)
        return not who or not b.provider.known or keys.get(b.provider) == who

    # Each documented billable item is a group: the alternatives that account for it,
    # per documenting provider (two providers' injections are two findings).
    groups: dict[tuple[tuple[str, ...], str], list[Documented]] = defaultdict(list)
    admin_kinds: dict[tuple[str, str], list[Documented]] = defaultdict(list)
    for d in enc.documented:
        if d.kind == "encounter":
            continue
        who = group_of(d.provider)
        alternatives = crosswalk.bills(d.system, d.code)
        if alternatives and not set(alternatives) & EM_CODES:
            groups[(alternatives, who)].append(d)
        if d.kind in crosswalk.administration:
            admin_kinds[(d.kind, who)].append(d)
    admin_codes = {c: k for k, codes in crosswalk.administration.items() for c in codes}
    accounted: set[int] = set()
    for (alternatives, who), docs in groups.items():
        doc_provider = _first_known(d.provider for d in docs)
        lines = [b for b in enc.billed if b.code in alternatives
                 and matches(b, who, doc_provider)]
        accounted.update(b.line_id for b in lines)
        want = sum((Decimal(d.units) for d in docs), Decimal(0))
        if not lines:
            flags.append(Flag("missing", alternatives[0], tuple(docs), (),
                              f"{_doc_codes(docs)} documented; none of "
                              f"{', '.join(alternatives)} billed", doc_provider))
            continue
        if any(b.unit_basis == "MJ" for b in lines):
            continue  # billed in minutes (anesthesia time): not a count to compare
        got = sum((_units(b) for b in lines), Decimal(0))
        if got != want:
            flags.append(Flag("units", lines[0].code, tuple(docs), tuple(lines),
                              f"{_num(want)} documented, {_num(got)} billed",
                              _first_known([lines[0].provider, doc_provider])))
    for (kind, who), docs in admin_kinds.items():
        codes = crosswalk.administration[kind]
        doc_provider = _first_known(d.provider for d in docs)
        lines = [b for b in enc.billed if b.code in codes
                 and matches(b, who, doc_provider)]
        accounted.update(b.line_id for b in lines)
        if not lines:
            flags.append(Flag("missing", codes[0], tuple(docs), (),
                              f"{len(docs)} {kind}(s) documented; no administration code "
                              f"({', '.join(codes[:4])}…) billed", doc_provider))
    visits = [d for d in enc.documented if d.kind == "encounter"]
    for b in enc.billed:
        if b.line_id in accounted or not b.code:
            continue
        if b.code in EM_CODES:
            if not any(matches(b, group_of(v.provider), v.provider) for v in visits):
                flags.append(Flag("unsupported", b.code, (), (b,),
                                  "an E/M is billed but no visit is documented that day"
                                  + (" by this provider" if visits else ""), b.provider))
        elif b.code in admin_codes:
            flags.append(Flag("unsupported", b.code, (), (b,),
                              f"administration billed but no {admin_codes[b.code]} "
                              "documented that day", b.provider))
        else:
            flags.append(Flag("unsupported", b.code, (), (b,),
                              "billed; nothing documented that day accounts for it",
                              b.provider))
    if enc.has_visit and not enc.billed:
        others = tuple(d for d in enc.documented if d.kind != "encounter")
        # The day's missing items are listed on this one task, not one task each.
        flags = [f for f in flags if f.flag != "missing"]
        flags.append(Flag("no_charge", "visit", tuple(visits) + others, (),
                          "a visit is documented and no charge is billed for that day",
                          _first_known(v.provider for v in visits)))
    return _merge_unsupported(flags, keys)


def _merge_unsupported(flags: list[Flag], keys: dict[Provider, str]) -> list[Flag]:
    """Two lines of one code on one day are one finding (one per provider, on a day two
    or more providers saw the patient: `keys`, else {})."""
    out: dict[tuple[str, str, str], Flag] = {}
    for f in flags:
        key = (f.flag, f.code, keys.get(f.provider, ""))
        if key in out:
            prev = out[key]
            out[key] = Flag(f.flag, f.code, prev.documented + f.documented,
                            prev.billed + f.billed, prev.why, prev.provider)
        else:
            out[key] = f
    return list(out.values())


def _num(d: Decimal) -> str:
    return str(d.normalize()) if d == d.to_integral() else str(d)


def _doc_codes(docs: Iterable[Documented]) -> str:
    return ", ".join(dict.fromkeys(f"{short_system(d.system) or d.system} {d.code}"
                                   for d in docs))


def em_line(enc: Encounter) -> Billed | None:
    """The E/M line billed for the encounter (the first, when more than one)."""
    return next((b for b in enc.billed if b.code in EM_CODES), None)


def em_code(enc: Encounter) -> str | None:
    line = em_line(enc)
    return line.code if line else None


def em_provider(enc: Encounter) -> Provider:
    """Whose distribution the encounter's E/M counts in: the E/M line's rendering
    provider (2420A, else the claim's 2310B/2310D, else the 837I attending); for a claim
    that names none, the documenting provider of the day's visit (FHIR), else the
    appointment's provider (all a claim stored before rendering providers were read
    has), else the billing provider (2010AA). `source` says which was used."""
    line = em_line(enc)
    if line is not None and line.provider.known:
        return line.provider
    visit = _first_known(d.provider for d in enc.documented if d.kind == "encounter")
    if visit.known:
        return visit
    if enc.provider:
        return Provider(enc.provider, "", "appointment")
    return line.provider if line is not None else NO_PROVIDER


def em_family(code: str) -> str:
    return next(name for name, codes in EM_FAMILIES.items() if code in codes)


def em_distribution(encounters: Iterable[Encounter]
                    ) -> dict[tuple[str, str], Counter[str]]:
    """(provider key, family) -> billed E/M code counts, per `em_provider`; encounters
    with no provider at all are left out (a distribution is the provider's own)."""
    dist: dict[tuple[str, str], Counter[str]] = defaultdict(Counter)
    for enc in encounters:
        code = em_code(enc)
        key = em_provider(enc).key
        if code and key:
            dist[(key, em_family(code))][code] += 1
    return dist


def distribution_text(counts: Counter[str]) -> str:
    total = sum(counts.values())
    return ", ".join(f"{code} {n} ({n / total:.0%})" for code, n in sorted(counts.items()))


def em_outliers(encounters: list[Encounter], thresholds: Thresholds
                ) -> list[tuple[Encounter, Flag]]:
    """Encounters billed at an E/M level that makes up at most `em_max_share` of their
    rendering provider's E/M visits of that family (new or established), once that
    provider has `em_min_visits` of them (fewer is no distribution to judge by). A rare
    level either way (up- or down-coded) is worth a look."""
    dist = em_distribution(encounters)
    found: list[tuple[Encounter, Flag]] = []
    for enc in encounters:
        code, line, provider = em_code(enc), em_line(enc), em_provider(enc)
        if not code or line is None or not provider.key:
            continue
        counts = dist[(provider.key, em_family(code))]
        total = sum(counts.values())
        if total < thresholds.em_min_visits or counts[code] / total > thresholds.em_max_share:
            continue
        usual, usual_n = counts.most_common(1)[0]
        found.append((enc, Flag(
            "em_outlier", code, tuple(d for d in enc.documented if d.kind == "encounter"),
            (line,), f"{code} is {counts[code]} of {total} ({counts[code] / total:.0%}) "
            f"{em_family(code)} E/M visits billed for {provider.label()}; usual {usual} "
            f"({usual_n / total:.0%})", provider)))
    return found


Row = tuple[str, bool, str, str]  # text, flagged, units ('' for a visit), provider


def columns(enc: Encounter, flag: Flag) -> dict[str, list[Row]]:
    """The day's documented and billed items as (text, flagged, units, provider) rows,
    for the review pane's two sides (codes only; the provider with its NPI)."""
    marked_docs = {d.record_id for d in flag.documented}
    marked_lines = {b.line_id for b in flag.billed}
    return {"documented": [(_doc_text(d), d.record_id in marked_docs,
                            "" if d.kind == "encounter" else _num(Decimal(d.units)),
                            d.provider.label() if d.provider.known else "")
                           for d in enc.documented],
            "billed": [(_line_text(b), b.line_id in marked_lines, _billed_units(b),
                        b.provider.described() if b.provider.key else "")
                       for b in enc.billed]}


def _billed_units(b: Billed) -> str:
    return _num(_units(b)) + (" min" if b.unit_basis == "MJ" else "")


def side_by_side(enc: Encounter, flag: Flag) -> str:
    """The day's documented and billed codes in two columns, the flagged ones marked *,
    each with its provider when known."""
    cols = columns(enc, flag)
    left = [("* " if marked else "  ") + text + (f" [{who}]" if who else "")
            for text, marked, _units, who in cols["documented"]]
    right = [("* " if marked else "  ") + text + (f" [{who}]" if who else "")
             for text, marked, _units, who in cols["billed"]]
    width = max([len(x) for x in left] + [len("Documented (chart)")]) + 2
    rows = [f"{'Documented (chart)':<{width}}| Billed (claim lines)",
            "-" * width + "+" + "-" * 30]
    for i in range(max(len(left), len(right), 1)):
        a = left[i] if i < len(left) else ("  (nothing)" if i == 0 else "")
        b = right[i] if i < len(right) else ("  (nothing)" if i == 0 else "")
        rows.append(f"{a:<{width}}| {b}")
    return "\n".join(rows)


def _doc_text(d: Documented) -> str:
    system = short_system(d.system) or "code"
    text = f"{d.kind} {system} {d.code}"
    if d.kind != "encounter":
        text += f" x{_num(Decimal(d.units))}"
    if d.display and system not in ("cpt", "hcpcs"):
        text += f" ({d.display[:40]})"
    return text


def _line_text(b: Billed) -> str:
    mods = f"-{'-'.join(b.modifiers)}" if b.modifiers else ""
    return f"{b.code}{mods} x{_billed_units(b)}  claim {b.claim_number} line {b.ordinal + 1}"


def _em_evidence(flag: Flag, counts: Counter[str], thresholds: Thresholds) -> str:
    return (f"Provider: {flag.provider.described()}\n"
            f"{flag.why}\n"
            f"Distribution ({sum(counts.values())} {em_family(flag.code)} visits): "
            f"{distribution_text(counts) if counts else 'n/a'}\n"
            f"A level is flagged at {thresholds.em_max_share:.0%} or less of the provider's "
            f"visits, once the provider has {thresholds.em_min_visits} or more.")


def task_spec(enc: Encounter, flag: Flag, now: datetime,
              thresholds: Thresholds = Thresholds(),
              distribution: Counter[str] | None = None) -> TaskSpec:
    """The charge_review task for one flag. `now` is aware UTC; due `due_days` later at
    17:00 UTC. `distribution`: the provider's E/M counts, for an em_outlier's evidence."""
    day = enc.on.isoformat()
    claims = sorted({b.claim_number for b in enc.billed})
    claim_ids = sorted({b.claim_id for b in enc.billed})
    # The finding first: the queue's title column is narrow and already shows the kind.
    title = f"{flag.code} {FLAG_LABEL[flag.flag]} ({day})"
    if flag.flag == "no_charge":
        title = f"Visit documented, nothing billed ({day})"
    steps = {
        "missing": "Check the chart; if the service was performed, add the charge in the "
                   "billing system (a corrected claim if the claim has gone out).",
        "no_charge": "Check whether the visit was billed under another date or not yet "
                     "entered; enter the charges in the billing system.",
        "unsupported": "Check the chart for the documentation; if the service was not "
                       "performed, correct or void the line in the billing system.",
        "units": "Check the documented quantity; correct the units in the billing system "
                 "if they are wrong.",
        "em_outlier": "Check that the documentation supports this level (medical decision "
                      "making or time); an unusual level is not an error by itself.",
    }[flag.flag]
    who = f"Provider: {flag.provider.described()}.\n" if flag.provider.key else ""
    draft = (f"{sentence(FLAG_LABEL[flag.flag])}: {flag.why}.\n"
             f"Date of service {day}; claim(s) {', '.join(claims) or 'none'}.\n{who}"
             f"Next step: {steps}\n"
             "OffHold never changes a claim: approving records that this was reviewed.")
    evidence = [EvidenceSpec("Documented vs billed", side_by_side(enc, flag))]
    provider = flag.provider
    if flag.flag == "em_outlier":
        evidence.append(EvidenceSpec("Provider's E/M distribution", _em_evidence(
            flag, distribution or Counter(), thresholds)))
    due = datetime.combine(now.date() + timedelta(days=thresholds.due_days), time(17, 0),
                           tzinfo=timezone.utc)
    key = f"charge:{enc.patient_id}:{day}:{flag.flag}:{flag.code}"
    keys = enc.provider_keys()
    if enc.several_providers and provider in keys:
        key += f":{keys[provider]}"  # one finding per provider on a shared day
    return TaskSpec(
        kind=KIND, natural_key=key,
        title=title[:200], draft=draft, due_at=due,
        priority=PRIORITY_HIGH if flag.flag in ("missing", "no_charge") else PRIORITY_NORMAL,
        subject_type="claim" if len(claim_ids) == 1 else "encounter",
        subject_id=str(claim_ids[0]) if len(claim_ids) == 1 else f"{enc.patient_id}:{day}",
        patient_id=enc.patient_id,
        payload={"flag": flag.flag, "code": flag.code, "date_of_service": day,
                 "claim_ids": claim_ids, "claim_numbers": claims,
                 "provider": provider.label() if provider.key else enc.provider,
                 "provider_npi": provider.npi,
                 "provider_source": provider.described() if provider.key else "",
                 "documented": [f"{short_system(d.system) or d.system} {d.code}"
                                for d in flag.documented],
                 "billed": [f"{b.code} x{_billed_units(b)}" for b in flag.billed],
                 "columns": columns(enc, flag), "why": flag.why,
                 "record_ids": [d.record_id for d in flag.documented],
                 "line_ids": [b.line_id for b in flag.billed]},
        evidence=tuple(evidence))


def review(encounters: list[Encounter], crosswalk: Crosswalk, now: datetime,
           thresholds: Thresholds = Thresholds()) -> list[TaskSpec]:
    """Every flag of every encounter, as task specs (one per natural key)."""
    specs: dict[str, TaskSpec] = {}
    for enc in encounters:
        for flag in compare(enc, crosswalk):
            spec = task_spec(enc, flag, now, thresholds)
            specs.setdefault(spec.natural_key, spec)
    dist = em_distribution(encounters)
    for enc, flag in em_outliers(encounters, thresholds):
        counts = dist[(flag.provider.key, em_family(flag.code))]
        spec = task_spec(enc, flag, now, thresholds, counts)
        specs.setdefault(spec.natural_key, spec)
    return list(specs.values())
