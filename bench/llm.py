"""Local model benchmarks, on the bundled GGUF with the same settings in one run:

* llm_app_vs_raw_tps: decode tokens/s through the app's path (ModelRuntime: the worker
  process, the token pipe, the reader thread and the handle's queue, deadline and cancel
  checks) over raw llama-cpp-python streaming on its own Llama instance in this
  process's main thread with the same settings (target >= 0.95);
* llm_ttft_cached_vs_cold: time to first token for an intake prompt whose system prompt
  and template are already in the KV cache, over the same prompt after a cache reset
  (target <= 0.3).
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
# Keep this folder off sys.path so no bench script can shadow a standard library module
# (the runtime's token stream uses `queue`).
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).parent]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import llama_cpp  # noqa: E402

from local_models import registry  # noqa: E402
from local_models.prompts import load_prompt  # noqa: E402
from local_models.runtime import GenerationParams, ModelRuntime, ModelSpec  # noqa: E402

ROUNDS = 3
MAX_TOKENS = 96
MESSAGES = [{"role": "system", "content": "You are a helpful assistant."},
            {"role": "user", "content": "Count from 1 to 60, separated by commas."}]
FORMS = ["Patient Name: Avery Example\nReason for visit: cough for 2 weeks\n",
         "Patient Name: Jordan Example\nReason for visit: knee pain after a fall\n",
         "Patient Name: Riley Example\nReason for visit: annual physical\n",
         "Patient Name: Morgan Example\nReason for visit: rash on both arms\n"]


def decode_tps(first: float, end: float, tokens: int) -> float:
    return (tokens - 1) / (end - first) if tokens > 1 and end > first else 0.0


def raw_run(llm: Any) -> float:
    llm.reset()
    started = time.perf_counter()
    first = None
    tokens = 0
    for chunk in llm.create_chat_completion(messages=MESSAGES, stream=True,
                                            max_tokens=MAX_TOKENS, temperature=0.0,
                                            top_p=0.95, repeat_penalty=1.1, seed=1234):
        if chunk["choices"][0].get("delta", {}).get("content"):
            tokens += 1
            if first is None:
                first = time.perf_counter()
    end = time.perf_counter()
    return decode_tps(first or started, end, tokens)


def app_run(runtime: ModelRuntime, spec: ModelSpec) -> float:
    runtime.reset(spec)
    params = GenerationParams(max_tokens=MAX_TOKENS, temperature=0.0, timeout_s=600)
    handle = runtime.start(spec, MESSAGES, params)
    first = None
    tokens = 0
    for _token in handle:  # consume the stream as the UI does
        tokens += 1
        if first is None:
            first = time.perf_counter()
    end = time.perf_counter()
    handle.result()
    return decode_tps(first or end, end, tokens)


def main() -> int:
    path = registry.bundled_model_path()
    spec = ModelSpec(path, registry.sha256_file(path), n_ctx=2048)
    runtime = ModelRuntime()
    runtime.load(spec)
    raw = llama_cpp.Llama(model_path=str(path), n_ctx=spec.n_ctx, n_threads=spec.n_threads,
                          n_threads_batch=spec.n_threads, seed=spec.seed, verbose=False)
    app_tps, raw_tps = [], []
    app_run(runtime, spec)  # warm both once (page cache, allocator)
    raw_run(raw)
    for _ in range(ROUNDS):  # interleaved, so background load hits both alike
        app_tps.append(app_run(runtime, spec))
        raw_tps.append(raw_run(raw))
    raw.close()
    ratio = max(app_tps) / max(raw_tps)
    print(f"bench llm_app_vs_raw_tps {ratio:.2f} target >= 0.95", flush=True)
    print(f"  app {max(app_tps):.0f} tok/s, raw {max(raw_tps):.0f} tok/s (best of {ROUNDS})",
          file=sys.stderr)

    prompt = load_prompt("intake_summary")
    params = GenerationParams(max_tokens=1, temperature=0.0, timeout_s=600)
    colds, warms = [], []
    for i in range(ROUNDS):
        runtime.reset(spec)  # cold: nothing cached
        cold = runtime.chat(spec, prompt.render(untrusted={"intake_form": FORMS[i]}), params)
        # cached: same system prompt and template, a different form
        warm = runtime.chat(spec, prompt.render(untrusted={"intake_form": FORMS[i + 1]}),
                            params)
        assert cold.ttft_s is not None and warm.ttft_s is not None
        colds.append(cold.ttft_s)
        warms.append(warm.ttft_s)
    ratio = statistics.median(warms) / statistics.median(colds)
    print(f"bench llm_ttft_cached_vs_cold {ratio:.2f} target <= 0.3", flush=True)
    print(f"  cached {statistics.median(warms) * 1000:.0f} ms, cold "
          f"{statistics.median(colds) * 1000:.0f} ms (medians of {ROUNDS})", file=sys.stderr)
    runtime.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
