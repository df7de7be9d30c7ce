"""The composition root: resolves what approving each task kind does, from the kinds'
declarations (`TaskKind.effect` / `confirm` in app/queue/kinds.py), and installs the
result in the queue. The CLI, the desktop app, the scheduler and the tests all call
`wire()`, so every face runs the same effects, whatever was imported before.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

from app.queue import effects as queue_effects
from app.queue.effects import EffectNotResolved, Effects, KindEffect
from app.queue.kinds import KINDS


def resolve(kind_name: str, path: str) -> Callable[..., Any]:
    """The function named "package.module:function"; EffectNotResolved names the kind."""
    module_name, sep, attr = path.partition(":")
    if not sep or not module_name or not attr:
        raise EffectNotResolved(kind_name, f"{path!r} is not 'package.module:function'")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise EffectNotResolved(kind_name, f"cannot import {module_name} for {path}: "
                                f"{exc}") from exc
    target: object = getattr(module, attr, None)
    if not callable(target):
        raise EffectNotResolved(kind_name, f"{path} is not a function")
    return target


def build_effects() -> Effects:
    """Every declared effect, resolved; the first that cannot be fails, naming its kind."""
    found: dict[str, KindEffect] = {}
    for name, spec in KINDS.items():
        if spec.effect:
            confirm = resolve(name, spec.confirm) if spec.confirm else None
            found[name] = KindEffect(resolve(name, spec.effect), confirm)
        elif spec.confirm:
            raise EffectNotResolved(name, "declares a confirm but no effect")
    return Effects(found)


def wire() -> Effects:
    """Resolve the declared effects and hand them to the queue; returns the set."""
    effects = build_effects()
    queue_effects.install(effects)
    return effects
