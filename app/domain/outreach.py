"""Outreach message types. Plain data, no persistence."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum


class OutreachKind(str, Enum):
    NO_SHOW = "no_show"
    CANCELLATION = "cancellation_rebook"
    WAITLIST_OFFER = "waitlist_offer"
    CARE_GAP = "care_gap_reminder"
    PA_DELAY = "pa_delay"
    BALANCE = "balance_notice"

    @property
    def tcpa_exempt(self) -> bool:
        """Treatment and appointment messages are the TCPA-exempt kind; collections are not."""
        return self is not OutreachKind.BALANCE


class Channel(str, Enum):
    SMS = "sms"
    EMAIL = "email"


@dataclass
class OutreachCheck:
    code: str  # restricted_term | readability | truncated | model_dropped | ...
    message: str
    severity: str = "warning"


@dataclass
class OutreachMessage:
    kind: OutreachKind
    channel: Channel
    recipient: str
    body: str
    subject: str = ""
    patient_id: int | None = None
    tcpa_exempt: bool = True
    grade: float = 0.0
    personalized: bool = False  # the model's opening sentence was kept
    checks: list[OutreachCheck] = field(default_factory=list)
