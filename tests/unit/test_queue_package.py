"""The queue package stays a set of small modules with one job each; the actionable
states are defined once; only the queue writes task evidence and history rows."""

from __future__ import annotations

import re
from pathlib import Path

from app import queue
from app.domain import ACTIONABLE_STATES, TaskState

ROOT = Path(__file__).resolve().parents[2]
SOURCES = [p for d in ("app", "automations", "ui", "local_models")
           for p in sorted((ROOT / d).rglob("*.py"))]


def test_queue_modules_are_small() -> None:
    sizes = {p.name: len(p.read_text(encoding="utf-8").splitlines())
             for p in (ROOT / "app" / "queue").glob("*.py")}
    assert {n for n, size in sizes.items() if size > 250} == set(), sizes


def test_actionable_states_are_defined_once() -> None:
    assert ACTIONABLE_STATES == {TaskState.SHADOW, TaskState.PENDING, TaskState.FAILED}
    assert queue.ACTIONABLE_STATES is ACTIONABLE_STATES
    definitions, literals = [], []
    # the three states spelled out together, as values or as enum members, in any order
    spelled = re.compile(r"""((['"](shadow|pending|failed)['"],\s*){2}['"](shadow|pending|"""
                         r"""failed)['"]|(TaskState\.(SHADOW|PENDING|FAILED),\s*){2}"""
                         r"""TaskState\.(SHADOW|PENDING|FAILED))(?!\s*,\s*(['"]|TaskState))""")
    for path in SOURCES:
        text = path.read_text(encoding="utf-8")
        name = str(path.relative_to(ROOT))
        if re.search(r"^\s*ACTIONABLE_STATES\s*=", text, re.M):
            definitions.append(name)
        if spelled.search(text) and "migrations" not in name:
            literals.append(name)
    assert definitions == ["app/domain/__init__.py"]
    assert literals == ["app/domain/__init__.py"]


def test_only_the_queue_writes_task_evidence_and_history() -> None:
    writes = re.compile(r"(INSERT INTO|UPDATE|DELETE FROM)\s+task_(evidence|history)\b", re.I)
    offenders = [str(p.relative_to(ROOT)) for p in SOURCES
                 if writes.search(p.read_text(encoding="utf-8"))
                 and p.parent != ROOT / "app" / "queue" and "migrations" not in p.parts]
    assert offenders == []
