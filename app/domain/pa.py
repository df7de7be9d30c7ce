"""Prior authorization types. Plain data, no persistence.

Times (`submitted_at`, `decision_due_at`, history timestamps) are aware UTC datetimes;
`service_date`, approval dates and `expires_on` are calendar dates in the practice's time
zone. Services are CPT codes as numbers only: CPT descriptions belong to the AMA.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from enum import Enum

from app.domain import PlanType


class Urgency(str, Enum):
    EXPEDITED = "expedited"  # "urgent" in QHP/ERISA wording
    STANDARD = "standard"    # "pre-service" in QHP/ERISA wording


class PAStatus(str, Enum):
    """Normalized status; the payer's own words are kept next to it in the history."""

    SUBMITTED = "submitted"            # sent, not yet seen on the payer's side
    PENDING = "pending"                # received / pended for clinical review
    INFO_REQUESTED = "info_requested"  # the payer asks for records or a peer-to-peer
    APPROVED = "approved"
    PARTIAL = "partially_approved"     # approved for fewer units or a shorter span
    DENIED = "denied"
    CANCELLED = "cancelled"            # withdrawn or voided
    EXPIRED = "expired"                # the request or the approval lapsed at the payer
    NOT_FOUND = "not_found"            # the payer has no record of the reference

    @property
    def is_decision(self) -> bool:
        return self in (PAStatus.APPROVED, PAStatus.PARTIAL, PAStatus.DENIED)

    @property
    def is_terminal(self) -> bool:
        """No further status checks are needed (the work moves to next-action tasks)."""
        return self in (PAStatus.APPROVED, PAStatus.PARTIAL, PAStatus.DENIED,
                        PAStatus.CANCELLED, PAStatus.EXPIRED)


OPEN_STATUSES = tuple(s for s in PAStatus if not s.is_terminal)


@dataclass
class PAStatusChange:
    """One observed status. `source` says where it came from (e.g. 'portal:northwind',
    'manual', later 'fhir:pas'); `evidence_blob_id` points at the screenshot in the vault."""

    id: int
    ts: datetime
    status: PAStatus
    source: str
    payer_wording: str = ""
    evidence_blob_id: int | None = None
    actor: str = ""
    note: str = ""


@dataclass(frozen=True)
class ServiceLine:
    """One requested service: a CPT/HCPCS code as the code alone (the AMA licenses CPT
    descriptors), its units, an optional modifier, and local dates of service."""

    code: str
    units: int
    service_from: date
    service_to: date
    modifier: str = ""

    def covers(self, code: str | None, day: date) -> bool:
        """True when this line is for `code` (any code when None) on local date `day`."""
        return (code is None or code == self.code) and self.service_from <= day <= self.service_to


@dataclass
class PriorAuth:
    id: int
    patient_id: int
    payer_id: int
    plan_type: PlanType
    cpt_code: str                      # the first line's code (a summary of `services`)
    units: int                         # total units over the lines
    service_date: date                 # the PA's first date of service
    urgency: Urgency
    submitted_at: datetime
    payer_ref: str
    status: PAStatus
    status_changed_at: datetime        # when the current status was first observed (UTC)
    decision_due_at: datetime          # UTC; see app.pa.clocks
    clock_basis: str = ""              # which rule set the deadline, for the UI and audit
    coverage_id: int | None = None
    approved_units: int | None = None
    approved_from: date | None = None
    approved_through: date | None = None
    expires_on: date | None = None     # last day the approval can be used
    last_checked_at: datetime | None = None
    next_check_at: datetime | None = None
    created_at: datetime | None = None
    payer_name: str = ""
    history: list[PAStatusChange] = field(default_factory=list)
    services: list[ServiceLine] = field(default_factory=list)

    @property
    def decided(self) -> bool:
        return self.status.is_decision
