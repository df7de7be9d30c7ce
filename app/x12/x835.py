"""835 Health Care Claim Payment/Advice (005010X221A1) into domain objects, with the
balancing checks (claim, service line, payment totals).

Hand-written on top of app.x12.tokenizer for speed and precise positions (see
bench/x12.py: pyx12 walks a full loop map per segment and is far slower); pyx12 is the
cross-check in tests. One pass over the segments, dispatching on the segment ID.
"""

from __future__ import annotations

import gc
from datetime import date
from decimal import Decimal

from app.domain.revenue import (
    ZERO,
    Adjustment,
    BalanceIssue,
    ClaimPayment,
    ProviderAdjustment,
    Remittance,
    ServiceLine,
)
from app.x12.common import amount, ccyymmdd, check_version, el, need, opt_amount
from app.x12.envelope import Interchange, Transaction, parse_envelope
from app.x12.errors import X12Error

VERSIONS = ("005010X221",)
GROUP_CODES = frozenset({"CO", "PR", "OA", "PI", "CR"})
# CLP02 claim status codes (resources/codes/clp02.csv) and BPR01 transaction handling.
CLP02_CODES = frozenset({"1", "2", "3", "4", "5", "11", "13", "15", "16", "17", "19",
                         "20", "21", "22", "23", "25", "27"})
BPR01_CODES = frozenset({"C", "D", "H", "I", "P", "U", "X"})
MAX_CAS_TRIPLETS = 6


def parse_835(data: bytes | str | Interchange, *, lenient: bool = False) -> list[Remittance]:
    """Every 835 transaction in the file, one Remittance each. Raises X12Error."""
    enabled = gc.isenabled()
    gc.disable()  # many small objects, no cycles: see app.x12.tokenizer.tokenize
    try:
        return _parse_835(data, lenient)
    finally:
        if enabled:
            gc.enable()


def _parse_835(data: bytes | str | Interchange, lenient: bool) -> list[Remittance]:
    inter = data if isinstance(data, Interchange) else parse_envelope(data, lenient=lenient)
    txns = inter.transactions()
    if not txns:
        raise inter.tokens.error("no transaction sets in the file", 0)
    out: list[Remittance] = []
    for txn in txns:
        if txn.set_id != "835":
            raise inter.tokens.error(f"this is a {txn.set_id} transaction, not an 835",
                                     txn.start)
        problem = check_version(txn.implementation, VERSIONS, "835")
        findings = list(inter.findings) if not out else []
        if problem:
            if not lenient:
                raise inter.tokens.error(problem, txn.start)
            findings.append(problem)
        remit = _parse_txn(inter, txn, lenient, findings)
        remit.findings = findings
        check_balance(remit)
        out.append(remit)
    return out


