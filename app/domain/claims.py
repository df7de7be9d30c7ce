"""Claims as the practice's billing system sent them (837P professional, 837I
institutional): what an 835 or 277 is later matched against."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal


@dataclass(slots=True)
class Party:
    """A subscriber or patient as named on the claim (2010BA / 2010CA)."""

    last: str
    first: str = ""
    member_id: str = ""
    dob: date | None = None
    sex: str = ""


@dataclass(slots=True)
class SubmittedLine:
    procedure: str  # composite as sent, e.g. "HC:99213:25" (component separator ':')
    code: str  # the procedure code alone (CPT/HCPCS as a number, no description)
    modifiers: list[str]
    charge: Decimal
    units: Decimal | None = None
    unit_basis: str = ""  # UN units, MJ minutes
    revenue_code: str = ""  # SV201 (institutional)
    service_date: date | None = None  # DTP*472 on the line
    diagnosis_pointers: list[str] = field(default_factory=list)  # SV107


@dataclass(slots=True)
class SubmittedClaim:
    claim_number: str  # CLM01, the patient control number an 835 echoes in CLP01
    kind: str  # "837P" or "837I"
    total_charge: Decimal
    facility_code: str = ""  # CLM05-1 place of service / type of bill
    frequency_code: str = "1"  # CLM05-3: 1 original, 7 replacement, 8 void
    original_reference: str = ""  # REF*F8, the payer's claim number being replaced
    payer_name: str = ""
    payer_ident: str = ""  # NM1*PR 09
    payer_responsibility: str = ""  # SBR01 P/S/T
    filing_indicator: str = ""  # SBR09 (MB Medicare B, MC Medicaid, CI commercial...)
    group_number: str = ""  # SBR03
    subscriber: Party | None = None
    patient: Party | None = None  # None when the subscriber is the patient
    diagnoses: list[str] = field(default_factory=list)  # ICD codes, principal first
    statement_from: date | None = None
    statement_to: date | None = None
    lines: list[SubmittedLine] = field(default_factory=list)
    segment_index: int = 0  # CLM's index, for the position of a problem

    @property
    def who(self) -> Party | None:
        return self.patient or self.subscriber

    def first_service_date(self) -> date | None:
        dates = [ln.service_date for ln in self.lines if ln.service_date]
        return min(dates) if dates else self.statement_from

    def last_service_date(self) -> date | None:
        dates = [ln.service_date for ln in self.lines if ln.service_date]
        return max(dates) if dates else self.statement_to
