"""Envelope validation: ISA/IEA, GS/GE, ST/SE structure, counts and control numbers.

Strict by default. `lenient=True` turns count and control-number mismatches, missing
GE/IEA trailers, text before the ISA and a missing envelope into findings that are
stored and shown with the import instead of rejections; a truncated transaction (ST
without SE) is always rejected. Segment IDs are located with list.index on a list of IDs
(C speed), so validating a 10k-claim file costs a few milliseconds.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from app.x12.errors import X12Error
from app.x12.tokenizer import Separators, Tokens, tokenize


@dataclass
class Transaction:
    set_id: str  # ST01: 835, 271, ...
    control: str  # ST02
    implementation: str  # ST03, else GS08
    start: int  # index of ST
    end: int  # index of SE
    group: "Group"


@dataclass
class Group:
    functional_id: str  # GS01: HP, HB, HN, ...
    sender: str
    receiver: str
    date: str
    control: str
    version: str  # GS08
    transactions: list[Transaction] = field(default_factory=list)


@dataclass
class Interchange:
    tokens: Tokens
    sender: str
    receiver: str
    date: str
    control: str
    version: str  # ISA12
    usage: str  # ISA15: T test, P production
    groups: list[Group] = field(default_factory=list)
    findings: list[str] = field(default_factory=list)

    @property
    def separators(self) -> Separators:
        return self.tokens.separators

    @property
    def segments(self) -> list[list[str]]:
        return self.tokens.segments

    def transactions(self, set_id: str | None = None) -> list[Transaction]:
        return [t for g in self.groups for t in g.transactions
                if set_id is None or t.set_id == set_id]


def _el(seg: list[str], i: int) -> str:
    return seg[i] if len(seg) > i else ""


def parse_envelope(data: bytes | str | Tokens, *, lenient: bool = False) -> Interchange:
    tokens = data if isinstance(data, Tokens) else tokenize(data, lenient=lenient)
    segs = tokens.segments
    tags = tokens.tags or [s[0] for s in segs]
    findings = list(tokens.findings)

    def problem(reason: str, index: int) -> None:
        if not lenient:
            raise tokens.error(reason, index)
        findings.append(f"{reason} ({tokens.position(index)})")

    if tokens.headerless:
        return _headerless(tokens, tags, findings)

    isa = segs[0]
    if len(isa) != 17:
        raise tokens.error(f"the ISA segment has {len(isa) - 1} elements, not 16", 0)
    if not isa[13].strip().isdigit():
        problem(f"ISA13 control number {isa[13]!r} is not numeric", 0)
    inter = Interchange(tokens, isa[6].strip(), isa[8].strip(), isa[9], isa[13].strip(),
                        isa[12], isa[15], findings=findings)
    n = len(segs)
    i = 1
    isa_index = 0
    while True:
        groups_here = 0
        while i < n and tags[i] == "TA1":  # interchange acknowledgments sit before any GS
            i += 1
        while i < n and tags[i] == "GS":
            gs = segs[i]
            if len(gs) < 9:
                raise tokens.error("the GS segment is missing elements", i)
            group = Group(gs[1], gs[2], gs[3], gs[4], gs[6], gs[8])
            gs_index = i
            i += 1
            while i < n and tags[i] == "ST":
                st = segs[i]
                if len(st) < 3:
                    raise tokens.error("the ST segment is missing elements", i)
                try:
                    end = tags.index("SE", i + 1)
                except ValueError:
                    raise tokens.error(f"transaction {st[1]} is not closed: no SE segment",
                                       i) from None
                nested = _find(tags, "ST", i + 1, end)
                if nested >= 0:
                    raise tokens.error("a new ST begins before the previous transaction's "
                                       "SE", nested)
                for outer in ("GS", "GE", "ISA", "IEA"):
                    bad = _find(tags, outer, i + 1, end)
                    if bad >= 0:
                        raise tokens.error(f"{outer} inside transaction {st[1]} (no SE "
                                           "before it)", bad)
                se = segs[end]
                count = end - i + 1
                if _el(se, 1) != str(count):
                    problem(f"SE01 says {_el(se, 1) or 'nothing'} segments but the "
                            f"transaction has {count}", end)
                if _el(se, 2) != st[2]:
                    problem(f"SE02 {_el(se, 2)!r} does not match ST02 {st[2]!r}", end)
                group.transactions.append(Transaction(st[1], st[2], _el(st, 3) or group.version,
                                                      i, end, group))
                i = end + 1
            if not group.transactions:
                raise tokens.error("a functional group with no transaction set (ST)",
                                   i if i < n else gs_index)
            if i < n and tags[i] == "GE":
                ge = segs[i]
                if _el(ge, 1) != str(len(group.transactions)):
                    problem(f"GE01 says {_el(ge, 1) or 'nothing'} transaction sets but the "
                            f"group has {len(group.transactions)}", i)
                if _el(ge, 2) != group.control:
                    problem(f"GE02 {_el(ge, 2)!r} does not match GS06 {group.control!r}", i)
                i += 1
            elif i >= n:
                problem("the functional group has no GE trailer", n - 1)
            else:
                raise tokens.error(f"unexpected {tags[i]} segment between transaction sets "
                                   "(expected ST or GE)", i)
            inter.groups.append(group)
            groups_here += 1
        if i < n and tags[i] == "IEA":
            iea = segs[i]
            if _el(iea, 1) != str(groups_here):
                problem(f"IEA01 says {_el(iea, 1) or 'nothing'} functional groups but the "
                        f"interchange has {groups_here}", i)
            if _el(iea, 2).strip() != segs[isa_index][13].strip():
                problem(f"IEA02 {_el(iea, 2)!r} does not match ISA13", i)
            i += 1
        elif i >= n:
            problem("the interchange has no IEA trailer", n - 1)
        elif tags[i] != "ISA":
            raise tokens.error(f"unexpected {tags[i]} segment (expected GS or IEA)", i)
        if i < n and tags[i] == "ISA":
            # A second interchange in the same file: same separators required.
            if len(segs[i]) != 17:
                raise tokens.error("a second ISA with different separators or length", i)
            isa_index = i
            i += 1
            continue
        if i < n:
            raise tokens.error(f"unexpected {tags[i]} segment after the IEA", i)
        break
    inter.findings = findings
    return inter


def _find(tags: list[str], tag: str, start: int, end: int) -> int:
    try:
        return tags.index(tag, start, end)
    except ValueError:
        return -1


def _headerless(tokens: Tokens, tags: list[str], findings: list[str]) -> Interchange:
    """ST..SE only (lenient mode): one pseudo group."""
    segs = tokens.segments
    group = Group("", "", "", "", "", "")
    inter = Interchange(tokens, "", "", "", "", "", "", groups=[group], findings=findings)
    i, n = 0, len(segs)
    while i < n:
        if tags[i] != "ST":
            raise tokens.error(f"unexpected {tags[i]} segment outside a transaction set", i)
        try:
            end = tags.index("SE", i + 1)
        except ValueError:
            raise tokens.error("transaction is not closed: no SE segment", i) from None
        st = segs[i]
        count = end - i + 1
        if _el(segs[end], 1) != str(count):
            findings.append(f"SE01 says {_el(segs[end], 1)} segments but the transaction has "
                            f"{count} ({tokens.position(end)})")
        group.transactions.append(Transaction(_el(st, 1), _el(st, 2), _el(st, 3), i, end,
                                              group))
        i = end + 1
    return inter


def transaction_error(inter: Interchange, reason: str, index: int) -> X12Error:
    return inter.tokens.error(reason, index)