def _parse_txn(inter: Interchange, txn: Transaction, lenient: bool,
               findings: list[str]) -> Remittance:
    """`lenient` turns a few content slips seen in published samples (an impossible
    BPR16 date, an SVC01 not using the ISA16 component separator) into findings."""
    segs = inter.segments
    comp = inter.separators.component
    remit = Remittance(txn.control, "", "", "", "", "", "", "", ZERO, "", "", None,
                       segment_index=txn.start)
    claim: ClaimPayment | None = None
    line: ServiceLine | None = None
    n1 = ""  # the current N1 loop's entity code (PR payer, PE payee)
    seen_bpr = seen_trn = False
    # Per-file memo tables (amounts and dates repeat); bound locally for speed: this loop
    # runs once per segment and is the parse's hot path (bench/x12.py).
    amounts: dict[str, Decimal] = {}
    dates: dict[str, date] = {}
    amt = amount
    ymd = ccyymmdd
    groups = GROUP_CODES
    new_adj = Adjustment
    i = txn.start + 1
    try:
        for i in range(txn.start + 1, txn.end):
            s = segs[i]
            tag = s[0]
            if tag == "CAS":
                n = len(s)
                if n < 4:
                    raise ValueError("CAS needs a group, a reason and an amount")
                group = s[1]
                if group not in groups:
                    raise ValueError(f"CAS01 {group[:4]!r} is not a claim adjustment group code")
                if n > 2 + 3 * MAX_CAS_TRIPLETS:
                    raise ValueError("CAS carries more than 6 reason/amount/quantity triplets")
                target = line if line is not None else claim
                if target is None:
                    raise ValueError("CAS before any CLP claim")
                adjs = target.adjustments
                for j in range(2, n, 3):
                    reason = s[j]
                    if not reason:
                        if any(s[j:j + 3]):
                            raise ValueError("CAS has an amount without a reason code")
                        continue
                    if len(reason) > 5 or not reason.isalnum():
                        raise ValueError(f"CAS reason code {reason[:8]!r} is not a CARC")
                    qty = s[j + 2] if n > j + 2 else ""
                    adjs.append(new_adj(group, reason,
                                        amt(s[j + 1] if n > j + 1 else "", "CAS amount",
                                            amounts),
                                        amt(qty, "CAS quantity", amounts) if qty else None))
            elif tag == "DTM":
                if len(s) < 3:
                    raise ValueError("DTM needs a qualifier and a date")
                q = s[1]
                if line is not None:
                    if q == "472" or q == "150":
                        line.service_date = ymd(s[2], "DTM service date", dates)
                elif claim is not None:
                    if q == "050":
                        claim.received_date = ymd(s[2], "DTM received date", dates)
                    elif q == "232":
                        claim.service_from = ymd(s[2], "DTM statement from", dates)
                    elif q == "233":
                        claim.service_to = ymd(s[2], "DTM statement to", dates)
                elif q == "405":
                    remit.production_date = ymd(s[2], "DTM production date", dates)
            elif tag == "SVC":
                if claim is None:
                    raise ValueError("SVC before any CLP claim")
                if len(s) < 4:
                    raise ValueError("SVC needs a procedure, a charge and a payment")
                parts = s[1].split(comp)
                if len(parts) < 2 or not parts[1]:
                    if not lenient or not s[1]:
                        raise ValueError(f"SVC01 {s[1][:20]!r} has no procedure code after "
                                         f"the component separator {comp!r}")
                    findings.append(f"SVC01 {s[1][:20]!r} is not a qualifier{comp}code "
                                    f"composite ({inter.tokens.position(i)})")
                    parts = ["", s[1]]
                charge_text, paid_text = s[2], s[3]
                if lenient and not (charge_text and paid_text):
                    findings.append("SVC02/SVC03 empty, read as 0 "
                                    f"({inter.tokens.position(i)})")
                    charge_text, paid_text = charge_text or "0", paid_text or "0"
                # Qualifier, code and modifiers only: SVC01-7 (a description) is dropped.
                if len(parts) == 2:
                    mods: list[str] = []
                    proc = s[1]
                else:
                    mods = [m for m in parts[2:6] if m]
                    proc = comp.join([parts[0], parts[1], *mods])
                units = s[5] if len(s) > 5 else ""
                line = ServiceLine(proc, parts[1], mods,
                                   amt(charge_text, "SVC02 charge", amounts),
                                   amt(paid_text, "SVC03 paid", amounts),
                                   amt(units, "SVC05 units", amounts) if units else None,
                                   s[4] if len(s) > 4 else "", None, "", None, [], [], i)
                claim.lines.append(line)
            elif tag == "CLP":
                if len(s) < 5:
                    raise ValueError("CLP needs CLP01 to CLP04 (claim, status, charge, paid)")
                if not s[1]:
                    raise ValueError("CLP01 (claim number) is empty")
                if s[2] not in CLP02_CODES:
                    raise ValueError(f"CLP02 {s[2][:4]!r} is not a claim status code")
                claim = ClaimPayment(s[1], s[2], amt(s[3], "CLP03 charge", amounts),
                                     amt(s[4], "CLP04 paid", amounts),
                                     opt_amount(el(s, 5), "CLP05 patient responsibility"),
                                     el(s, 6), el(s, 7), el(s, 9), segment_index=i)
                remit.claims.append(claim)
                line = None
            elif tag == "LQ":
                need(s, 2)
                if line is not None and s[1] == "HE":
                    line.remarks.append(s[2])
            elif tag == "NM1":
                need(s, 1)
                if claim is not None:
                    q = s[1]
                    if q == "QC":
                        claim.patient_last = el(s, 3)
                        claim.patient_first = el(s, 4)
                        if not claim.member_id:
                            claim.member_id = el(s, 9)
                    elif q == "IL" and el(s, 9):
                        claim.member_id = s[9]
            elif tag == "REF":
                need(s, 2)
                if line is not None and s[1] == "6R":
                    line.control_number = s[2]
                elif claim is None and s[1] == "2U":
                    remit.payer_id = s[2]
            elif tag == "AMT":
                need(s, 2)
                if line is not None and s[1] == "B6":
                    line.allowed = amt(s[2], "AMT allowed", amounts)
            elif tag == "MOA":
                if claim is None:
                    raise ValueError("MOA before any CLP claim")
                claim.remarks.extend(c for c in s[3:8] if c)
            elif tag == "MIA":
                if claim is None:
                    raise ValueError("MIA before any CLP claim")
                claim.remarks.extend(c for c in (el(s, 5), *s[20:24]) if c)
            elif tag == "PLB":
                need(s, 4)
                fiscal = ccyymmdd(s[2], "PLB02 fiscal period date") if s[2] else None
                for j in range(3, len(s), 2):
                    if not s[j]:
                        continue
                    reason, _, ref = s[j].partition(comp)
                    remit.provider_adjustments.append(ProviderAdjustment(
                        s[1], fiscal, reason, ref, amount(el(s, j + 1), "PLB amount")))
                claim = None
                line = None
            elif tag == "BPR":
                need(s, 2)
                seen_bpr = True
                if s[1] not in BPR01_CODES:
                    raise ValueError(f"BPR01 {s[1][:4]!r} is not a transaction handling code")
                remit.handling = s[1]
                remit.payment_amount = amount(s[2], "BPR02 payment amount")
                remit.credit_debit = el(s, 3)
                remit.method = el(s, 4)
                if el(s, 16):
                    try:
                        remit.payment_date = ccyymmdd(s[16], "BPR16 payment date")
                    except ValueError as exc:
                        if not lenient:
                            raise
                        findings.append(f"{exc} ({inter.tokens.position(i)})")
            elif tag == "TRN":
                need(s, 2)
                seen_trn = True
                remit.trace_number = s[2]
                remit.originator = el(s, 3)
            elif tag == "N1":
                need(s, 1)
                n1 = s[1]
                if n1 == "PR":
                    remit.payer_name = el(s, 2)
                    if el(s, 4) and not remit.payer_id:
                        remit.payer_id = s[4]
                elif n1 == "PE":
                    remit.payee_name = el(s, 2)
                    remit.payee_id = el(s, 4)
            elif tag == "LX":
                claim = None
                line = None
    except ValueError as exc:
        raise inter.tokens.error(f"{segs[i][0]}: {exc}", i) from None
    except IndexError:
        raise inter.tokens.error(f"{segs[i][0]} is missing required elements", i) from None
    if not seen_bpr:
        raise inter.tokens.error("the 835 has no BPR (payment) segment", txn.start)
    if not seen_trn:
        raise inter.tokens.error("the 835 has no TRN (trace number) segment", txn.start)
    if not remit.payer_id:
        remit.payer_id = remit.originator
    return remit


