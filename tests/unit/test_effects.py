"""Effects are declared per kind and resolved at one composition root: every face runs the
same set, whatever was imported first, and an effect that cannot be resolved fails loudly,
naming its kind."""

from __future__ import annotations

import dataclasses
import re
import subprocess
import sys
from pathlib import Path

import pytest

from app import queue
from app.domain import TaskState
from app.queue import effects
from app.queue.kinds import KINDS
from automations import wiring

ROOT = Path(__file__).resolve().parents[2]


def test_every_declared_effect_resolves() -> None:
    built = wiring.build_effects()
    declared = {name for name, spec in KINDS.items() if spec.effect}
    assert declared >= {"intake_review", "outreach", "denial_review"}
    assert built.kinds == declared
    for name, spec in KINDS.items():
        if spec.effect:
            assert callable(wiring.resolve(name, spec.effect))
            found = built.for_kind(name)
            assert found is not None and callable(found.effect)
            if spec.confirm:
                assert callable(wiring.resolve(name, spec.confirm))
        else:
            assert built.for_kind(name) is None


@pytest.mark.parametrize("path", ["automations.no_such_module:run", "app.queue:no_such_fn",
                                  "not-a-dotted-path"])
def test_an_unresolvable_declaration_names_its_kind(monkeypatch: pytest.MonkeyPatch,
                                                     path: str) -> None:
    monkeypatch.setitem(KINDS, "care_gap", dataclasses.replace(KINDS["care_gap"], effect=path))
    with pytest.raises(effects.EffectNotResolved, match="'care_gap'"):
        wiring.build_effects()


def test_approving_an_unwired_effect_fails_loudly_and_changes_nothing(
        owner_session, replace_effects) -> None:
    queue.set_mode(owner_session, "outreach", "approve_each")
    task, _ = queue.create_task(owner_session, "outreach", "o:1", "Reminder", draft="Hi")
    effects.install(effects.NO_EFFECTS)
    with pytest.raises(effects.EffectNotResolved, match="'outreach'"):
        queue.approve(owner_session, task.id)
    assert queue.get_task_unchecked(owner_session, task.id).state is TaskState.PENDING
    # a kind that declares no effect is still approved (the decision is recorded)
    queue.set_mode(owner_session, "pa_escalation", "approve_each")
    other, _ = queue.create_task(owner_session, "pa_escalation", "e:1", "Call payer")
    assert queue.approve(owner_session, other.id).state is TaskState.DONE


def test_no_import_changes_what_approval_does() -> None:
    """Importing every workflow and command module wires nothing: only wire() does."""
    code = ("import importlib, pkgutil\n"
            "import automations.workflows as w, ui.commands as c\n"
            "for pkg in (w, c):\n"
            "    for i in pkgutil.iter_modules(pkg.__path__):\n"
            "        importlib.import_module(pkg.__name__ + '.' + i.name)\n"
            "from ui.cli import build_parser\n"
            "build_parser()\n"
            "from app.queue import effects\n"
            "assert effects.installed().kinds == frozenset(), effects.installed().kinds\n"
            "from automations.wiring import wire\n"
            "assert 'denial_review' in wire().kinds\n")
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True)


def test_register_effect_is_only_in_the_composition_root() -> None:
    offenders = []
    for folder in ("app", "automations", "ui"):
        for path in (ROOT / folder).rglob("*.py"):
            text = path.read_text(encoding="utf-8")
            if re.search(r"register_effect|\b_EFFECTS\b|register_all", text):
                offenders.append(str(path.relative_to(ROOT)))
    assert offenders == []
