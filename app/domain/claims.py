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
class Provider:
    """A provider named on a claim (NM1): the rendering, attending or billing provider.
    `loop` says where it was read (2420A line, 2310B/2310D claim rendering, 2310A
    attending, 2010AA billing), so a fallback is never shown as the rendering provider."""

    name: str  # "LAST, FIRST" for a person (NM102 1), the organization's name (2)
    npi: str = ""  # NM109 when NM108 is XX (the NPI); other ID qualifiers are not kept
    loop: str = ""


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
    rendering: Provider | None = None  # 2420A NM1*82, only when the line names its own


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
    # Who rendered the service: 2310B (837P) / 2310D (837I) NM1*82; when absent, the
    # attending (837I 2310A) or the billing provider (2010AA), `loop` saying which: the
    # guides leave 2310B out exactly when the billing provider rendered the service.
    rendering: Provider | None = None

    @property
    def who(self) -> Party | None:
        return self.patient or self.subscriber

    def first_service_date(self) -> date | None:
        dates = [ln.service_date for ln in self.lines if ln.service_date]
        return min(dates) if dates else self.statement_from

    def last_service_date(self) -> date | None:
        dates = [ln.service_date for ln in self.lines if ln.service_date]
        return max(dates) if dates else self.statement_to
