"""Wire every workflow's task effects into the queue, the same way for built-in and
practice workflows: any module in automations.workflows with `register_effects()`."""

from __future__ import annotations

import importlib
import pkgutil

_registered = False


def register_all() -> list[str]:
    """Idempotent; returns the workflow modules that registered effects."""
    global _registered
    import automations.workflows as pkg
    names = []
    for info in sorted(pkgutil.iter_modules(pkg.__path__), key=lambda i: i.name):
        module = importlib.import_module(f"automations.workflows.{info.name}")
        hook = getattr(module, "register_effects", None)
        if callable(hook):
            if not _registered:
                hook()
            names.append(info.name)
    _registered = True
    return names
