"""The Task state machine: the legal transitions, as data."""

from __future__ import annotations

from app.domain import ACTIONABLE_STATES
from app.domain import TaskState as S

TRANSITIONS: dict[S, frozenset[S]] = {
    # Shadow drafts never execute: they can be closed with a verdict (done), dismissed,
    # snoozed, or promoted to pending when the kind leaves shadow mode.
    S.SHADOW: frozenset({S.DONE, S.REJECTED, S.SNOOZED, S.PENDING}),
    S.PENDING: frozenset({S.APPROVED, S.REJECTED, S.SNOOZED}),
    S.APPROVED: frozenset({S.EXECUTING, S.DONE, S.FAILED}),
    S.EXECUTING: frozenset({S.DONE, S.FAILED}),
    S.FAILED: frozenset({S.PENDING, S.REJECTED, S.SNOOZED}),
    S.SNOOZED: frozenset({S.PENDING, S.SHADOW}),
    S.DONE: frozenset(),
    S.REJECTED: frozenset(),
}

OPEN_STATES = frozenset({S.SHADOW, S.PENDING, S.FAILED, S.SNOOZED, S.APPROVED, S.EXECUTING})
ACTIONABLE_VALUES: tuple[str, ...] = tuple(sorted(s.value for s in ACTIONABLE_STATES))


def actionable_sql() -> str:
    """ACTIONABLE_STATES as an SQL list of quoted values, for `state IN ...`."""
    return "(" + ",".join(f"'{v}'" for v in ACTIONABLE_VALUES) + ")"


def can_transition(source: S, target: S) -> bool:
    return target in TRANSITIONS[source]


__all__ = ["ACTIONABLE_STATES", "ACTIONABLE_VALUES", "OPEN_STATES", "TRANSITIONS",
           "actionable_sql", "can_transition"]
