"""Revenue-cycle domain types: remittances (835), eligibility (270/271), claim status
(277), denial classification. Amounts are Decimal (balancing must be exact); CPT/HCPCS
codes are kept as codes only, never with descriptions (AMA licence)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from enum import Enum

ZERO = Decimal("0")

# CLP02 claim status codes (X12 835).
CLP02_PROCESSED = frozenset({"1", "2", "3", "19", "20", "21"})
CLP02_DENIED = "4"
CLP02_REVERSAL = "22"


class DenialCategory(str, Enum):
    ELIGIBILITY = "eligibility"
    AUTHORIZATION = "authorization"
    CODING = "coding"
    MISSING_INFO = "missing_info"
    MEDICAL_NECESSITY = "medical_necessity"
    TIMELY_FILING = "timely_filing"
    DUPLICATE = "duplicate"
    BUNDLING = "bundling"
    NON_COVERED = "non_covered"
    PATIENT_RESPONSIBILITY = "patient_responsibility"
    CONTRACTUAL = "contractual"
    OTHER = "other"


class NextAction(str, Enum):
    REBILL_CORRECTED = "rebill_corrected"  # frequency 7 with REF*F8
    APPEAL = "appeal"
    FIX_AND_RESUBMIT = "fix_and_resubmit"
    BILL_PATIENT = "bill_patient"
    WRITE_OFF = "write_off"
    NO_ACTION = "no_action"


# Categories that are a normal part of payment, not a denial to work.
NOT_DENIALS = frozenset({DenialCategory.CONTRACTUAL, DenialCategory.PATIENT_RESPONSIBILITY})


@dataclass(slots=True)
class Adjustment:
    group: str  # CO, PR, OA, PI, CR
    reason: str  # CARC
    amount: Decimal
    quantity: Decimal | None = None


@dataclass(slots=True)
class ServiceLine:
    procedure: str  # composite as sent, e.g. "HC:99213:25" with ':' as component separator
    code: str  # the procedure code alone (a number for CPT; no description)
    modifiers: list[str]
    charge: Decimal
    paid: Decimal
    units: Decimal | None = None
    revenue_code: str = ""
    service_date: date | None = None
    control_number: str = ""  # REF*6R
    allowed: Decimal | None = None  # AMT*B6
    adjustments: list[Adjustment] = field(default_factory=list)
    remarks: list[str] = field(default_factory=list)  # LQ*HE RARCs
    segment_index: int = 0


@dataclass(slots=True)
class ClaimPayment:
    claim_number: str  # CLP01, the practice's patient control number
    status_code: str  # CLP02
    charge: Decimal
    paid: Decimal
    patient_responsibility: Decimal | None
    filing_indicator: str = ""  # CLP06
    payer_claim_number: str = ""  # CLP07
    frequency: str = ""  # CLP09
    patient_last: str = ""
    patient_first: str = ""
    member_id: str = ""
    received_date: date | None = None  # DTM*050
    service_from: date | None = None
    service_to: date | None = None
    adjustments: list[Adjustment] = field(default_factory=list)
    remarks: list[str] = field(default_factory=list)  # MOA/MIA RARCs
    lines: list[ServiceLine] = field(default_factory=list)
    segment_index: int = 0

    def all_adjustments(self) -> list[Adjustment]:
        out = list(self.adjustments)
        for line in self.lines:
            out.extend(line.adjustments)
        return out

    def all_remarks(self) -> list[str]:
        out = list(self.remarks)
        for line in self.lines:
            out.extend(r for r in line.remarks if r not in out)
        return out


@dataclass(slots=True)
class ProviderAdjustment:
    provider: str
    fiscal_date: date | None
    reason: str  # PLB03-1, e.g. WO, L6, FB, 72
    reference: str
    amount: Decimal  # positive reduces the payment


@dataclass(slots=True)
class BalanceIssue:
    level: str  # claim, line, payment
    claim_number: str
    expected: Decimal
    actual: Decimal
    message: str
    segment_index: int = 0


@dataclass
class Remittance:
    control: str  # ST02
    payer_name: str
    payer_id: str  # N1*PR id, REF*2U or TRN03
    payee_name: str
    payee_id: str
    trace_number: str  # TRN02, the check/EFT trace
    originator: str  # TRN03
    handling: str  # BPR01
    payment_amount: Decimal
    credit_debit: str
    method: str  # BPR04: ACH, CHK, NON, ...
    payment_date: date | None
    production_date: date | None = None
    claims: list[ClaimPayment] = field(default_factory=list)
    provider_adjustments: list[ProviderAdjustment] = field(default_factory=list)
    issues: list[BalanceIssue] = field(default_factory=list)
    findings: list[str] = field(default_factory=list)
    segment_index: int = 0

    @property
    def balanced(self) -> bool:
        return not self.issues


@dataclass(slots=True)
class Benefit:
    info: str  # EB01: 1 active, 6 inactive, A coinsurance, B copay, C deductible, G OOP...
    coverage_level: str = ""  # EB02: IND, FAM, ...
    service_types: list[str] = field(default_factory=list)  # EB03 (repeats)
    insurance_type: str = ""  # EB04
    plan_description: str = ""  # EB05
    time_period: str = ""  # EB06: 29 remaining, 23 calendar year, ...
    amount: Decimal | None = None  # EB07
    percent: Decimal | None = None  # EB08 (0.2 = 20%)
    quantity_qualifier: str = ""
    quantity: Decimal | None = None
    auth_required: str = ""  # EB11 Y/N/U
    in_network: str = ""  # EB12 Y/N/U/W
    procedure: str = ""  # EB13
    messages: list[str] = field(default_factory=list)
    dates: dict[str, str] = field(default_factory=dict)
    segment_index: int = 0


@dataclass(slots=True)
class Rejection:
    level: str  # source, receiver, subscriber, dependent, benefit
    valid_request: str  # AAA01
    reason_code: str  # AAA03
    reason: str  # readable text for AAA03
    follow_up_code: str  # AAA04
    follow_up: str
    segment_index: int = 0


@dataclass
class Member:
    last: str = ""
    first: str = ""
    member_id: str = ""
    dob: date | None = None
    gender: str = ""
    group_number: str = ""
    plan_number: str = ""
    dates: dict[str, str] = field(default_factory=dict)


@dataclass
class EligibilityResponse:
    control: str
    payer_name: str
    payer_id: str
    provider_name: str
    provider_id: str
    subscriber: Member
    dependent: Member | None
    trace_numbers: list[str] = field(default_factory=list)
    benefits: list[Benefit] = field(default_factory=list)
    rejections: list[Rejection] = field(default_factory=list)
    findings: list[str] = field(default_factory=list)
    segment_index: int = 0

    @property
    def patient(self) -> Member:
        return self.dependent or self.subscriber

    @property
    def active(self) -> bool | None:
        """True/False from EB*1 / EB*6-8; None when the response says neither."""
        infos = {b.info for b in self.benefits}
        if "1" in infos:
            return True
        if infos & {"6", "7", "8"}:
            return False
        return None

    @property
    def plan_name(self) -> str:
        for b in self.benefits:
            if b.info == "1" and b.plan_description:
                return b.plan_description
        for b in self.benefits:
            if b.plan_description:
                return b.plan_description
        return self.patient.plan_number


@dataclass
class EligibilityRequest:
    control: str
    payer_name: str
    payer_id: str
    provider_name: str
    provider_npi: str
    subscriber: Member
    dependent: Member | None
    service_types: list[str]
    service_date: date | None
    trace_number: str
    segment_index: int = 0


@dataclass(slots=True)
class StatusInfo:
    category: str  # STC01-1: A1, A7, P3, F2, ...
    code: str  # STC01-2
    entity: str = ""  # STC01-3
    effective_date: date | None = None
    action: str = ""  # STC03
    charge: Decimal | None = None
    paid: Decimal | None = None


@dataclass
class ClaimStatus:
    claim_number: str  # REF*EJ (patient control number) or TRN02
    trace_number: str
    payer_claim_number: str  # REF*1K
    payer_name: str
    patient_last: str
    patient_first: str
    member_id: str
    statuses: list[StatusInfo] = field(default_factory=list)
    line_statuses: list[tuple[str, StatusInfo]] = field(default_factory=list)
    service_from: date | None = None
    service_to: date | None = None
    segment_index: int = 0

    @property
    def primary(self) -> StatusInfo | None:
        return self.statuses[0] if self.statuses else None


@dataclass(frozen=True, slots=True)
class Classification:
    rule_id: str
    category: DenialCategory
    action: NextAction
    appealable: bool
    is_denial: bool
    explanation: str
    trigger: str = ""  # the code that decided it, e.g. "CO-16" or "CLP02 4"
