"""A planted model answer for workflow tests: run_structured returns the given data (or
raises ModelUnavailable for None) without a model process, so a test can put exactly the
output it needs through the real grounding and task code."""

from __future__ import annotations

from types import ModuleType, SimpleNamespace
from typing import Any, Callable

import pytest

from automations.workflows import models as model_flow
from local_models.prompts import load_prompt
from local_models.structured import StructuredResult


def plant(monkeypatch: pytest.MonkeyPatch, workflow: ModuleType,
          answer: Callable[[str], dict[str, Any] | None]) -> list[str]:
    """Patch `workflow`'s model calls; returns the list of prompt names asked, in order."""
    calls: list[str] = []

    def fake_run(_session: Any, _kind: str, prompt: str, **_k: Any) -> model_flow.StructuredRun:
        calls.append(prompt)
        data = answer(prompt)
        if data is None:
            raise model_flow.ModelUnavailable("the model failed its self-test")
        result = StructuredResult(True, data, load_prompt(prompt))
        return model_flow.StructuredRun(result, [0], SimpleNamespace(name="planted"))  # type: ignore[arg-type]

    monkeypatch.setattr(workflow.model_flow, "run_structured", fake_run)  # type: ignore[attr-defined]
    monkeypatch.setattr(workflow.model_service, "set_run_grounding",  # type: ignore[attr-defined]
                        lambda *_a: None)
    return calls
