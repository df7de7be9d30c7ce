"""Plain domain types with no persistence logic. Times are aware UTC datetimes; dates of
birth and service are dates. Feature areas add their own modules (app.domain.pa, ...)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from enum import Enum
from typing import Any


class PlanType(str, Enum):
    MEDICARE_ADVANTAGE = "medicare_advantage"
    MEDICAID = "medicaid"
    CHIP = "chip"
    QHP = "qhp"
    ERISA = "erisa"
    COMMERCIAL = "commercial"
    MEDICARE_FFS = "medicare_ffs"


@dataclass
class Payer:
    id: int
    name: str
    plan_type: PlanType
    payer_code: str = ""
    appeal_window_days: int | None = None
    timely_filing_days: int | None = None
    decision_days_standard: int | None = None  # commercial plans: by contract
    decision_hours_expedited: int | None = None
    portal_recipe: str | None = None
    portal_enabled: bool = False
    portal_url: str = ""  # the payer's portal address: its origin is where log-ins go


@dataclass
class Coverage:
    id: int
    patient_id: int
    payer_id: int
    member_id: str
    group_number: str = ""
    plan_name: str = ""
    priority: int = 1
    active: bool = True
    effective_date: date | None = None
    termination_date: date | None = None
    payer_name: str = ""
    subscriber_name: str = ""  # empty when the patient is the subscriber
    subscriber_relationship: str = "self"  # self | spouse | child | other (X12 SBR02 terms)
    subscriber_dob: date | None = None  # the subscriber's, when the patient is not


@dataclass
class Patient:
    id: int
    first_name: str
    last_name: str
    dob: date
    sex: str = ""
    phone: str = ""
    email: str = ""
    address: str = ""
    allergies: list[str] = field(default_factory=list)
    medications: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    sms_opt_out: bool = False
    email_opt_out: bool = False
    coverages: list[Coverage] = field(default_factory=list)
    timezone: str = ""  # IANA name; empty: the practice's

    @property
    def display_name(self) -> str:
        return f"{self.last_name}, {self.first_name}"


@dataclass
class Appointment:
    id: int
    patient_id: int
    start_at: datetime
    provider: str = ""
    visit_type: str = "office_visit"
    status: str = "scheduled"


class TaskState(str, Enum):
    SHADOW = "shadow"
    PENDING = "pending"
    APPROVED = "approved"
    EXECUTING = "executing"
    DONE = "done"
    REJECTED = "rejected"
    FAILED = "failed"
    SNOOZED = "snoozed"


# Work waiting for a person: the only definition (queue pages and counts, the overdue
# sweep, the desktop's buttons all use it; app/queue/machine.py re-exports it).
ACTIONABLE_STATES = frozenset({TaskState.SHADOW, TaskState.PENDING, TaskState.FAILED})


class ActionMode(str, Enum):
    SHADOW = "shadow"
    APPROVE_EACH = "approve_each"
    AUTOMATIC = "automatic"


@dataclass
class Evidence:
    id: int
    label: str
    excerpt: str = ""
    blob_id: int | None = None
    mime: str = ""


@dataclass
class HistoryEntry:
    ts: datetime
    actor: str
    action: str
    from_state: str | None
    to_state: str | None
    note: str = ""
    draft_before: str | None = None
    draft_after: str | None = None


@dataclass
class Task:
    id: int
    kind: str
    state: TaskState
    priority: int
    role: str
    title: str
    natural_key: str
    due_at: datetime | None = None
    assignee: str | None = None
    subject_type: str = ""
    subject_id: str = ""
    patient_id: int | None = None
    draft: str = ""
    original_draft: str = ""
    payload: dict[str, Any] = field(default_factory=dict)
    shadow_verdict: str | None = None
    escalation_level: int = 0
    snoozed_until: datetime | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None
    acted_at: datetime | None = None
    evidence: list[Evidence] = field(default_factory=list)
    history: list[HistoryEntry] = field(default_factory=list)

    def is_overdue(self, at: datetime) -> bool:
        return self.due_at is not None and self.due_at < at and \
            self.state in ACTIONABLE_STATES
