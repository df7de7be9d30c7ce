"""270/271 eligibility (005010X279A1): parse inquiries and responses into domain objects.

Hand-written for the same reasons as x835 (positions, speed, domain mapping); pyx12
cross-checks it in tests. The HL hierarchy is followed by its level code (20 source,
21 receiver, 22 subscriber, 23 dependent); EB loops collect their HSD/DTP/MSG lines.
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path

from app.domain.revenue import (
    Benefit,
    EligibilityRequest,
    EligibilityResponse,
    Member,
    Rejection,
)
from app.x12.common import amount, ccyymmdd, check_version, el, need
from app.x12.envelope import Interchange, Transaction, parse_envelope

VERSIONS = ("005010X279",)
LEVELS = {"20": "source", "21": "receiver", "22": "subscriber", "23": "dependent"}
CODES = Path(__file__).resolve().parents[2] / "resources" / "codes" / "x12_271_code_lists.json"


@lru_cache(maxsize=1)
def code_lists() -> dict[str, dict[str, str]]:
    """EB01/EB03/EB06/AAA03/AAA04 descriptions (see resources/codes/README.md)."""
    raw = json.loads(CODES.read_text(encoding="utf-8"))
    return {name: {str(r["code"]): str(r["description"]) for r in rows}
            for name, rows in raw.items()}


def describe(list_name: str, code: str) -> str:
    return code_lists().get(list_name, {}).get(code, f"code {code}")


def _transactions(data: bytes | str | Interchange, set_id: str, lenient: bool,
                  ) -> tuple[Interchange, list[Transaction]]:
    inter = data if isinstance(data, Interchange) else parse_envelope(data, lenient=lenient)
    txns = inter.transactions()
    if not txns:
        raise inter.tokens.error("no transaction sets in the file", 0)
    for txn in txns:
        if txn.set_id != set_id:
            raise inter.tokens.error(f"this is a {txn.set_id} transaction, not a {set_id}",
                                     txn.start)
        problem = check_version(txn.implementation, VERSIONS, set_id)
        if problem:
            if not lenient:
                raise inter.tokens.error(problem, txn.start)
            inter.findings.append(problem)
    return inter, txns


def parse_271(data: bytes | str | Interchange, *, lenient: bool = False,
              ) -> list[EligibilityResponse]:
    """One EligibilityResponse per subscriber/dependent HL with a patient in it."""
    inter, txns = _transactions(data, "271", lenient)
    out: list[EligibilityResponse] = []
    for txn in txns:
        out.extend(_parse_271_txn(inter, txn))
    if out:
        out[0].findings = list(inter.findings)
    return out


def _nm1_member(s: list[str], member: Member) -> None:
    member.last = el(s, 3)
    member.first = el(s, 4)
    if el(s, 9):
        member.member_id = s[9]


def _entity_type(s: list[str]) -> None:
    if el(s, 2) not in ("1", "2"):
        raise ValueError(f"NM102 {el(s, 2)[:4]!r} must be 1 (person) or 2 (organization)")


def _parse_271_txn(inter: Interchange, txn: Transaction) -> list[EligibilityResponse]:
    segs = inter.segments
    rep = inter.separators.repetition
    comp = inter.separators.component
    payer_name = payer_id = provider_name = provider_id = ""
    level = "source"
    pending: list[Rejection] = []  # AAA before any subscriber (source/receiver level)
    responses: list[EligibilityResponse] = []
    current: EligibilityResponse | None = None
    member: Member | None = None
    benefit: Benefit | None = None
    in_ls = False
    eb01 = code_lists()["EB01"]
    i = txn.start + 1
    try:
        for i in range(txn.start + 1, txn.end):
            s = segs[i]
            tag = s[0]
            if tag == "HL":
                need(s, 3)
                level = LEVELS.get(s[3], "")
                if not level:
                    raise ValueError(f"HL03 {s[3][:4]!r} is not a 271 hierarchy level")
                benefit = None
                in_ls = False
                if level == "subscriber":
                    current = EligibilityResponse(
                        txn.control, payer_name, payer_id, provider_name, provider_id,
                        Member(), None, rejections=list(pending), segment_index=i)
                    responses.append(current)
                    member = current.subscriber
                elif level == "dependent":
                    if current is None:
                        raise ValueError("a dependent HL with no subscriber HL before it")
                    dep = EligibilityResponse(
                        txn.control, payer_name, payer_id, provider_name, provider_id,
                        current.subscriber, Member(), rejections=list(pending),
                        segment_index=i)
                    # The subscriber-only response is replaced when it carries no benefits.
                    if not current.benefits and responses and responses[-1] is current:
                        dep.rejections = current.rejections
                        responses[-1] = dep
                    else:
                        responses.append(dep)
                    current = dep
                    member = dep.dependent
                else:
                    current = None
                    member = None
            elif tag == "NM1":
                need(s, 2)
                if in_ls:
                    continue
                _entity_type(s)
                if level == "source":
                    payer_name, payer_id = el(s, 3), el(s, 9)
                elif level == "receiver":
                    provider_name, provider_id = el(s, 3), el(s, 9)
                elif member is not None:
                    _nm1_member(s, member)
            elif tag == "EB":
                need(s, 1)
                if current is None:
                    raise ValueError("EB outside a subscriber or dependent loop")
                if s[1] not in eb01:
                    raise ValueError(f"EB01 {s[1][:4]!r} is not an eligibility or benefit code")
                types = el(s, 3)
                benefit = Benefit(
                    s[1], coverage_level=el(s, 2),
                    service_types=[t for t in (types.split(rep) if rep else [types]) if t],
                    insurance_type=el(s, 4), plan_description=el(s, 5),
                    time_period=el(s, 6),
                    amount=amount(s[7], "EB07 amount") if el(s, 7) else None,
                    percent=amount(s[8], "EB08 percent") if el(s, 8) else None,
                    quantity_qualifier=el(s, 9),
                    quantity=amount(s[10], "EB10 quantity") if el(s, 10) else None,
                    auth_required=el(s, 11), in_network=el(s, 12),
                    procedure=el(s, 13).split(comp)[1] if comp in el(s, 13) else el(s, 13),
                    segment_index=i)
                current.benefits.append(benefit)
                in_ls = False
            elif tag == "AAA":
                need(s, 1)
                rej = Rejection(level if benefit is None else "benefit", s[1], el(s, 3),
                                describe("AAA03", el(s, 3)) if el(s, 3) else "",
                                el(s, 4), describe("AAA04", el(s, 4)) if el(s, 4) else "",
                                segment_index=i)
                if current is None:
                    pending.append(rej)
                    for r in responses:
                        r.rejections.append(rej)
                else:
                    current.rejections.append(rej)
            elif tag == "DTP":
                need(s, 3)
                if benefit is not None:
                    benefit.dates[s[1]] = s[3]
                elif member is not None:
                    member.dates[s[1]] = s[3]
                    if s[2] == "D8":
                        ccyymmdd(s[3], f"DTP*{s[1]} date")
            elif tag == "REF":
                need(s, 2)
                if member is not None and benefit is None:
                    if s[1] == "6P":
                        member.group_number = s[2]
                    elif s[1] == "18":
                        member.plan_number = s[2]
            elif tag == "DMG":
                if member is not None and el(s, 2):
                    member.dob = ccyymmdd(s[2], "DMG02 date of birth")
                    member.gender = el(s, 3)
            elif tag == "TRN":
                need(s, 2)
                if current is not None:
                    current.trace_numbers.append(s[2])
            elif tag == "MSG":
                if benefit is not None and el(s, 1):
                    benefit.messages.append(s[1])
            elif tag == "LS":
                in_ls = True
            elif tag == "LE":
                in_ls = False
    except ValueError as exc:
        raise inter.tokens.error(f"{segs[i][0]}: {exc}", i) from None
    except IndexError:
        raise inter.tokens.error(f"{segs[i][0]} is missing required elements", i) from None
    if not responses and pending:
        # Rejected at the source or receiver level: no subscriber loop at all.
        responses.append(EligibilityResponse(txn.control, payer_name, payer_id, provider_name,
                                             provider_id, Member(), None,
                                             rejections=pending, segment_index=txn.start))
    return responses


def parse_270(data: bytes | str | Interchange, *, lenient: bool = False,
              ) -> list[EligibilityRequest]:
    inter, txns = _transactions(data, "270", lenient)
    out = []
    for txn in txns:
        out.extend(_parse_270_txn(inter, txn))
    return out


def _parse_270_txn(inter: Interchange, txn: Transaction) -> list[EligibilityRequest]:
    segs = inter.segments
    rep = inter.separators.repetition
    payer_name = payer_id = provider_name = provider_npi = ""
    level = "source"
    out: list[EligibilityRequest] = []
    current: EligibilityRequest | None = None
    member: Member | None = None
    i = txn.start + 1
    try:
        for i in range(txn.start + 1, txn.end):
            s = segs[i]
            tag = s[0]
            if tag == "HL":
                need(s, 3)
                level = LEVELS.get(s[3], "")
                if not level:
                    raise ValueError(f"HL03 {s[3][:4]!r} is not a 270 hierarchy level")
                if level == "subscriber":
                    current = EligibilityRequest(txn.control, payer_name, payer_id,
                                                 provider_name, provider_npi, Member(), None,
                                                 [], None, "", segment_index=i)
                    out.append(current)
                    member = current.subscriber
                elif level == "dependent":
                    if current is None:
                        raise ValueError("a dependent HL with no subscriber HL before it")
                    current.dependent = Member()
                    member = current.dependent
            elif tag == "NM1":
                need(s, 2)
                _entity_type(s)
                if level == "source":
                    payer_name, payer_id = el(s, 3), el(s, 9)
                elif level == "receiver":
                    provider_name, provider_npi = el(s, 3), el(s, 9)
                elif member is not None:
                    _nm1_member(s, member)
            elif tag == "EQ":
                if current is None:
                    raise ValueError("EQ outside a subscriber or dependent loop")
                types = el(s, 1)
                current.service_types.extend(
                    t for t in (types.split(rep) if rep else [types]) if t)
            elif tag == "DTP":
                need(s, 3)
                if current is not None and s[1] == "291":
                    current.service_date = ccyymmdd(s[3].partition("-")[0], "DTP*291 date")
            elif tag == "DMG":
                if member is not None and el(s, 2):
                    member.dob = ccyymmdd(s[2], "DMG02 date of birth")
                    member.gender = el(s, 3)
            elif tag == "TRN":
                need(s, 2)
                if current is not None:
                    current.trace_number = s[2]
            elif tag == "REF":
                need(s, 2)
                if member is not None and s[1] == "6P":
                    member.group_number = s[2]
    except ValueError as exc:
        raise inter.tokens.error(f"{segs[i][0]}: {exc}", i) from None
    except IndexError:
        raise inter.tokens.error(f"{segs[i][0]} is missing required elements", i) from None
    return out
