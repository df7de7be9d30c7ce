"""Every face wires the same task effects (approving an outreach task queues it, etc.)."""

from __future__ import annotations

from app import queue
from automations.effects import register_all


def test_register_all_wires_workflow_effects() -> None:
    modules = register_all()
    assert {"intake", "outreach"} <= set(modules)
    assert {"intake_review", "outreach"} <= set(queue._EFFECTS)
    assert register_all() == modules  # idempotent
