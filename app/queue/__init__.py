"""The work queue: every agent output is a Task that a person edits, approves, rejects,
snoozes or escalates. All changes go through these functions, which check roles, keep
the task history and write the audit row in one transaction.

The package, one job per module: kinds and machine (declarations), effects (what approval
does, declared per kind and resolved by the composition root, automations/wiring.py),
modes, blobs (evidence), creation, reads, history (the primitives every change uses),
transitions, execution, notifications and overdue (the sweep). This module re-exports the
public API. Trust figures are metrics: app/reports/trust.py.
"""

from __future__ import annotations

from app.domain.specs import PRIORITY_HIGH, PRIORITY_LOW, PRIORITY_NORMAL
from app.queue.blobs import NewEvidence, add_evidence, blob_data, store_blob
from app.queue.creation import create_task
from app.queue.effects import Confirm, Effect, EffectNotResolved, Effects, KindEffect
from app.queue.execution import INTERRUPTED, recover_interrupted
from app.queue.history import move, record_history
from app.queue.machine import ACTIONABLE_STATES, ACTIONABLE_VALUES, OPEN_STATES
from app.queue.modes import all_modes, get_mode, set_mode
from app.queue.notifications import mark_notifications_read, notify, unread_notifications
from app.queue.overdue import escalate_overdue
from app.queue.reads import (
    TASK_COLUMNS,
    QueueFilter,
    get_task,
    get_task_unchecked,
    list_tasks,
    queue_counts,
    task_to_json,
)
from app.queue.transitions import (
    SHADOW_VERDICTS,
    approve,
    edit_draft,
    escalate,
    reassign,
    reject,
    retry,
    shadow_verdict,
    snooze,
    wake_snoozed,
)

# Tests drive the primitives directly (inside their own write transaction).
_history = record_history
_move = move

__all__ = [
    "ACTIONABLE_STATES", "ACTIONABLE_VALUES", "INTERRUPTED", "OPEN_STATES", "PRIORITY_HIGH",
    "PRIORITY_LOW", "PRIORITY_NORMAL", "SHADOW_VERDICTS", "TASK_COLUMNS", "Confirm",
    "Effect", "EffectNotResolved", "Effects", "KindEffect", "NewEvidence", "QueueFilter",
    "add_evidence", "all_modes", "approve", "blob_data", "create_task",
    "edit_draft", "escalate", "escalate_overdue", "get_mode", "get_task",
    "get_task_unchecked", "list_tasks", "mark_notifications_read", "notify", "queue_counts",
    "reassign", "record_history", "recover_interrupted", "reject", "retry", "set_mode",
    "shadow_verdict", "snooze", "store_blob", "task_to_json",
    "unread_notifications", "wake_snoozed",
]
