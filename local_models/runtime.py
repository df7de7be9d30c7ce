"""The llama-cpp-python runtime: load once, generate off the caller's thread, stream tokens.

* One Llama object per (file, hash, context size, threads), kept for the life of the
  process. Reusing the instance is also the prefix cache: llama.cpp keeps the KV cache of
  the last prompt and only evaluates the tokens after the longest common prefix, so the
  shared system prompt and template of repeated drafts cost nothing the second time.
* A Llama object is not thread-safe, so calls to one model are serialized by its lock.
* Every call runs on a worker thread, has a token limit and a deadline, and can be
  cancelled; tokens reach the caller through a callback and/or by iterating the handle.
  Cancellation and the deadline are checked after every token; llama.cpp cannot interrupt
  the prompt evaluation itself, so a very long prompt is only stopped after its first token.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

from local_models.errors import (
    GenerationCancelled,
    GenerationTimeout,
    ModelError,
    ModelFileError,
)
from local_models.registry import check_gguf_header, verify_file

log = logging.getLogger(__name__)

DEFAULT_THREADS = 2
DEFAULT_CTX = 4096
TokenCallback = Callable[[str], None]
Message = dict[str, str]


@dataclass(frozen=True)
class ModelSpec:
    """Which file to run and how; the hash is the one recorded in the registry."""

    path: Path
    sha256: str
    name: str = ""
    n_ctx: int = DEFAULT_CTX
    n_threads: int = DEFAULT_THREADS
    seed: int = 1234

    @property
    def key(self) -> tuple[str, str, int, int]:
        return (str(Path(self.path).resolve()), self.sha256, self.n_ctx, self.n_threads)


@dataclass(frozen=True)
class GenerationParams:
    max_tokens: int = 256
    temperature: float = 0.0
    top_p: float = 0.95
    repeat_penalty: float = 1.1
    timeout_s: float = 60.0
    json_schema: dict[str, Any] | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"max_tokens": self.max_tokens, "temperature": self.temperature,
                "top_p": self.top_p, "repeat_penalty": self.repeat_penalty,
                "timeout_s": self.timeout_s, "json_schema": self.json_schema is not None}


@dataclass
class GenerationResult:
    text: str
    finish_reason: str  # stop | length | cancelled | timeout
    prompt_tokens: int
    completion_tokens: int
    duration_s: float
    ttft_s: float | None
    model_sha256: str
    params: dict[str, Any] = field(default_factory=dict)

    @property
    def tokens_per_s(self) -> float:
        gen_time = self.duration_s - (self.ttft_s or 0.0)
        return (self.completion_tokens - 1) / gen_time if gen_time > 0 and \
            self.completion_tokens > 1 else 0.0


_DONE = object()


class Generation:
    """A running generation. Iterate it for tokens, or call result() to wait."""

    def __init__(self) -> None:
        self._tokens: queue.Queue[object] = queue.Queue()
        self._cancel = threading.Event()
        self._finished = threading.Event()
        self._result: GenerationResult | None = None
        self._error: BaseException | None = None
        self.thread: threading.Thread | None = None

    def cancel(self) -> None:
        self._cancel.set()

    @property
    def cancelled(self) -> bool:
        return self._cancel.is_set()

    @property
    def done(self) -> bool:
        return self._finished.is_set()

    def __iter__(self) -> Iterator[str]:
        while True:
            item = self._tokens.get()
            if item is _DONE:
                return
            assert isinstance(item, str)
            yield item

    def result(self, timeout: float | None = None) -> GenerationResult:
        """Wait for the end. A cancelled or timed-out call returns its partial text with
        finish_reason set; a load or runtime failure is raised here."""
        if not self._finished.wait(timeout):
            raise GenerationTimeout("the generation did not finish in time")
        if self._error is not None:
            raise self._error
        assert self._result is not None
        return self._result

    def _finish(self, result: GenerationResult | None, error: BaseException | None) -> None:
        self._result, self._error = result, error
        self._tokens.put(_DONE)
        self._finished.set()


@dataclass
class _Loaded:
    llm: Any
    lock: threading.Lock


class ModelRuntime:
    """Loads models once and runs generations on worker threads."""

    def __init__(self) -> None:
        self._models: dict[tuple[str, str, int, int], _Loaded] = {}
        self._lock = threading.Lock()

    # -- loading ------------------------------------------------------------------------

    def load(self, spec: ModelSpec) -> Any:
        """The cached Llama for this spec; the file's hash is checked before every use (the
        hash itself is cached per file size and mtime, so this costs a stat)."""
        return self._loaded(spec).llm

    def _loaded(self, spec: ModelSpec) -> _Loaded:
        try:
            verify_file(Path(spec.path), spec.sha256)
        except ModelError:
            self.evict(spec)
            raise
        with self._lock:
            loaded = self._models.get(spec.key)
            if loaded is not None:
                return loaded
            import llama_cpp

            check_gguf_header(Path(spec.path))
            started = time.monotonic()
            try:
                llm = llama_cpp.Llama(model_path=str(spec.path), n_ctx=spec.n_ctx,
                                      n_threads=spec.n_threads, n_threads_batch=spec.n_threads,
                                      seed=spec.seed, verbose=False)
            except (ValueError, RuntimeError) as exc:
                raise ModelFileError(f"llama.cpp could not load {spec.path}: {exc}") from exc
            log.info("model %s loaded in %.2fs", spec.sha256[:12], time.monotonic() - started)
            loaded = _Loaded(llm, threading.Lock())
            self._models[spec.key] = loaded
            return loaded

    def evict(self, spec: ModelSpec) -> None:
        with self._lock:
            loaded = self._models.pop(spec.key, None)
        if loaded is not None:
            with loaded.lock:
                loaded.llm.close()

    def close(self) -> None:
        with self._lock:
            items = list(self._models.values())
            self._models.clear()
        for loaded in items:
            with loaded.lock:
                loaded.llm.close()

    # -- generating ---------------------------------------------------------------------

    def start(self, spec: ModelSpec, messages: list[Message],
              params: GenerationParams = GenerationParams(),
              on_token: TokenCallback | None = None) -> Generation:
        """Start a chat completion on a worker thread and return its handle at once."""
        handle = Generation()
        deadline = time.monotonic() + params.timeout_s
        thread = threading.Thread(target=self._run, name="offhold-llm", daemon=True,
                                  args=(handle, spec, messages, params, on_token, deadline))
        handle.thread = thread
        thread.start()
        return handle

    def chat(self, spec: ModelSpec, messages: list[Message],
             params: GenerationParams = GenerationParams(),
             on_token: TokenCallback | None = None) -> GenerationResult:
        """start() and wait; raises GenerationTimeout/GenerationCancelled if it did not end
        normally."""
        result = self.start(spec, messages, params, on_token).result()
        if result.finish_reason == "timeout":
            raise GenerationTimeout(f"the model did not finish within {params.timeout_s:g}s "
                                    f"({result.completion_tokens} tokens generated)")
        if result.finish_reason == "cancelled":
            raise GenerationCancelled("the generation was cancelled")
        return result

    def _run(self, handle: Generation, spec: ModelSpec, messages: list[Message],
             params: GenerationParams, on_token: TokenCallback | None,
             deadline: float) -> None:
        try:
            loaded = self._loaded(spec)
            if not loaded.lock.acquire(timeout=max(0.0, deadline - time.monotonic())):
                handle._finish(GenerationResult("", "timeout", 0, 0, 0.0, None, spec.sha256,
                                                params.as_dict()), None)
                return
            try:
                result = self._generate(loaded.llm, handle, spec, messages, params, on_token,
                                        deadline)
            finally:
                loaded.lock.release()
        except BaseException as exc:  # handed to the caller through result()
            handle._finish(None, exc)
        else:
            handle._finish(result, None)

    def _generate(self, llm: Any, handle: Generation, spec: ModelSpec,
                  messages: list[Message], params: GenerationParams,
                  on_token: TokenCallback | None, deadline: float) -> GenerationResult:
        # create_chat_completion takes no stopping criteria; the stream yields once per
        # token, so cancellation and the deadline are checked between tokens below.
        kwargs: dict[str, Any] = dict(
            messages=messages, stream=True, max_tokens=params.max_tokens,
            temperature=params.temperature, top_p=params.top_p,
            repeat_penalty=params.repeat_penalty, seed=spec.seed)
        if params.json_schema is not None:
            kwargs["response_format"] = {"type": "json_object", "schema": params.json_schema}
        started = time.monotonic()
        ttft: float | None = None
        pieces: list[str] = []
        finish = "stop"
        stream = llm.create_chat_completion(**kwargs)
        try:
            for chunk in stream:
                choice = chunk["choices"][0]
                piece = choice.get("delta", {}).get("content") or ""
                if piece:
                    if ttft is None:
                        ttft = time.monotonic() - started
                    pieces.append(piece)
                    handle._tokens.put(piece)
                    if on_token is not None:
                        on_token(piece)
                if choice.get("finish_reason"):
                    finish = str(choice["finish_reason"])
                if handle.cancelled:
                    finish = "cancelled"
                    break
                if time.monotonic() > deadline:
                    finish = "timeout"
                    break
        finally:
            stream.close()
        if finish == "stop" and handle.cancelled:
            finish = "cancelled"
        elif finish == "stop" and time.monotonic() > deadline:
            finish = "timeout"
        completion = len(pieces)
        return GenerationResult(
            text="".join(pieces), finish_reason=finish,
            prompt_tokens=max(0, int(llm.n_tokens) - completion), completion_tokens=completion,
            duration_s=time.monotonic() - started, ttft_s=ttft, model_sha256=spec.sha256,
            params=params.as_dict())


_DEFAULT: ModelRuntime | None = None
_DEFAULT_LOCK = threading.Lock()


def default_runtime() -> ModelRuntime:
    """The process-wide runtime, so every caller shares loaded models and their KV caches."""
    global _DEFAULT
    with _DEFAULT_LOCK:
        if _DEFAULT is None:
            _DEFAULT = ModelRuntime()
        return _DEFAULT
