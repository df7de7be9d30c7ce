"""Intake evaluation on real models, measured in one run on the forms of
tests/fixtures/intake/eval (hand-written expected facts):

* intake_model_grounded_rate: of the model's valid summaries, the share that pass the
  grounding gate, over every model and style tried (informative; a small model's prose
  mostly fails, and then the deterministic summary is shown);
* intake_invented_claims_passed: clinical terms or drugs in a summary that passed the
  gate but are not among the form's expected facts (target: 0, for every model);
* per model and style (stderr): summary length against the deterministic summary, the
  share of passed summaries that keep the reason and allergies, tokens/s, and how the
  model does as the second injection classifier on the paraphrase corpus.

Models: the bundled SmolLM2-135M, plus any GGUF named in OFFHOLD_EVAL_MODELS
(colon-separated paths; e.g. a larger model the practice imported). Styles: 'prose'
(intake_summary prompt) and 'extractive' (the model orders the deterministic
sentences under a JSON-schema enum). OFFHOLD_EVAL_FORMS=N limits the forms.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
# Keep this folder off sys.path so no bench script can shadow a standard library module.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).parent]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from automations.workflows import intake_eval  # noqa: E402
from local_models import registry  # noqa: E402
from local_models.runtime import ModelRuntime, ModelSpec  # noqa: E402

FORMS = ROOT / "tests" / "fixtures" / "intake" / "eval"
PARAPHRASES = ROOT / "tests" / "fixtures" / "intake" / "injection_paraphrases.yaml"


def main() -> int:
    forms = intake_eval.load_forms(FORMS)
    limit = int(os.environ.get("OFFHOLD_EVAL_FORMS", "0") or 0)
    if limit:
        forms = forms[:limit]
    paths = [registry.bundled_model_path()]
    paths += [Path(p) for p in os.environ.get("OFFHOLD_EVAL_MODELS", "").split(":") if p]
    runtime = ModelRuntime()
    reports = []
    corpus = yaml.safe_load(PARAPHRASES.read_text(encoding="utf-8"))
    try:
        for path in paths:
            spec = ModelSpec(path, registry.sha256_file(path), name=path.name, n_ctx=4096)
            for style in ("prose", "extractive"):
                report = intake_eval.run_model(runtime, spec, forms, style)
                reports.append(report)
                print("  " + report.line(), file=sys.stderr, flush=True)
            injection = intake_eval.run_injection_check(runtime, spec, corpus["paraphrases"],
                                                        corpus["benign"])
            print("  " + injection.line(), file=sys.stderr, flush=True)
    finally:
        runtime.close()
    valid = sum(r.valid for r in reports)
    passed = sum(sum(run.passed for run in r.runs) for r in reports)
    rate = passed / valid if valid else 0.0
    print(f"bench intake_model_grounded_rate {rate:.3f} target >= 0.0  "
          f"# {passed}/{valid} valid summaries grounded, {len(reports)} model/style runs",
          flush=True)
    invented = sum(r.invented_passed for r in reports)
    print(f"bench intake_invented_claims_passed {invented} target <= 0", flush=True)
    if invented:
        print("  (intake_invented_claims_passed misses its target)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
