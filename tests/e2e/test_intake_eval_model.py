"""The evaluation set through the real bundled model: the report per style (grounded rate,
invented claims that passed, summary length, tokens/s) is printed, and no invented claim
may pass the gate. bench/intake_eval.py runs all forms and any larger model."""

from __future__ import annotations

from pathlib import Path

import pytest

from automations.workflows import intake_eval
from local_models import registry
from local_models.runtime import ModelSpec, default_runtime

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

FORMS = intake_eval.load_forms(Path(__file__).resolve().parents[1] / "fixtures" / "intake"
                               / "eval")[:12]  # a third of the set keeps this test short


@pytest.mark.parametrize("style", ["extractive", "prose"])
def test_the_bundled_model_passes_no_invented_claim(style: str) -> None:
    path = registry.bundled_model_path()
    spec = ModelSpec(path, registry.sha256_file(path), name=path.name)
    report = intake_eval.run_model(default_runtime(), spec, FORMS, style)
    print("\n" + report.line())
    assert len(report.runs) == len(FORMS)
    assert report.invented_passed == 0, [r.invented_passed for r in report.runs]
    for run in report.runs:
        if not run.passed and run.valid:
            assert run.reasons  # every refusal says why
    if style == "extractive":  # it can only choose our sentences, so it always grounds
        assert report.grounded_rate == 1.0 or report.valid < len(FORMS)
