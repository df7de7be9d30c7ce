"""The real bundled model through the runtime: loaded once, generation off the caller's
thread with streamed tokens, cancellation, the deadline, the prefix cache, and the
settings page's streamed "test this model" with its audited run."""

from __future__ import annotations

import threading
import time

import pytest

from app.identity import Session
from automations.workflows import models as flow
from local_models import registry
from local_models.errors import GenerationTimeout
from local_models.prompts import load_prompt
from local_models.runtime import GenerationParams, ModelSpec, default_runtime

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


@pytest.fixture(scope="module")
def spec() -> ModelSpec:
    path = registry.bundled_model_path()
    spec = ModelSpec(path, registry.sha256_file(path), n_ctx=2048)
    default_runtime().load(spec)  # once for the module (in the worker process)
    return spec


def _msgs(text: str) -> list[dict[str, str]]:
    return [{"role": "system", "content": "You are a helpful assistant."},
            {"role": "user", "content": text}]


def test_loaded_once_and_tokens_stream_off_the_callers_thread(spec: ModelSpec) -> None:
    runtime = default_runtime()
    pid = runtime.worker_pid
    assert runtime.load(spec)["cached"] and runtime.worker_pid == pid  # loaded once, reused
    seen: list[tuple[str, str]] = []
    caller = threading.current_thread().name
    handle = runtime.start(spec, _msgs("Say hello to the office staff."),
                           GenerationParams(max_tokens=24),
                           on_token=lambda t: seen.append((t, threading.current_thread().name)))
    streamed = list(handle)  # the iterator ends when the generation ends
    result = handle.result(timeout=120)
    assert streamed and "".join(streamed) == result.text
    assert [t for t, _ in seen] == streamed
    assert all(name != caller for _, name in seen)
    # pieces of one or more tokens: the first at once, then batched every 30 ms
    assert 1 <= len(streamed) <= result.completion_tokens <= 24
    assert result.ttft_s is not None and result.duration_s >= result.ttft_s
    assert result.model_sha256 == spec.sha256


@pytest.mark.expected_logs("token callback failed")
def test_a_failing_token_callback_logs_no_text_and_the_call_finishes(
        spec: ModelSpec, caplog: pytest.LogCaptureFixture) -> None:
    def broken(token: str) -> None:
        raise ValueError(f"draft for Avery Quillfeather: {token}")

    handle = default_runtime().start(spec, _msgs("Say hello."), GenerationParams(max_tokens=8),
                                     on_token=broken)
    result = handle.result(timeout=120)
    assert result.completion_tokens > 0
    records = [r for r in caplog.records if "token callback" in r.getMessage()]
    assert records and all(r.exc_info is None for r in records)
    assert not any("Quillfeather" in r.getMessage() for r in caplog.records)


def test_a_call_can_be_cancelled(spec: ModelSpec) -> None:
    handle = default_runtime().start(spec, _msgs("Write a long story about a lighthouse."),
                                     GenerationParams(max_tokens=400, temperature=0.7))
    for _token in handle:
        handle.cancel()
        break
    result = handle.result(timeout=120)
    assert result.finish_reason == "cancelled" and result.completion_tokens < 400


def test_every_call_has_a_deadline(spec: ModelSpec) -> None:
    params = GenerationParams(max_tokens=400, temperature=0.7, timeout_s=0.3)
    started = time.monotonic()
    with pytest.raises(GenerationTimeout, match="did not finish within"):
        default_runtime().chat(spec, _msgs("Write a long story about a river."), params)
    assert time.monotonic() - started < 60


def test_a_repeated_prefix_reuses_the_kv_cache(spec: ModelSpec) -> None:
    runtime = default_runtime()
    prompt = load_prompt("intake_summary")
    form = "Patient Name: Test Person\nReason for visit: {}\n"
    params = GenerationParams(max_tokens=1)
    runtime.reset(spec)
    cold = runtime.chat(spec, prompt.render(untrusted={"f": form.format("cough")}), params)
    warm = runtime.chat(spec, prompt.render(untrusted={"f": form.format("rash")}), params)
    assert cold.ttft_s is not None and warm.ttft_s is not None
    assert warm.ttft_s < cold.ttft_s


def test_model_test_streams_and_records_the_run(owner_session: Session) -> None:
    tokens: list[str] = []
    test = flow.start_model_test(owner_session, on_token=tokens.append)
    result = test.wait(timeout=120)
    assert tokens and "".join(tokens) == result.text
    row = owner_session.vault.query_one(
        "SELECT model_sha256, prompt_name, prompt_version, output, task_kind FROM model_runs "
        "WHERE id = ?", (test.run_id,))
    assert row == (test.model.sha256, "model_test", 1, result.text, "model_test")


def test_invalid_structured_output_is_retried_once_then_failed(spec: ModelSpec) -> None:
    from local_models.structured import generate_json
    prompt = load_prompt("intake_summary")
    out = generate_json(default_runtime(), spec, prompt,
                        untrusted={"intake_form": "Reason for visit: cough"}, max_tokens=4)
    assert not out.ok and out.data is None
    assert len(out.attempts) == 2  # the first try and exactly one retry
    assert all("token limit" in a.errors[0] for a in out.attempts)
    assert out.attempts[1].result.params["temperature"] > 0  # the retry is not a replay


def test_a_dead_worker_fails_its_calls_and_is_replaced(spec: ModelSpec) -> None:
    import os
    import signal

    from local_models.errors import ModelError
    runtime = default_runtime()
    handle = runtime.start(spec, _msgs("Write a long story about a mountain."),
                           GenerationParams(max_tokens=400, temperature=0.7))
    for _token in handle:
        pid = runtime.worker_pid
        assert pid is not None
        os.kill(pid, signal.SIGKILL)
        break
    with pytest.raises(ModelError, match="stopped unexpectedly"):
        handle.result(timeout=60)
    again = runtime.chat(spec, _msgs("Say hi."), GenerationParams(max_tokens=8))
    assert again.completion_tokens > 0 and runtime.worker_pid != pid


def test_the_worker_leaves_busy_cores_to_other_programs(spec: ModelSpec) -> None:
    """With all cores but one kept busy by other processes, the worker generates on one
    thread (ggml's threads would otherwise wait at every barrier for a descheduled peer)."""
    import subprocess
    import sys

    from local_models import cpu
    cores = cpu.physical_cores()
    if cores < 2:
        pytest.skip("one core: there is no thread count to lower")
    loops = [subprocess.Popen([sys.executable, "-c", "while True: pass"])
             for _ in range(cores - 1)]
    try:
        time.sleep(1.5)  # the worker's load watch samples every 250 ms
        result = default_runtime().chat(spec, _msgs("Count from 1 to 30."),
                                        GenerationParams(max_tokens=32))
    finally:
        for loop in loops:
            loop.kill()
            loop.wait()
    assert result.threads == [1]
