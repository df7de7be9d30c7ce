"""837 claims, professional (005010X222A1) and institutional (005010X223A2/A3), into
SubmittedClaim objects: the claims the practice's billing system sent, so that a later
835 (CLP01) or 277 (TRN/REF*EJ) finds them by the patient control number (CLM01).

One pass over the segments, like the 835 parser. Loops are told apart by the HL level
(20 billing provider, 22 subscriber, 23 patient) and by what came last: after CLM, an
SBR opens the other-payer loops (2320/2330), whose NM1*IL/PR name someone else's
coverage and must not overwrite this claim's payer or subscriber.

A problem inside one claim is that claim's: with `skip_bad` it is listed (position and
reason) and the claim left out; otherwise the whole file is refused. A problem outside
any claim (envelope, header loops) always refuses the file.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal

from app.domain.claims import Party, Provider, SubmittedClaim, SubmittedLine
from app.imports.common import LIMITS, BadRecord, Deadline, Limits
from app.x12.common import amount, ccyymmdd, check_version, el, need
from app.x12.envelope import Interchange, parse_envelope
from app.x12.errors import X12Error

VERSIONS = ("005010X222", "005010X223")
# HI qualifiers that carry diagnoses (ICD-10 AB*, ICD-9 B*): principal, other, admitting,
# reason for visit, external cause. Others (BR/BQ procedures, BH/BE/BG/BI occurrence,
# value and condition codes) are institutional details the product does not use.
PRINCIPAL_DX = frozenset({"ABK", "BK"})
OTHER_DX = frozenset({"ABF", "BF", "ABJ", "BJ", "APR", "PR", "ABN", "BN"})
FREQUENCIES = frozenset("123456789") | {"0"}
DX_QUALIFIERS = PRINCIPAL_DX | OTHER_DX | frozenset({"BR", "BQ", "BH", "BE", "BG", "BI", "ABR",
                                                     "ABQ", "DR", "TC"})
# A procedure composite written with another separator than ISA16 ("HC>99213" in a file
# whose ISA16 is ':'): common in published examples and some billing systems. Read it, and
# say so in the import's findings.
_ALT_COMPONENT = re.compile(r"[A-Z]{2}([^A-Za-z0-9 ])[A-Z0-9]")


@dataclass
class Parsed837:
    claims: list[SubmittedClaim] = field(default_factory=list)
    bad: list[BadRecord] = field(default_factory=list)
    findings: list[str] = field(default_factory=list)
    unbalanced: list[str] = field(default_factory=list)  # positions of CLM02 != lines

    def summarize(self) -> None:
        """Findings that repeat per claim, said once with a count and the first place."""
        if self.unbalanced:
            self.findings.append(f"{len(self.unbalanced)} claim(s) whose CLM02 total is not "
                                 f"the sum of their lines (first at {self.unbalanced[0]})")
        seen: dict[tuple[str, str], int] = {}
        for claim in self.claims:
            key = (claim.claim_number, claim.payer_ident or claim.payer_name)
            seen[key] = seen.get(key, 0) + 1
        repeats = sum(n - 1 for n in seen.values() if n > 1)
        if repeats:
            self.findings.append(f"{repeats} claim(s) repeat a claim number (CLM01) already "
                                 "in this file for the same payer; the last one is kept")


def _kind(version: str, set_id: str) -> str | None:
    if version.startswith("005010X222"):
        return "837P"
    if version.startswith("005010X223"):
        return "837I"
    return None


def parse_837(data: bytes | str | Interchange, *, lenient: bool = False,
              skip_bad: bool = False, limits: Limits = LIMITS) -> Parsed837:
    """Every claim of every 837 transaction in the file. Raises X12Error naming the
    segment and its position for a malformed file (or a bad claim without skip_bad)."""
    inter = data if isinstance(data, Interchange) else parse_envelope(data, lenient=lenient)
    txns = inter.transactions()
    if not txns:
        raise inter.tokens.error("no transaction sets in the file", 0)
    out = Parsed837(findings=list(inter.findings))
    deadline = Deadline(limits.seconds)
    segs = inter.segments
    comp = inter.separators.component
    for txn in txns:
        if txn.set_id != "837":
            raise inter.tokens.error(f"this is a {txn.set_id} transaction, not an 837",
                                     txn.start)
        kind = _kind(txn.implementation, txn.set_id)
        if kind is None:
            problem = check_version(txn.implementation, VERSIONS, "837") or ""
            raise inter.tokens.error(problem, txn.start)
        _Transaction(inter, kind, comp, out, skip_bad, deadline).run(txn.start, txn.end)
    if not out.claims and not out.bad:
        raise inter.tokens.error("the file holds no claims (CLM)", 0)
    out.summarize()
    return out


class _Transaction:
    """The walk over one ST..SE. Header state (payer, subscriber, patient) carries from
    loop to loop; claim state is reset at each CLM."""

    def __init__(self, inter: Interchange, kind: str, comp: str, out: Parsed837,
                 skip_bad: bool, deadline: Deadline) -> None:
        self.inter, self.kind, self.comp, self.out, self.skip_bad = (
            inter, kind, comp, out, skip_bad)
        self.deadline = deadline
        self.hl_level = ""
        self.hl_ids: set[str] = set()
        self.billing_names = 0  # NM1*85 in the current billing provider loop
        self.payer_name = self.payer_ident = ""
        self.sbr: list[str] = []
        self.subscriber: Party | None = None
        self.patient: Party | None = None
        self.named: Party | None = None  # the party a following DMG describes
        self.billing: Provider | None = None  # 2010AA, the fallback rendering provider
        self.attending: Provider | None = None  # 837I 2310A, of the current claim
        self.claim: SubmittedClaim | None = None
        self.claim_bad: str | None = None  # why the current claim is being skipped
        self.other_payer = False  # inside 2320/2330 (after an SBR within the claim)
        self.line: SubmittedLine | None = None

    def run(self, start: int, end: int) -> None:
        segs = self.inter.segments
        i = start + 1
        for i in range(start + 1, end):
            s = segs[i]
            tag = s[0]
            if not i % 4096:
                self.deadline.check(self.inter.tokens.position(i))
            if tag in ("HL", "CLM"):
                self._close_claim()
            if self.claim_bad is not None:
                continue  # the rest of a skipped claim, up to the next HL or CLM
            try:
                self._segment(tag, s, i)
            except (ValueError, IndexError) as exc:
                reason = f"{tag}: {exc}" if isinstance(exc, ValueError) \
                    else f"{tag} is missing required elements"
                if self.claim is None or not self.skip_bad:
                    raise self.inter.tokens.error(reason, i) from None
                self._bad(reason, i)
        self._close_claim()

    def _finding(self, text: str) -> None:
        if text not in self.out.findings:
            self.out.findings.append(text)

    def _bad(self, reason: str, index: int) -> None:
        assert self.claim is not None
        self.out.bad.append(BadRecord(self.inter.tokens.position(index), reason,
                                      self.claim.claim_number))
        self.claim_bad = reason

    def _close_claim(self) -> None:
        claim = self.claim
        if claim is not None and self.claim_bad is None:
            total = sum((ln.charge for ln in claim.lines), Decimal(0))
            if claim.lines and total != claim.total_charge:
                # The payer balances the 835 against the lines; a billing system's slip in
                # the total is shown (once, counted), not a reason to drop the claim.
                self.out.unbalanced.append(self.inter.tokens.position(claim.segment_index))
            if claim.rendering is None:
                # No 2310B/2310D: the guides leave it out when the rendering provider is
                # the attending (837I) or the billing provider; `loop` tells which.
                claim.rendering = self.attending or self.billing
            problem = _claim_problem(claim)
            if problem:
                if not self.skip_bad:
                    raise self.inter.tokens.error(problem, claim.segment_index)
                self.out.bad.append(BadRecord(self.inter.tokens.position(claim.segment_index),
                                              problem, claim.claim_number))
            else:
                self.out.claims.append(claim)
        self.claim = None
        self.claim_bad = None
        self.line = None
        self.other_payer = False
        self.attending = None

    def _segment(self, tag: str, s: list[str], i: int) -> None:
        if tag == "HL":
            need(s, 3)
            # Loops are read by level, so a repeated or dangling HL ID (seen in published
            # examples) changes nothing we store: noted, not refused.
            if s[1] in self.hl_ids or s[2] and s[2] not in self.hl_ids:
                self._finding("HL IDs repeat or name a parent that is not there")
            self.hl_ids.add(s[1])
            if s[3] not in ("20", "22", "23"):
                raise ValueError(f"HL03 {s[3][:4]!r} is not 20, 22 or 23")
            if s[3] == "22" and self.hl_level == "20" and self.billing_names != 1:
                raise ValueError("the billing provider (2010AA NM1*85) is "
                                 + ("missing" if not self.billing_names else "named twice"))
            self.hl_level = s[3]
            if self.hl_level != "23":
                self.patient = None
            if self.hl_level == "20":
                self.billing_names = 0
                self.subscriber = None
                self.payer_name = self.payer_ident = ""
                self.sbr = []
        elif tag == "SBR":
            if self.claim is not None:
                self.other_payer = True  # 2320: another payer's coverage
            elif self.hl_level == "22":
                need(s, 1)
                self.sbr = s
        elif tag == "NM1":
            self._nm1(s)
        elif tag == "DMG":
            if self.named is not None and self.claim is None:
                need(s, 2)
                if el(s, 1) != "D8":
                    raise ValueError(f"DMG01 {el(s, 1)[:4]!r} is not D8")
                try:
                    self.named.dob = ccyymmdd(s[2], "DMG02")
                except ValueError:  # a birth date is PHI: the reason never quotes it
                    raise ValueError("invalid birth date (DMG02)") from None
                self.named.sex = el(s, 3)
        elif tag == "CLM":
            self._clm(s, i)
        elif self.claim is None or self.other_payer and tag not in ("LX",):
            return
        elif tag == "REF":
            need(s, 2)
            if s[1] == "F8" and self.line is None:
                self.claim.original_reference = s[2]
        elif tag == "HI":
            self._hi(s)
        elif tag == "DTP":
            need(s, 3)
            if s[1] == "472":
                start, end = _dates(s[2], s[3], "DTP*472 service date")
                if self.line is not None:
                    self.line.service_date = start
                else:
                    self.claim.statement_from, self.claim.statement_to = start, end
            elif s[1] == "434" and self.line is None:  # 837I statement dates
                self.claim.statement_from, self.claim.statement_to = _dates(
                    s[2], s[3], "DTP*434 statement dates")
        elif tag == "LX":
            need(s, 1)
            self.other_payer = False  # 2400 follows the 2320/2330 loops
            self.line = None
        elif tag in ("SV1", "SV2"):
            self._service(tag, s)

    def _nm1(self, s: list[str]) -> None:
        need(s, 2)
        if el(s, 2) not in ("1", "2"):
            raise ValueError(f"NM102 {el(s, 2)[:4]!r} must be 1 or 2")
        self.named = None
        entity = s[1]
        if self.claim is not None:
            if not self.other_payer:  # 2330x name the other payer's providers
                self._claim_provider(entity, s)
            return  # facilities, referring providers, other payers: not the claim's parties
        if self.hl_level == "20" and entity == "85":
            self.billing_names += 1
            self.billing = _provider(s, "2010AA")
        if self.hl_level == "22" and entity == "IL":
            if not el(s, 3):
                raise ValueError("NM103 subscriber last name is empty")
            self.subscriber = Party(s[3], el(s, 4), el(s, 9) if el(s, 8) == "MI" else "")
            self.named = self.subscriber
        elif self.hl_level == "22" and entity == "PR":
            if not el(s, 3):
                raise ValueError("NM103 payer name is empty")
            self.payer_name, self.payer_ident = s[3], el(s, 9)
        elif self.hl_level == "23" and entity == "QC":
            if not el(s, 3):
                raise ValueError("NM103 patient last name is empty")
            self.patient = Party(s[3], el(s, 4))
            self.named = self.patient

    def _claim_provider(self, entity: str, s: list[str]) -> None:
        """NM1*82 (rendering) at claim level (837P 2310B, 837I 2310D) or after a line's
        SV1/SV2 (837P 2420A, 837I 2420C); NM1*71, the 837I attending (2310A)."""
        assert self.claim is not None
        professional = self.kind == "837P"
        if entity == "82":
            if self.line is not None:
                self.line.rendering = _provider(s, "2420A" if professional else "2420C")
            else:
                self.claim.rendering = _provider(s, "2310B" if professional else "2310D")
        elif entity == "71" and not professional and self.line is None:
            self.attending = _provider(s, "2310A")

    def _clm(self, s: list[str], i: int) -> None:
        self.line = None
        self.other_payer = False
        self.named = None
        claim = SubmittedClaim(el(s, 1), self.kind, Decimal(0), segment_index=i)
        self.claim = claim  # set first: an error below belongs to this claim
        need(s, 5)
        if not s[1]:
            raise ValueError("CLM01 claim number is empty")
        claim.total_charge = amount(s[2], "CLM02 total charge")
        parts = s[5].split(self.comp)
        claim.facility_code = parts[0]
        freq = el(parts, 2) or "1"
        if freq not in FREQUENCIES:
            raise ValueError(f"CLM05-3 frequency {freq[:4]!r} is not a code")
        claim.frequency_code = freq
        if self.subscriber is None or not self.payer_name:
            raise ValueError("the claim has no subscriber (NM1*IL) or payer (NM1*PR) "
                             "before it")
        claim.payer_name, claim.payer_ident = self.payer_name, self.payer_ident
        claim.payer_responsibility = el(self.sbr, 1)
        claim.group_number = el(self.sbr, 3)
        claim.filing_indicator = el(self.sbr, 9)
        claim.subscriber = self.subscriber
        claim.patient = self.patient if self.hl_level == "23" else None

    def _hi(self, s: list[str]) -> None:
        assert self.claim is not None
        elements = s[1:]
        n = 0
        while n < len(elements):
            composite = elements[n]
            n += 1
            if not composite:
                continue
            parts = composite.split(self.comp)
            qualifier, code = parts[0], el(parts, 1)
            if len(parts) == 1 and qualifier in DX_QUALIFIERS and n < len(elements):
                code = elements[n]  # qualifier and code as two elements (a source slip)
                n += 1
                self._finding("HI writes a qualifier and its code as separate elements")
            if qualifier in PRINCIPAL_DX or qualifier in OTHER_DX:
                if not code:
                    raise ValueError(f"HI {qualifier[:4]} has no code")
                if qualifier in PRINCIPAL_DX:
                    self.claim.diagnoses.insert(0, code)
                else:
                    self.claim.diagnoses.append(code)

    def _service(self, tag: str, s: list[str]) -> None:
        assert self.claim is not None
        if tag == "SV1":  # professional: procedure, charge, unit basis, units, .., pointers
            need(s, 2)
            procedure, charge_text, basis, units = s[1], s[2], el(s, 3), el(s, 4)
            revenue = ""
            pointers = [p for p in el(s, 7).split(self.comp) if p]
        else:  # SV2 institutional: revenue code, procedure, charge, basis, units
            need(s, 3)
            revenue, procedure, charge_text, basis, units = (
                s[1], el(s, 2), s[3], el(s, 4), el(s, 5))
            pointers = []
            if not revenue:
                raise ValueError("SV201 revenue code is empty")
        parts = procedure.split(self.comp) if procedure else []
        if len(parts) == 1:
            alt = _ALT_COMPONENT.match(procedure)
            if alt:
                parts = procedure.split(alt.group(1))
                self._finding(f"{tag} procedure uses {alt.group(1)!r} but ISA16 is "
                              f"{self.comp!r}")
        if procedure and len(parts) < 2:
            raise ValueError(f"{tag} procedure {procedure[:20]!r} has no code after its "
                             "qualifier")
        code = el(parts, 1)
        if tag == "SV1" and not code:
            raise ValueError("SV101 procedure code is empty")
        if len(parts) > 6:  # SV101-7/SV202-7 is a description (for CPT, the AMA's text)
            procedure = self.comp.join(parts[:6])
        self.line = SubmittedLine(
            procedure, code, [m for m in parts[2:6] if m],
            amount(charge_text, f"{tag} line charge"),
            amount(units, f"{tag} units") if units else None, basis, revenue,
            diagnosis_pointers=pointers)
        self.claim.lines.append(self.line)


def _provider(s: list[str], loop: str) -> Provider | None:
    """The provider an NM1 names: "LAST, FIRST" for a person (NM102 1), the name of an
    organization (2); the NPI when NM108 is XX. None when it names no one (NM103 and the
    ID both empty, as in some published examples)."""
    last, npi = el(s, 3), el(s, 9) if el(s, 8) == "XX" else ""
    # A person with no last name (a malformed NM1) is not named by a first name alone:
    # "JOHN" would be the same provider as any John on the chart. The text is capped as
    # the FHIR side's is (a provider's name, not a place for a megabyte of element).
    name = f"{last}, {el(s, 4)}" if el(s, 2) == "1" and last and el(s, 4) else last
    name, npi = name[:120], npi[:20]
    if not name and not npi:
        return None
    return Provider(name, npi, loop)


def _claim_problem(claim: SubmittedClaim) -> str | None:
    if not claim.lines:
        return f"claim {claim.claim_number[:20]!r} has no service lines (LX with SV1/SV2)"
    return None


def _dates(qualifier: str, value: str, what: str) -> tuple[date, date]:
    """DTP D8 (one date) or RD8 (from-to; a lone date is read as one day)."""
    if qualifier == "RD8" and "-" in value:
        start, _, end = value.partition("-")
        return ccyymmdd(start, what), ccyymmdd(end, what)
    if qualifier not in ("D8", "RD8"):
        raise ValueError(f"{what}: format {qualifier[:4]!r} is not D8 or RD8")
    one = ccyymmdd(value, what)
    return one, one


__all__ = ["BadRecord", "Parsed837", "X12Error", "parse_837"]
