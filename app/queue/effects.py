"""What approving a task does: the resolved set of effects, per kind.

Each kind declares its effect by name (`TaskKind.effect` in app/queue/kinds.py); the
composition root (automations/wiring.py) resolves the names once and installs the result
here. Nothing registers an effect by being imported.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType

from app.domain import Task
from app.identity import Session
from app.queue.kinds import kind

# Runs the effect; returns a short PHI-free note, raises to fail the task back to a person.
Effect = Callable[[Session, Task], str]
# Did the effect for this task already happen? A PHI-free note if so, else None.
Confirm = Callable[[Session, Task], "str | None"]


class EffectNotResolved(LookupError):
    """A kind declares an effect that was not resolved: a wiring bug, never a user error."""

    def __init__(self, kind_name: str, why: str) -> None:
        super().__init__(f"task kind {kind_name!r}: {why}")
        self.kind_name = kind_name


@dataclass(frozen=True)
class KindEffect:
    effect: Effect
    # For an effect that leaves a mark keyed on the task id: tells a run interrupted by a
    # crash that took effect (done) from one that did not (back to a person).
    confirm: Confirm | None = None


class Effects:
    """An immutable map from kind to its effect, built by the composition root."""

    def __init__(self, by_kind: Mapping[str, KindEffect]) -> None:
        for name in by_kind:
            kind(name)  # undeclared kinds are refused
        self._by_kind = MappingProxyType(dict(by_kind))

    @property
    def kinds(self) -> frozenset[str]:
        return frozenset(self._by_kind)

    def replace(self, **changes: KindEffect) -> Effects:
        """A copy with some kinds' effects replaced (tests use it for fakes)."""
        return Effects({**self._by_kind, **changes})

    def for_kind(self, kind_name: str) -> KindEffect | None:
        """The kind's effect; None when it declares none. Raises EffectNotResolved when it
        declares one this set lacks, so approval never silently does nothing."""
        found = self._by_kind.get(kind_name)
        if found is not None:
            return found
        declared = kind(kind_name).effect
        if declared:
            raise EffectNotResolved(kind_name, f"declares the effect {declared} but it was "
                                    "not resolved (wire effects with automations.wiring)")
        return None

    def confirm_for(self, kind_name: str) -> Confirm | None:
        found = self._by_kind.get(kind_name)
        return found.confirm if found is not None else None


NO_EFFECTS = Effects({})
# The one installed set, set only by the composition root (automations/wiring.py).
_installed: Effects | None = None


def install(effects: Effects) -> None:
    global _installed
    _installed = effects


def installed() -> Effects:
    """The installed set; before wiring, an empty one (declared effects then fail loudly)."""
    return _installed if _installed is not None else NO_EFFECTS