def _sum(adjs: list[Adjustment]) -> Decimal:
    total = ZERO
    for a in adjs:
        total += a.amount
    return total


def check_balance(remit: Remittance) -> list[BalanceIssue]:
    """Claim: CLP03 - all adjustments (claim and line CAS) = CLP04.
    Line: SVC02 - line CAS = SVC03. Payment: sum(CLP04) - sum(PLB) = BPR02."""
    issues: list[BalanceIssue] = []
    for c in remit.claims:
        adjusted = _sum(c.adjustments)
        for ln in c.lines:
            line_adj = _sum(ln.adjustments)
            adjusted += line_adj
            if ln.charge - line_adj != ln.paid:
                issues.append(BalanceIssue(
                    "line", c.claim_number, ln.paid, ln.charge - line_adj,
                    f"service line {ln.code}: charge {ln.charge} - adjustments {line_adj} "
                    f"= {ln.charge - line_adj}, but paid {ln.paid}", ln.segment_index))
        if c.charge - adjusted != c.paid:
            issues.append(BalanceIssue(
                "claim", c.claim_number, c.paid, c.charge - adjusted,
                f"claim {c.claim_number}: charge {c.charge} - adjustments {adjusted} = "
                f"{c.charge - adjusted}, but paid {c.paid}", c.segment_index))
    paid = ZERO
    for c in remit.claims:
        paid += c.paid
    plb = ZERO
    for p in remit.provider_adjustments:
        plb += p.amount
    if paid - plb != remit.payment_amount:
        issues.append(BalanceIssue(
            "payment", "", remit.payment_amount, paid - plb,
            f"claim payments {paid} - provider adjustments {plb} = {paid - plb}, but BPR02 "
            f"is {remit.payment_amount}", remit.segment_index))
    remit.issues = issues
    return issues


__all__ = ["parse_835", "check_balance", "X12Error"]
