"""Local model benchmarks on the bundled GGUF, every figure against a baseline measured
in the same run:

* llm_app_vs_raw_tps: decode tokens/s through the app's path (ModelRuntime: the worker
  process with its environment and load-following thread count, the token pipe, the
  reader thread, the handle's queue, deadline and cancel checks) over the BEST raw
  llama-cpp-python configuration measured alongside (1 thread, all cores, all cores with
  OpenMP's passive waiting; each in a process of its own) (target >= 0.95);
* llm_ttft_cached_vs_cold: time to first token for an intake prompt whose system prompt
  and template are already in the KV cache, over the same prompt after a cache reset
  (target <= 0.3);
* llm_busy_vs_idle_tps: the app's tokens/s while another process keeps one core busy
  (a plain Python busy loop this bench starts and stops) over its tokens/s on the idle
  machine, interleaved (target >= 0.35).
Absolute tokens/s are printed as information.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
# Keep this folder off the front of sys.path so no bench script can shadow a standard
# library module (the runtime's token stream uses `queue`).
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != HERE]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
sys.path.append(str(HERE))

from _llm_shared import MAX_TOKENS, MESSAGES, decode_tps  # noqa: E402

from local_models import cpu, registry  # noqa: E402
from local_models.prompts import load_prompt  # noqa: E402
from local_models.runtime import GenerationParams, ModelRuntime, ModelSpec  # noqa: E402

ROUNDS = 3
FORMS = ["Patient Name: Avery Example\nReason for visit: cough for 2 weeks\n",
         "Patient Name: Jordan Example\nReason for visit: knee pain after a fall\n",
         "Patient Name: Riley Example\nReason for visit: annual physical\n",
         "Patient Name: Morgan Example\nReason for visit: rash on both arms\n"]
BUSY_LOOP = "while True:\n    pass\n"


def app_run(runtime: ModelRuntime, spec: ModelSpec) -> float:
    runtime.reset(spec)
    params = GenerationParams(max_tokens=MAX_TOKENS, temperature=0.0, timeout_s=600)
    handle = runtime.start(spec, MESSAGES, params)
    first = None
    for _piece in handle:  # consume the stream as the UI does (pieces of 1+ tokens)
        if first is None:
            first = time.perf_counter()
    end = time.perf_counter()
    return decode_tps(first or end, end, handle.result().completion_tokens)


def raw_configs() -> list[tuple[str, int, dict[str, str]]]:
    cores = cpu.physical_cores()
    configs = [("1 thread", 1, {})]
    if cores > 1:
        configs += [(f"{cores} threads", cores, {}),
                    (f"{cores} threads, OMP passive", cores, {"OMP_WAIT_POLICY": "PASSIVE"})]
    return configs


def raw_run(threads: int, env: dict[str, str]) -> float:
    import os
    clean = {k: v for k, v in os.environ.items()
             if not k.startswith(("OMP_", "GOMP_"))}  # the raw library's own defaults
    out = subprocess.run([sys.executable, str(HERE / "_raw_llm.py"), str(threads), "1"],
                         env={**clean, **env}, capture_output=True, text=True, check=True,
                         timeout=600)
    return float(out.stdout.strip().splitlines()[-1])


def main() -> int:
    path = registry.bundled_model_path()
    spec = ModelSpec(path, registry.sha256_file(path), n_ctx=2048)  # threads: the app's
    runtime = ModelRuntime()
    runtime.load(spec)
    configs = raw_configs()
    app_tps: list[float] = []
    raw_tps: dict[str, list[float]] = {name: [] for name, _t, _e in configs}
    app_run(runtime, spec)  # warm once (page cache, allocator)
    for _ in range(ROUNDS):  # interleaved, so background load hits all alike
        # The worker's load watch (local_models/cpu.py) still counts the raw run that just
        # ended for ~0.75 s and would start this one on fewer threads; that lag is its
        # politeness, not the generation path this figure measures, so let it settle.
        time.sleep(1.0)
        app_tps.append(app_run(runtime, spec))
        for name, threads, env in configs:
            raw_tps[name].append(raw_run(threads, env))
    best_name = max(raw_tps, key=lambda n: max(raw_tps[n]))
    ratio = max(app_tps) / max(raw_tps[best_name])
    print(f"bench llm_app_vs_raw_tps {ratio:.2f} target >= 0.95", flush=True)
    print(f"  app {max(app_tps):.0f} tok/s; raw: " + ", ".join(
        f"{name} {max(v):.0f}" for name, v in raw_tps.items())
        + f" tok/s (best of {ROUNDS}; baseline: {best_name})", flush=True)

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
          f"{statistics.median(colds) * 1000:.0f} ms (medians of {ROUNDS})", flush=True)

    idle, busy = [], []
    for _ in range(ROUNDS):
        idle.append(app_run(runtime, spec))
        loop = subprocess.Popen([sys.executable, "-c", BUSY_LOOP])
        try:
            time.sleep(1.0)  # the worker's load watch sees it, as it would a real program
            busy.append(app_run(runtime, spec))
        finally:
            loop.kill()
            loop.wait()
        time.sleep(1.0)
    ratio = statistics.median(busy) / statistics.median(idle)
    print(f"bench llm_busy_vs_idle_tps {ratio:.2f} target >= 0.35", flush=True)
    print(f"  idle {statistics.median(idle):.0f} tok/s, one core busy "
          f"{statistics.median(busy):.0f} tok/s (medians of {ROUNDS}; "
          f"{cpu.physical_cores()} physical cores)", flush=True)
    runtime.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
