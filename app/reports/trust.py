"""Trust figures per task kind (approval rate, edit rate and size, time to action, failed
effects): what a practice looks at before moving a kind out of shadow mode. Shown on the
dashboard, in the settings dialog and in the monthly report."""

from __future__ import annotations

import difflib
import statistics
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from app import clock
from app.domain import TaskState
from app.identity import Session
from app.queue.kinds import KINDS


@dataclass(frozen=True)
class TrustFigures:
    kind: str
    decided: int
    approval_rate: float | None
    edit_rate: float | None
    mean_edit_size: float | None  # 0..1, share of the draft changed (difflib)
    median_minutes_to_action: float | None
    failed: int = 0  # approved, but the effect failed: counted as decided, not approved


def trust_figures(session: Session, since: datetime | None = None,
                  until: datetime | None = None) -> dict[str, TrustFigures]:
    """Per kind, from task history: approvals (real or 'would approve/change' in shadow),
    how often and how much people edited, and median time from creation to first action.
    A task whose effect failed (state failed) counts as failed, not approved. `since` and
    `until` bound the tasks' creation time (UTC, until exclusive)."""
    params: tuple[Any, ...] = tuple(clock.iso(t) for t in (since, until) if t)
    where = ("AND t.created_at >= ? " if since else "") + ("AND t.created_at < ?" if until
                                                             else "")
    rows = session.vault.query(
        "SELECT t.id, t.kind, t.created_at, t.acted_at, t.shadow_verdict, t.original_draft, "
        "t.draft, (SELECT group_concat(h.action) FROM task_history h WHERE h.task_id = t.id), "
        f"t.state FROM tasks t WHERE t.acted_at IS NOT NULL {where}", params)
    by_kind: dict[str, list[Any]] = {}
    for row in rows:
        by_kind.setdefault(row[1], []).append(row)
    result = {}
    for kind_name in KINDS:
        items = by_kind.get(kind_name, [])
        approvals = edits = 0
        edit_sizes: list[float] = []
        decided = failed = 0
        minutes: list[float] = []
        for _id, _k, created, acted, verdict, original, draft, actions, state in items:
            actions = (actions or "").split(",")
            effect_failed = state == TaskState.FAILED.value and "approve" in actions
            approved = ("approve" in actions or verdict in ("would_approve", "would_change")) \
                and not effect_failed
            rejected = "reject" in actions or verdict == "would_reject"
            failed += effect_failed
            if not (approved or rejected or effect_failed):
                continue
            decided += 1
            minutes.append((clock.parse_iso(acted) - clock.parse_iso(created)).total_seconds()
                           / 60)
            if approved:
                approvals += 1
                if draft != original:
                    edits += 1
                    edit_sizes.append(1 - difflib.SequenceMatcher(None, original, draft).ratio())
        result[kind_name] = TrustFigures(
            kind=kind_name, decided=decided,
            approval_rate=approvals / decided if decided else None,
            edit_rate=edits / approvals if approvals else None,
            mean_edit_size=statistics.fmean(edit_sizes) if edit_sizes else None,
            median_minutes_to_action=statistics.median(minutes) if minutes else None,
            failed=failed)
    return result
