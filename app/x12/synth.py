"""Synthetic 835s for the demo, the benchmark and tests (no real data). Any separators
can be chosen, so the parser is exercised with more than '*' and '~'."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal

from app.x12.tokenizer import Separators
from app.x12.writer import DEFAULT_SEPARATORS


@dataclass
class SynthLine:
    code: str
    charge: Decimal
    paid: Decimal
    adjustments: list[tuple[str, str, Decimal]] = field(default_factory=list)
    remarks: list[str] = field(default_factory=list)
    modifiers: list[str] = field(default_factory=list)


@dataclass
class SynthClaim:
    claim_number: str
    status: str
    last: str
    first: str
    member_id: str
    service_date: date
    lines: list[SynthLine]
    claim_adjustments: list[tuple[str, str, Decimal]] = field(default_factory=list)
    claim_remarks: list[str] = field(default_factory=list)
    payer_claim_number: str = ""
    filing: str = "12"

    @property
    def charge(self) -> Decimal:
        return sum((ln.charge for ln in self.lines), Decimal("0"))

    @property
    def paid(self) -> Decimal:
        adj = sum((a for _g, _c, a in self.claim_adjustments), Decimal("0"))
        return sum((ln.paid for ln in self.lines), Decimal("0")) - adj

    @property
    def patient_share(self) -> Decimal:
        return sum((a for ln in self.lines for g, _c, a in ln.adjustments if g == "PR"),
                   Decimal("0"))


def build_835(claims: list[SynthClaim], *, payer_name: str, payer_id: str, trace: str,
              paid_on: date, plb: list[tuple[str, str, Decimal]] | None = None,
              payment_override: Decimal | None = None, control: int = 1,
              seps: Separators = DEFAULT_SEPARATORS, newline: bool = False) -> bytes:
    """A balanced 835 (unless payment_override plants an imbalance)."""
    e, c, t = seps.element, seps.component, seps.segment
    total = sum((cl.paid for cl in claims), Decimal("0")) - \
        sum((a for _r, _f, a in plb or []), Decimal("0"))
    if payment_override is not None:
        total = payment_override
    d8 = f"{paid_on:%Y%m%d}"
    segs: list[list[str]] = [
        ["BPR", "I", f"{total:.2f}", "C", "ACH", "CCP", "01", "011000015", "DA", "123456",
         "1512345678", "", "01", "021000021", "DA", "987654", d8],
        ["TRN", "1", trace, "1" + payer_id[-9:].rjust(9, "0")],
        ["DTM", "405", d8],
        ["N1", "PR", payer_name, "XV", payer_id],
        ["N3", "100 PAYER WAY"], ["N4", "SPRINGFIELD", "IL", "62701"],
        ["PER", "BL", "EDI SUPPORT", "TE", "8005550100"],
        ["N1", "PE", "MAPLE STREET FAMILY MEDICINE", "XX", "1234567893"],
        ["LX", "1"],
    ]
    for cl in claims:
        segs.append(["CLP", cl.claim_number, cl.status, f"{cl.charge:.2f}", f"{cl.paid:.2f}",
                     f"{cl.patient_share:.2f}", cl.filing, cl.payer_claim_number or
                     f"PCN{cl.claim_number}", "11", "1"])
        by_group: dict[str, list[tuple[str, Decimal]]] = {}
        for g, code, amt in cl.claim_adjustments:
            by_group.setdefault(g, []).append((code, amt))
        for g, items in by_group.items():
            segs.append(["CAS", g, *[x for code, amt in items for x in (code, f"{amt:.2f}", "")]]
                        [:-1] if items else ["CAS", g])
        segs.append(["NM1", "QC", "1", cl.last, cl.first, "", "", "", "MI", cl.member_id])
        if cl.claim_remarks:
            segs.append(["MOA", "", "", *cl.claim_remarks[:5]])
        segs.append(["DTM", "050", d8])
        for ln in cl.lines:
            segs.append(["SVC", c.join(["HC", ln.code, *ln.modifiers]), f"{ln.charge:.2f}",
                         f"{ln.paid:.2f}", "", "1"])
            segs.append(["DTM", "472", f"{cl.service_date:%Y%m%d}"])
            groups: dict[str, list[tuple[str, Decimal]]] = {}
            for g, code, amt in ln.adjustments:
                groups.setdefault(g, []).append((code, amt))
            for g, items in groups.items():
                for k in range(0, len(items), 6):
                    segs.append(["CAS", g, *[x for code, amt in items[k:k + 6]
                                             for x in (code, f"{amt:.2f}", "1")]])
            for r in ln.remarks:
                segs.append(["LQ", "HE", r])
    plb_items = plb or []
    for k in range(0, len(plb_items), 6):  # up to six adjustments per PLB segment
        segs.append(["PLB", "1234567893", f"{paid_on:%Y}1231",
                     *[x for reason, ref, amt in plb_items[k:k + 6]
                       for x in (c.join([reason, ref]), f"{amt:.2f}")]])
    body = [["ST", "835", "0001"], *segs]
    body.append(["SE", str(len(body) + 1), "0001"])
    ctl = f"{control:09d}"
    isa = ["ISA", "00", " " * 10, "00", " " * 10, "ZZ", payer_id[:15].ljust(15), "ZZ",
           "MAPLESTREET".ljust(15), f"{paid_on:%y%m%d}", "1200", seps.repetition or "^",
           "00501", ctl, "0", "T", c]
    gs = ["GS", "HP", payer_id[:15], "MAPLESTREET", d8, "1200", str(control), "X",
          "005010X221A1"]
    lines = [isa, gs, *body, ["GE", "1", str(control)], ["IEA", "1", ctl]]
    nl = "\n" if newline else ""
    return "".join(e.join(s) + t + nl for s in lines).encode("latin-1")


def bulk_claims(n: int, rng: random.Random) -> list[SynthClaim]:
    """n claims with a realistic mix: paid with CO-45 and PR-2/3, some denials."""
    codes = ["99213", "99214", "99203", "36415", "80053", "93000", "85025"]
    out = []
    for i in range(n):
        lines = []
        for _ in range(rng.choice((1, 2, 3))):
            charge = Decimal(rng.choice((95, 120, 150, 210, 45))).quantize(Decimal("0.01"))
            if rng.random() < 0.1:
                lines.append(SynthLine(rng.choice(codes), charge, Decimal("0.00"),
                                       [("CO", rng.choice(("16", "50", "97", "197")), charge)],
                                       ["N290"]))
            else:
                write = (charge * Decimal("0.3")).quantize(Decimal("0.01"))
                pr = Decimal("20.00")
                lines.append(SynthLine(rng.choice(codes), charge, charge - write - pr,
                                       [("CO", "45", write), ("PR", "3", pr)]))
        out.append(SynthClaim(f"C{i:07d}", "1", "SYNTH", f"P{i}", f"M{i:09d}",
                              date(2026, 10, 1 + i % 28), lines))
    return out


def _envelope(body: list[list[str]], functional: str, version: str, control: int,
              on: date, seps: Separators) -> bytes:
    e, t = seps.element, seps.segment
    body = [*body, ["SE", str(len(body) + 1), body[0][2]]]
    ctl = f"{control:09d}"
    isa = ["ISA", "00", " " * 10, "00", " " * 10, "ZZ", "PAYER".ljust(15), "ZZ",
           "MAPLESTREET".ljust(15), f"{on:%y%m%d}", "1200", seps.repetition or "^", "00501",
           ctl, "0", "T", seps.component]
    gs = ["GS", functional, "PAYER", "MAPLESTREET", f"{on:%Y%m%d}", "1200", str(control), "X",
          version]
    lines = [isa, gs, *body, ["GE", "1", str(control)], ["IEA", "1", ctl]]
    return "".join(e.join(s) + t + "\n" for s in lines).encode("latin-1")


def build_271(*, payer_name: str, payer_id: str, last: str, first: str, member_id: str,
              dob: date, benefits: list[list[str]], trace: str, on: date,
              group_number: str = "", rejection: tuple[str, str] | None = None,
              control: int = 1, seps: Separators = DEFAULT_SEPARATORS) -> bytes:
    """A 271 for one subscriber. `benefits` are EB element lists (without 'EB')."""
    body: list[list[str]] = [
        ["ST", "271", "0001", "005010X279A1"],
        ["BHT", "0022", "11", trace, f"{on:%Y%m%d}", "1200"],
        ["HL", "1", "", "20", "1"], ["NM1", "PR", "2", payer_name, "", "", "", "", "PI",
                                     payer_id],
        ["HL", "2", "1", "21", "1"], ["NM1", "1P", "2", "MAPLE STREET FAMILY MEDICINE", "",
                                      "", "", "", "XX", "1234567893"],
        ["HL", "3", "2", "22", "0"], ["TRN", "2", trace, "9MAPLE0001"],
        ["NM1", "IL", "1", last, first, "", "", "", "MI", member_id]]
    if group_number:
        body.append(["REF", "6P", group_number])
    if rejection:
        body.append(["AAA", "N", "", rejection[0], rejection[1]])
    body.append(["DMG", "D8", f"{dob:%Y%m%d}"])
    body.extend(["EB", *b] for b in benefits)
    return _envelope(body, "HB", "005010X279A1", control, on, seps)


def build_277(*, payer_name: str, claims: list[tuple[str, str, str, str, str, str]],
              on: date, control: int = 1, seps: Separators = DEFAULT_SEPARATORS) -> bytes:
    """A 277 (X212) with one status per claim: (claim number, payer claim number, last,
    first, member id, 'CATEGORY:CODE')."""
    c = seps.component
    body: list[list[str]] = [
        ["ST", "277", "0001", "005010X212"],
        ["BHT", "0010", "08", "STATUS1", f"{on:%Y%m%d}", "1200", "DG"],
        ["HL", "1", "", "20", "1"], ["NM1", "PR", "2", payer_name, "", "", "", "", "PI", "P1"],
        ["HL", "2", "1", "21", "1"], ["NM1", "41", "2", "MAPLE STREET", "", "", "", "", "46",
                                      "MAPLE"],
        ["HL", "3", "2", "19", "1"], ["NM1", "1P", "2", "MAPLE STREET", "", "", "", "", "XX",
                                      "1234567893"]]
    hl = 3
    for number, pcn, last, first, member, status in claims:
        hl += 1
        body += [["HL", str(hl), "3", "22", "0"],
                 ["NM1", "IL", "1", last, first, "", "", "", "MI", member],
                 ["TRN", "2", f"T{number}"],
                 ["STC", status.replace(":", c), f"{on:%Y%m%d}", "", "150.00", "0.00"],
                 ["REF", "1K", pcn], ["REF", "EJ", number]]
    return _envelope(body, "HN", "005010X212", control, on, seps)
