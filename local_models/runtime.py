"""The llama-cpp-python runtime: load once, generate off the caller's thread, stream tokens.

* Models run in one worker process (local_models.worker), spawned on first use. It keeps
  one Llama object per (file, hash, context size, threads) for the life of the app, and
  runs one generation at a time on its main thread (see worker.py for why a process).
* Reusing the Llama object is also the prefix cache: llama.cpp keeps the KV cache of the
  last prompt and only evaluates the tokens after the longest common prefix, so the
  shared system prompt and template of repeated drafts cost nothing the second time.
* Every call has a token limit and a deadline and can be cancelled; text reaches the
  caller through a callback (called on the runtime's reader thread) and/or by iterating
  the handle, in pieces of one or more tokens (the worker batches them every 30 ms). Cancellation and the deadline are checked after every token; llama.cpp
  cannot interrupt the prompt evaluation itself.
* The file's SHA-256 is checked against the registry's before every load and use.
"""

from __future__ import annotations

import atexit
import logging
import queue
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

from local_models.errors import GenerationCancelled, GenerationTimeout, ModelError

log = logging.getLogger(__name__)

DEFAULT_THREADS = 0  # 0: the worker chooses from the machine's cores and load (cpu.py)
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
    threads: list[int] = field(default_factory=list)  # thread counts the worker used

    @property
    def tokens_per_s(self) -> float:
        gen_time = self.duration_s - (self.ttft_s or 0.0)
        return (self.completion_tokens - 1) / gen_time if gen_time > 0 and \
            self.completion_tokens > 1 else 0.0


_DONE = object()


class Generation:
    """A running generation. Iterate it for tokens, or call result() to wait."""

    def __init__(self, on_cancel: Callable[[], None] | None = None) -> None:
        self._tokens: queue.Queue[object] = queue.Queue()
        self._cancel = threading.Event()
        self._finished = threading.Event()
        self._result: GenerationResult | None = None
        self._error: BaseException | None = None
        self._on_cancel = on_cancel

    def cancel(self) -> None:
        """Ask the worker to stop after the current token (no-op once finished)."""
        if not self._cancel.is_set() and not self.done:
            self._cancel.set()
            if self._on_cancel is not None:
                self._on_cancel()

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


