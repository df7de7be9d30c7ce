"""What a pure rule asks the queue for: a task spec with its natural key and evidence.
Rules (app.pa.rules, app.denials.rules, app.charges.rules, app.referrals) return these;
the workflows create the tasks, so rules stay free of the vault. One definition for all
of them, with the queue's priority scale."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

PRIORITY_HIGH, PRIORITY_NORMAL, PRIORITY_LOW = 1, 2, 3  # the queue's scale


@dataclass(frozen=True)
class EvidenceSpec:
    label: str
    excerpt: str = ""
    blob: bytes | None = None
    mime: str = "text/plain"
    letter: bool = False  # a denial's appeal letter PDF, rendered by its workflow


@dataclass(frozen=True)
class TaskSpec:
    kind: str
    natural_key: str
    title: str
    draft: str
    due_at: datetime | None
    priority: int = PRIORITY_NORMAL
    subject_type: str = ""
    subject_id: str | int = ""
    patient_id: int | None = None
    payload: dict[str, Any] = field(default_factory=dict)
    evidence: tuple[EvidenceSpec, ...] = ()
    with_evidence: bool = False  # a PA check: attach the observation's screenshot
