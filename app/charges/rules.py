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
- `em_outlier`   an E/M level rare in the provider's own distribution
Natural keys: `charge:{patient_id}:{date}:{flag}:{code}` (the code is the billing code,
or `visit` for no_charge), so a re-run, or a new claim for the same day, never makes a
second task for the same finding. Text carries dates, codes, units and claim numbers;
never patient names, and never CPT descriptors (the AMA's): codes only.
OffHold never edits a claim: approving records that the biller reviewed the finding.
"""

from __future__ import annotations

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


@dataclass(frozen=True)
class Documented:
    """One chart record (clinical_records row)."""

    record_id: int
    kind: str          # procedure, immunization, observation, encounter
    system: str        # FHIR system URI or short name
    code: str
    display: str = ""  # never set for CPT (the import drops it)
    units: int = 1


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


@dataclass
class Encounter:
    patient_id: int
    on: date
    provider: str = ""  # from the day's appointment; '' when unknown
    documented: list[Documented] = field(default_factory=list)
    billed: list[Billed] = field(default_factory=list)
    appointment: bool = False  # a kept appointment at the practice that day

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


@dataclass(frozen=True)
class Thresholds:
    em_min_visits: int = 20         # a provider's distribution needs this many E/M visits
    em_max_share: float = 0.05      # a level at or under this share of them is an outlier
    due_days: int = 7


def _units(b: Billed) -> Decimal:
    return b.units if b.units > 0 else Decimal(1)


def compare(enc: Encounter, crosswalk: Crosswalk) -> list[Flag]:
    """The documented-vs-billed flags of one encounter (no E/M outliers: those need the
    provider's distribution, see `em_outliers`)."""
    flags: list[Flag] = []
    if not enc.seen_here:
        return flags
    # Each documented billable item is a group: the alternatives that account for it.
    groups: dict[tuple[str, ...], list[Documented]] = defaultdict(list)
    admin_kinds: dict[str, list[Documented]] = defaultdict(list)
    for d in enc.documented:
        if d.kind == "encounter":
            continue
        alternatives = crosswalk.bills(d.system, d.code)
        if alternatives and not set(alternatives) & EM_CODES:
            groups[alternatives].append(d)
        if d.kind in crosswalk.administration:
            admin_kinds[d.kind].append(d)
    admin_codes = {c: k for k, codes in crosswalk.administration.items() for c in codes}
    accounted: set[int] = set()
    for alternatives, docs in groups.items():
        lines = [b for b in enc.billed if b.code in alternatives]
        accounted.update(b.line_id for b in lines)
        want = sum(d.units for d in docs)
        if not lines:
            flags.append(Flag("missing", alternatives[0], tuple(docs), (),
                              f"{_doc_codes(docs)} documented; none of "
                              f"{', '.join(alternatives)} billed"))
            continue
        got = sum((_units(b) for b in lines), Decimal(0))
        if got != want:
            flags.append(Flag("units", lines[0].code, tuple(docs), tuple(lines),
                              f"{want} documented, {_num(got)} billed"))
    for kind, docs in admin_kinds.items():
        codes = crosswalk.administration[kind]
        lines = [b for b in enc.billed if b.code in codes]
        accounted.update(b.line_id for b in lines)
        if not lines:
            flags.append(Flag("missing", codes[0], tuple(docs), (),
                              f"{len(docs)} {kind}(s) documented; no administration code "
                              f"({', '.join(codes[:4])}…) billed"))
    for b in enc.billed:
        if b.line_id in accounted or not b.code:
            continue
        if b.code in EM_CODES:
            if not enc.has_visit:
                flags.append(Flag("unsupported", b.code, (), (b,),
                                  "an E/M is billed but no visit is documented that day"))
        elif b.code in admin_codes:
            flags.append(Flag("unsupported", b.code, (), (b,),
                              f"administration billed but no {admin_codes[b.code]} "
                              "documented that day"))
        else:
            flags.append(Flag("unsupported", b.code, (), (b,),
                              "billed; nothing documented that day accounts for it"))
    if enc.has_visit and not enc.billed:
        visits = tuple(d for d in enc.documented if d.kind == "encounter")
        others = tuple(d for d in enc.documented if d.kind != "encounter")
        # The day's missing items are listed on this one task, not one task each.
        flags = [f for f in flags if f.flag != "missing"]
        flags.append(Flag("no_charge", "visit", visits + others, (),
                          "a visit is documented and no charge is billed for that day"))
    return _merge_unsupported(flags)


def _merge_unsupported(flags: list[Flag]) -> list[Flag]:
    """Two lines of one code on one day are one finding."""
    out: dict[tuple[str, str], Flag] = {}
    for f in flags:
        key = (f.flag, f.code)
        if key in out:
            prev = out[key]
            out[key] = Flag(f.flag, f.code, prev.documented + f.documented,
                            prev.billed + f.billed, prev.why)
        else:
            out[key] = f
    return list(out.values())


def _num(d: Decimal) -> str:
    return str(d.normalize()) if d == d.to_integral() else str(d)


def _doc_codes(docs: Iterable[Documented]) -> str:
    return ", ".join(dict.fromkeys(f"{short_system(d.system) or d.system} {d.code}"
                                   for d in docs))


def em_code(enc: Encounter) -> str | None:
    """The E/M billed for the encounter (the first, when more than one)."""
    return next((b.code for b in enc.billed if b.code in EM_CODES), None)


def em_family(code: str) -> str:
    return next(name for name, codes in EM_FAMILIES.items() if code in codes)


def em_distribution(encounters: Iterable[Encounter]
                    ) -> dict[tuple[str, str], Counter[str]]:
    """(provider, family) -> billed E/M code counts; encounters with no known provider
    are left out (a distribution is the provider's own)."""
    dist: dict[tuple[str, str], Counter[str]] = defaultdict(Counter)
    for enc in encounters:
        code = em_code(enc)
        if code and enc.provider:
            dist[(enc.provider, em_family(code))][code] += 1
    return dist


def em_outliers(encounters: list[Encounter], thresholds: Thresholds
                ) -> list[tuple[Encounter, Flag]]:
    """Encounters billed at an E/M level that makes up at most `em_max_share` of the
    provider's E/M visits of that family (new or established), once the provider has
    `em_min_visits` of them. A rare level either way (up- or down-coded) is worth a look."""
    dist = em_distribution(encounters)
    found: list[tuple[Encounter, Flag]] = []
    for enc in encounters:
        code = em_code(enc)
        if not code or not enc.provider:
            continue
        counts = dist[(enc.provider, em_family(code))]
        total = sum(counts.values())
        if total < thresholds.em_min_visits or counts[code] / total > thresholds.em_max_share:
            continue
        usual, usual_n = counts.most_common(1)[0]
        line = next(b for b in enc.billed if b.code == code)
        found.append((enc, Flag(
            "em_outlier", code, tuple(d for d in enc.documented if d.kind == "encounter"),
            (line,), f"{code} is {counts[code]} of {total} ({counts[code] / total:.0%}) "
            f"{em_family(code)} E/M visits billed for {enc.provider}; usual {usual} "
            f"({usual_n / total:.0%})")))
    return found


def columns(enc: Encounter, flag: Flag) -> dict[str, list[tuple[str, bool]]]:
    """The day's documented and billed items as (text, flagged) pairs, for the review
    pane's two columns (codes only)."""
    marked_docs = {d.record_id for d in flag.documented}
    marked_lines = {b.line_id for b in flag.billed}
    return {"documented": [(_doc_text(d), d.record_id in marked_docs) for d in enc.documented],
            "billed": [(_line_text(b), b.line_id in marked_lines) for b in enc.billed]}


def side_by_side(enc: Encounter, flag: Flag) -> str:
    """The day's documented and billed codes in two columns; the flagged ones marked *."""
    cols = columns(enc, flag)
    left = [("* " if marked else "  ") + text for text, marked in cols["documented"]]
    right = [("* " if marked else "  ") + text for text, marked in cols["billed"]]
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
    if d.units != 1:
        text += f" x{d.units}"
    if d.display and system not in ("cpt", "hcpcs"):
        text += f" ({d.display[:40]})"
    return text


def _line_text(b: Billed) -> str:
    mods = f"-{'-'.join(b.modifiers)}" if b.modifiers else ""
    return f"{b.code}{mods} x{_num(_units(b))}  claim {b.claim_number} line {b.ordinal + 1}"


def task_spec(enc: Encounter, flag: Flag, now: datetime,
              thresholds: Thresholds = Thresholds()) -> TaskSpec:
    """The charge_review task for one flag. `now` is aware UTC; due `due_days` later at
    17:00 UTC."""
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
    draft = (f"{FLAG_LABEL[flag.flag].capitalize()}: {flag.why}.\n"
             f"Date of service {day}; claim(s) {', '.join(claims) or 'none'}.\n"
             f"Next step: {steps}\n"
             "OffHold never changes a claim: approving records that this was reviewed.")
    evidence = [EvidenceSpec("Documented vs billed", side_by_side(enc, flag))]
    if flag.flag == "em_outlier":
        evidence.append(EvidenceSpec("Provider's E/M distribution", flag.why))
    due = datetime.combine(now.date() + timedelta(days=thresholds.due_days), time(17, 0),
                           tzinfo=timezone.utc)
    return TaskSpec(
        kind=KIND, natural_key=f"charge:{enc.patient_id}:{day}:{flag.flag}:{flag.code}",
        title=title[:200], draft=draft, due_at=due,
        priority=PRIORITY_HIGH if flag.flag in ("missing", "no_charge") else PRIORITY_NORMAL,
        subject_type="claim" if len(claim_ids) == 1 else "encounter",
        subject_id=str(claim_ids[0]) if len(claim_ids) == 1 else f"{enc.patient_id}:{day}",
        patient_id=enc.patient_id,
        payload={"flag": flag.flag, "code": flag.code, "date_of_service": day,
                 "claim_ids": claim_ids, "claim_numbers": claims,
                 "provider": enc.provider,
                 "documented": [f"{short_system(d.system) or d.system} {d.code}"
                                for d in flag.documented],
                 "billed": [f"{b.code} x{_num(_units(b))}" for b in flag.billed],
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
    for enc, flag in em_outliers(encounters, thresholds):
        spec = task_spec(enc, flag, now, thresholds)
        specs.setdefault(spec.natural_key, spec)
    return list(specs.values())
