"""277 claim status (005010X212) and the 277CA acknowledgment (005010X214) into
ClaimStatus objects, one per claim (the 2200D/E loop: TRN, STC, REF, DTP, SVC)."""

from __future__ import annotations

from app.domain.revenue import ClaimStatus, StatusInfo
from app.x12.common import amount, ccyymmdd, check_version, el, need
from app.x12.envelope import Interchange, parse_envelope

VERSIONS = ("005010X212", "005010X214")
# 22 subscriber, 23 dependent (X212); PT patient (277CA, X214)
PATIENT_LEVELS = frozenset({"22", "23", "PT"})


def parse_277(data: bytes | str | Interchange, *, lenient: bool = False) -> list[ClaimStatus]:
    inter = data if isinstance(data, Interchange) else parse_envelope(data, lenient=lenient)
    txns = inter.transactions()
    if not txns:
        raise inter.tokens.error("no transaction sets in the file", 0)
    segs = inter.segments
    comp = inter.separators.component
    out: list[ClaimStatus] = []
    for txn in txns:
        if txn.set_id != "277":
            raise inter.tokens.error(f"this is a {txn.set_id} transaction, not a 277",
                                     txn.start)
        problem = check_version(txn.implementation, VERSIONS, "277")
        if problem:
            if not lenient:
                raise inter.tokens.error(problem, txn.start)
            inter.findings.append(problem)
        payer = ""
        hl_level = ""
        last = first = member_id = ""
        claim: ClaimStatus | None = None
        line_code: str | None = None
        i = txn.start + 1
        try:
            for i in range(txn.start + 1, txn.end):
                s = segs[i]
                tag = s[0]
                if tag == "HL":
                    need(s, 3)
                    hl_level = s[3]
                    claim = None
                    line_code = None
                elif tag == "NM1":
                    need(s, 2)
                    if el(s, 2) not in ("1", "2"):
                        raise ValueError(f"NM102 {el(s, 2)[:4]!r} must be 1 or 2")
                    if hl_level == "20" and s[1] in ("PR", "AY"):
                        payer = el(s, 3)
                    elif hl_level in PATIENT_LEVELS:
                        last, first = el(s, 3), el(s, 4)
                        if s[1] == "IL" or el(s, 9):
                            member_id = el(s, 9) or member_id
                elif tag == "TRN":
                    need(s, 2)
                    if hl_level in PATIENT_LEVELS:
                        claim = ClaimStatus(s[2], s[2], "", payer, last, first, member_id,
                                            segment_index=i)
                        out.append(claim)
                        line_code = None
                elif tag == "STC":
                    need(s, 1)
                    parts = s[1].split(comp)
                    if len(parts) < 2 or not parts[0]:
                        raise ValueError(f"STC01 {s[1][:20]!r} is not category{comp}status")
                    info = StatusInfo(parts[0], parts[1], el(parts, 2),
                                      ccyymmdd(s[2], "STC02 date") if el(s, 2) else None,
                                      el(s, 3),
                                      amount(s[4], "STC04 charge") if el(s, 4) else None,
                                      amount(s[5], "STC05 paid") if el(s, 5) else None)
                    if claim is None:
                        continue  # a provider- or receiver-level status, not a claim's
                    if line_code is None:
                        claim.statuses.append(info)
                    else:
                        claim.line_statuses.append((line_code, info))
                elif tag == "REF" and claim is not None:
                    need(s, 2)
                    if s[1] == "1K":
                        claim.payer_claim_number = s[2]
                    elif s[1] == "EJ":
                        claim.claim_number = s[2]
                elif tag == "DTP" and claim is not None:
                    need(s, 3)
                    if s[1] == "472":
                        start, _, end = s[3].partition("-")
                        claim.service_from = ccyymmdd(start, "DTP*472 date")
                        claim.service_to = ccyymmdd(end, "DTP*472 date") if end \
                            else claim.service_from
                elif tag == "SVC" and claim is not None:
                    need(s, 1)
                    parts = s[1].split(comp)
                    line_code = el(parts, 1) or parts[0]
        except ValueError as exc:
            raise inter.tokens.error(f"{segs[i][0]}: {exc}", i) from None
        except IndexError:
            raise inter.tokens.error(f"{segs[i][0]} is missing required elements",
                                     i) from None
    return out
