"""What a pure rule asks the queue for: a task spec with its natural key and evidence.
Rules (app.charges.rules, app.referrals) return these; the workflows create the tasks
(automations.workflows.specs.queue_spec), so rules stay free of the vault."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


@dataclass(frozen=True)
class EvidenceSpec:
    label: str
    excerpt: str


@dataclass(frozen=True)
class TaskSpec:
    kind: str
    natural_key: str
    title: str
    draft: str
    due_at: datetime | None
    priority: int
    subject_type: str = ""
    subject_id: str = ""
    patient_id: int | None = None
    payload: dict[str, Any] = field(default_factory=dict)
    evidence: tuple[EvidenceSpec, ...] = ()
