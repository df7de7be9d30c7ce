"""One raw llama-cpp-python configuration, in a process of its own (OpenMP reads its
environment once, when the library loads): `_raw_llm.py THREADS ROUNDS` prints the best
decode tokens/s of ROUNDS streamed chat completions. Used by bench/llm.py as the baseline."""

from __future__ import annotations

import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != HERE]
sys.path.insert(0, str(HERE.parent))
sys.path.append(str(HERE))  # last, so nothing here can shadow a standard module

import llama_cpp  # noqa: E402  (the baseline is llama-cpp-python itself, in this process)
from _llm_shared import MAX_TOKENS, MESSAGES, decode_tps  # noqa: E402

from local_models import registry  # noqa: E402


def main() -> int:
    threads, rounds = int(sys.argv[1]), int(sys.argv[2])
    llm = llama_cpp.Llama(model_path=str(registry.bundled_model_path()), n_ctx=2048,
                          n_threads=threads, n_threads_batch=threads, seed=1234,
                          verbose=False)
    best = 0.0
    for _ in range(rounds + 1):  # the first warms the page cache and allocator
        llm.reset()
        first = None
        tokens = 0
        for chunk in llm.create_chat_completion(messages=MESSAGES, stream=True,
                                                max_tokens=MAX_TOKENS, temperature=0.0,
                                                top_p=0.95, repeat_penalty=1.1, seed=1234):
            if chunk["choices"][0].get("delta", {}).get("content"):
                tokens += 1
                if first is None:
                    first = time.perf_counter()
        best = max(best, decode_tps(first or 0.0, time.perf_counter(), tokens))
    llm.close()
    print(f"{best:.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