class ModelRuntime:
    """Parent side of the worker process: requests go down a pipe, tokens come back and
    are dispatched to their Generation handles by a reader thread."""

    def __init__(self, worker_entry: str = "local_models.worker:serve") -> None:
        """`worker_entry` names the worker's serve function as "module:function"; tests
        pass one that wraps the real worker and crashes, hangs or slows it."""
        self._worker_entry = worker_entry
        self._lock = threading.Lock()  # spawning, the job table, sending
        self._proc: Any = None
        self._conn: Any = None
        self._reader: threading.Thread | None = None
        self._jobs: dict[int, tuple[Generation, ModelSpec, GenerationParams,
                                    TokenCallback | None]] = {}
        self._replies: dict[int, "queue.Queue[tuple[Any, ...]]"] = {}
        self._job_conn: dict[int, Any] = {}  # which worker each job was sent to
        self._info: dict[str, Any] | ModelError | None = None
        self._next = 0

    # -- the worker process -------------------------------------------------------------

    def _ensure_worker(self) -> Any:
        if self._proc is not None and self._proc.is_alive():
            return self._conn
        import importlib
        import multiprocessing

        module_name, _, function = self._worker_entry.partition(":")
        target = getattr(importlib.import_module(module_name), function)
        ctx = multiprocessing.get_context("spawn")  # fork is unsafe with threads
        parent, child = ctx.Pipe()
        proc = ctx.Process(target=target, args=(child,), name="offhold-model-worker",
                           daemon=True)
        proc.start()
        child.close()
        self._proc, self._conn = proc, parent
        self._reader = threading.Thread(target=self._read, args=(parent,),
                                        name="offhold-llm-reader", daemon=True)
        self._reader.start()
        log.info("model worker started (pid %s)", proc.pid)
        return parent

    def _send(self, msg: tuple[Any, ...]) -> Any:
        """Send to the worker (starting one if needed); returns the connection used, which
        names the worker the job belongs to."""
        with self._lock:
            conn = self._ensure_worker()
            conn.send(msg)
            if len(msg) > 1 and isinstance(msg[1], int):
                self._job_conn[msg[1]] = conn
            return conn

    def _new_job(self) -> int:
        with self._lock:
            self._next += 1
            return self._next

    def _read(self, conn: Any) -> None:
        while True:
            try:
                msg = conn.recv()
            except (EOFError, OSError):
                self._worker_died(conn)
                return
            kind, job = msg[0], int(msg[1])
            if kind in ("token", "done") or (kind == "error" and job in self._jobs):
                self._dispatch(msg)
            else:
                reply = self._replies.get(job)
                if reply is not None:
                    reply.put(msg)

    def _dispatch(self, msg: tuple[Any, ...]) -> None:
        kind, job = msg[0], int(msg[1])
        entry = self._jobs.get(job)
        if entry is None:
            return
        handle, spec, params, on_token = entry
        if kind == "token":
            handle._tokens.put(msg[2])
            if on_token is not None:
                try:
                    on_token(msg[2])
                except Exception as exc:  # a broken callback must not kill the reader
                    # Type only: the message and traceback locals may hold drafted PHI.
                    log.error("token callback failed (%s); generation goes on",
                              type(exc).__name__)
            return
        self._jobs.pop(job, None)
        self._job_conn.pop(job, None)
        if kind == "done":
            out = msg[2]
            handle._finish(GenerationResult(
                text=out["text"], finish_reason=out["finish_reason"],
                prompt_tokens=out["prompt_tokens"], completion_tokens=out["completion_tokens"],
                duration_s=out["duration_s"], ttft_s=out["ttft_s"], model_sha256=spec.sha256,
                params=params.as_dict(), threads=list(out.get("threads", []))), None)
        else:
            handle._finish(None, _rebuild_error(msg[2], msg[3]))

    def _worker_died(self, conn: Any) -> None:
        """The worker behind `conn` ended (crashed, killed or stopped): fail its jobs only;
        jobs already sent to a replacement worker carry on."""
        with self._lock:
            if self._conn is conn:
                self._proc, self._conn = None, None
            mine = {job for job, c in self._job_conn.items() if c is conn}
            jobs = {job: self._jobs.pop(job) for job in list(self._jobs) if job in mine}
            replies = {job: r for job, r in self._replies.items() if job in mine}
            for job in mine:
                self._job_conn.pop(job, None)
        for handle, *_rest in jobs.values():
            handle._finish(None, ModelError("the model worker stopped unexpectedly; the "
                                            "next call starts a new one"))
        for job, reply in replies.items():
            reply.put(("error", job, "ModelError", "the model worker stopped unexpectedly"))

    def _request(self, msg: tuple[Any, ...], timeout: float = 600.0) -> tuple[Any, ...]:
        job = int(msg[1])
        reply: queue.Queue[tuple[Any, ...]] = queue.Queue()
        self._replies[job] = reply
        try:
            self._send(msg)
            try:
                answer = reply.get(timeout=timeout)
            except queue.Empty as exc:
                raise GenerationTimeout("the model worker did not answer in time") from exc
        finally:
            self._replies.pop(job, None)
            self._job_conn.pop(job, None)
        if answer[0] == "error":
            raise _rebuild_error(answer[2], answer[3])
        return answer

    # -- loading ------------------------------------------------------------------------

    def load(self, spec: ModelSpec) -> dict[str, Any]:
        """Load (once) and verify the model; returns {"cached": bool, "load_s": float}."""
        return dict(self._request(("load", self._new_job(), _spec_dict(spec)))[2])

    def reset(self, spec: ModelSpec) -> None:
        """Forget the model's KV cache (the next prompt is evaluated cold)."""
        self._request(("reset", self._new_job(), _spec_dict(spec)))

    def inspect(self, path: Path, timeout: float = 120.0) -> dict[str, str]:
        """A GGUF's metadata, read by llama.cpp in the worker (never in this process)."""
        return dict(self._request(("inspect", self._new_job(), str(path)), timeout)[2])

    def info(self, timeout: float = 120.0, refresh: bool = False) -> dict[str, Any]:
        """The worker's runtime: llama-cpp-python version, compiled CPU features, the
        processor's fingerprint and its default thread count. Asked once per process (a
        failure too, so a runtime that cannot load is not respawned for every draft);
        `refresh` asks again."""
        if refresh or self._info is None:
            try:
                self._info = dict(self._request(("info", self._new_job()), timeout)[2])
            except ModelError as exc:
                self._info = exc
        if isinstance(self._info, ModelError):
            raise self._info
        return self._info

    def evict(self, spec: ModelSpec) -> None:
        if self._proc is not None:
            self._request(("evict", self._new_job(), _spec_dict(spec)))

    @property
    def worker_pid(self) -> int | None:
        return None if self._proc is None else int(self._proc.pid)

    def restart(self) -> None:
        """End the worker at once (a hung one does not read "stop"); its jobs fail and the
        next call starts a new worker."""
        with self._lock:
            proc = self._proc
            self._proc = self._conn = None
        if proc is None:
            return
        proc.kill()
        proc.join(timeout=10)

    def close(self) -> None:
        with self._lock:
            proc, conn = self._proc, self._conn
            self._proc = self._conn = None
        if proc is None:
            return
        try:
            conn.send(("stop",))
        except (OSError, ValueError):
            pass
        proc.join(timeout=10)
        if proc.is_alive():
            proc.terminate()
            proc.join(timeout=5)
        conn.close()
        proc.close()

    # -- generating ---------------------------------------------------------------------

    def start(self, spec: ModelSpec, messages: list[Message],
              params: GenerationParams = GenerationParams(),
              on_token: TokenCallback | None = None) -> Generation:
        """Queue a chat completion in the worker and return its handle at once."""
        job = self._new_job()
        handle = Generation(lambda: self._cancel(job))
        self._jobs[job] = (handle, spec, params, on_token)
        params_dict = {**params.as_dict(), "json_schema": params.json_schema}
        try:
            self._send(("generate", job, _spec_dict(spec), messages, params_dict,
                        time.time() + params.timeout_s))
        except (OSError, ValueError) as exc:
            self._jobs.pop(job, None)
            raise ModelError(f"could not reach the model worker: {exc}") from exc
        return handle

    def _cancel(self, job: int) -> None:
        if job in self._jobs:
            try:
                self._send(("cancel", job))
            except (OSError, ValueError):
                pass

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


def _spec_dict(spec: ModelSpec) -> dict[str, Any]:
    return {"path": str(spec.path), "sha256": spec.sha256, "n_ctx": spec.n_ctx,
            "n_threads": spec.n_threads, "seed": spec.seed}


def _rebuild_error(name: str, message: str) -> ModelError:
    """The worker's exception, as the same local_models error class where there is one."""
    from local_models import errors

    cls = getattr(errors, name, None)
    if not (isinstance(cls, type) and issubclass(cls, ModelError)):
        return ModelError(f"model worker failed ({name}): {message}")
    exc = cls.__new__(cls)
    Exception.__init__(exc, message)
    return exc


_DEFAULT: ModelRuntime | None = None
_DEFAULT_LOCK = threading.Lock()


def default_runtime() -> ModelRuntime:
    """The process-wide runtime, so every caller shares loaded models and their KV caches."""
    global _DEFAULT
    with _DEFAULT_LOCK:
        if _DEFAULT is None:
            _DEFAULT = ModelRuntime()
            # Stop the worker before the interpreter finalizes: left to multiprocessing's
            # own exit hook, the worker is killed while this process is tearing down, and
            # the reader thread woke up to run Python code during finalization.
            atexit.register(_DEFAULT.close)
        return _DEFAULT
