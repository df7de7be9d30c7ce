"""Task specs from pure rules (app.domain.specs) into the queue, the same way for every
workflow that uses them: a task already made for the natural key (in any state) is left
as it is, so a re-run neither duplicates nor reopens it."""

from __future__ import annotations

from app import queue
from app.domain import Task
from app.domain.specs import TaskSpec
from app.identity import Session


def queue_spec(session: Session, spec: TaskSpec,
               extra: list[queue.NewEvidence] | None = None) -> tuple[Task, bool]:
    """Create the spec's task (inside the caller's transaction when there is one);
    (task, created)."""
    evidence = [queue.NewEvidence(e.label, excerpt=e.excerpt) for e in spec.evidence]
    return queue.create_task(
        session, spec.kind, spec.natural_key, spec.title, draft=spec.draft,
        due_at=spec.due_at, priority=spec.priority, subject_type=spec.subject_type,
        subject_id=spec.subject_id, patient_id=spec.patient_id, payload=spec.payload,
        evidence=evidence + (extra or []), update_open=False)
