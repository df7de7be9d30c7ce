"""The model worker process: owns every Llama object and runs generations on its own main
thread, streaming tokens back over a pipe.

Why a process and not a thread: llama.cpp here is built with OpenMP, and with 2 threads a
generation driven from a non-initial thread of a process ran at about 80 tokens/s against
about 120 from the initial thread (measured on this 2-core machine, SmolLM2 135M, both
interleaved in one run). In its own process the generation runs on that process's main
thread at full speed, and the app's threads (the GUI's included) never contend with it.

It is also the only process that ever loads llama.cpp: reading a GGUF's metadata goes
through it too ("inspect"), so a native crash (a bad kernel, a hostile file) ends this
process and fails one call, never the app.

Sharing the CPU: the thread count follows the load the other programs put on the machine
(local_models.cpu), checked before each generation and every few tokens.

Messages in (tuples): ("load", job, spec), ("generate", job, spec, messages, params,
deadline), ("reset", job, spec), ("evict", job, spec), ("inspect", job, path),
("info", job), ("cancel", job), ("stop",).
Messages out: ("token", job, text), ("done", job, result), ("loaded", job, info),
("ok", job), ("inspected", job, metadata), ("info", job, info),
("error", job, class name, message).
Deadlines are wall-clock (time.time()) so they mean the same in both processes.
"""

from __future__ import annotations

import collections
import os
import signal
import threading
import time
from pathlib import Path
from typing import Any

from local_models import cpu
from local_models.errors import ModelFileError
from local_models.registry import check_gguf_header, verify_file

# Set in the worker before llama.cpp loads. Our build uses ggml's own thread pool, not
# OpenMP (installer/LLAMA.md); should an OpenMP build be installed, its idle threads must
# sleep rather than spin on a core another program needs.
WORKER_ENV = {"OMP_WAIT_POLICY": "PASSIVE"}
RETHREAD_EVERY_TOKENS = 8  # how often a generation re-checks the load
# Tokens reach the parent in batches at most this often (the first one at once): one
# message per token woke the parent's reader and consumer ~150 times a second, and on a
# 2-core machine that time came out of llama.cpp's own threads (measured: app/raw 0.92
# per token, see bench/llm.py). 30 ms still streams smoothly to the screen.
STREAM_INTERVAL_S = 0.03


class LoadWatch:
    """Samples how busy the other programs keep the machine, every `period` seconds, on a
    daemon thread (it sleeps between reads of /proc, so it costs nothing measurable)."""

    def __init__(self, period: float = 0.25) -> None:
        self.period = period
        self.cores = cpu.physical_cores()
        self.busy_cores = 0.0
        self._last = cpu.sample()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="offhold-load-watch",
                                         daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self.period):
            now = cpu.sample()
            busy = cpu.others_busy_cores(self._last, now, self.cores)
            # a light smoothing so one noisy window does not flip the thread count
            self.busy_cores = 0.5 * self.busy_cores + 0.5 * busy
            self._last = now

    def threads(self, wanted: int) -> int:
        return cpu.threads_for_load(wanted, self.busy_cores, self.cores)

    def stop(self) -> None:
        self._stop.set()


def wanted_threads(spec: dict[str, Any]) -> int:
    """The spec's thread count, 0 meaning the machine's default."""
    n = int(spec.get("n_threads") or 0)
    return n if n > 0 else cpu.default_threads()


def _key(spec: dict[str, Any]) -> tuple[str, str, int, int]:
    return (str(Path(spec["path"]).resolve()), spec["sha256"], int(spec["n_ctx"]),
            int(spec["n_threads"]))


class _Server:
    def __init__(self, conn: Any) -> None:
        self.conn = conn
        self.models: dict[tuple[str, str, int, int], Any] = {}
        self.pending: collections.deque[tuple[Any, ...]] = collections.deque()
        self.cancelled: set[int] = set()
        self.load_watch = LoadWatch()

    def llm(self, spec: dict[str, Any]) -> tuple[Any, bool, float]:
        """The cached Llama for a spec; the file's hash is checked before every use (the
        hash is cached per file size and mtime, so that usually costs a stat)."""
        key = _key(spec)
        try:
            verify_file(Path(spec["path"]), spec["sha256"])
        except Exception:
            old = self.models.pop(key, None)
            if old is not None:
                old.close()
            raise
        if key in self.models:
            return self.models[key], True, 0.0
        llama_cpp = _import_llama()

        check_gguf_header(Path(spec["path"]))
        started = time.monotonic()
        threads = wanted_threads(spec)
        try:
            llm = llama_cpp.Llama(model_path=str(spec["path"]), n_ctx=int(spec["n_ctx"]),
                                  n_threads=threads, n_threads_batch=threads,
                                  seed=int(spec["seed"]), verbose=False)
        except (ValueError, RuntimeError) as exc:
            raise ModelFileError(f"llama.cpp could not load {spec['path']}: {exc}") from exc
        self.models[key] = llm
        return llm, False, time.monotonic() - started

    def poll_control(self) -> None:
        """Between tokens: note cancellations; keep other requests for later."""
        while self.conn.poll():
            msg = self.conn.recv()
            if msg[0] == "cancel":
                self.cancelled.add(int(msg[1]))
            else:
                self.pending.append(msg)

    def set_threads(self, llm: Any, wanted: int) -> int:
        """Give llama.cpp as many threads as there are cores the other programs leave
        free (never more than wanted); returns the count in force."""
        import llama_cpp

        threads = self.load_watch.threads(wanted)
        if threads != getattr(llm, "_offhold_threads", None):
            llama_cpp.llama_set_n_threads(llm._ctx.ctx, threads, threads)
            llm._offhold_threads = threads
        return threads

    def generate(self, job: int, spec: dict[str, Any], messages: list[dict[str, str]],
                 params: dict[str, Any], deadline: float) -> dict[str, Any]:
        llm, _cached, _load_s = self.llm(spec)
        wanted = wanted_threads(spec)
        threads_used = {self.set_threads(llm, wanted)}
        kwargs: dict[str, Any] = dict(
            messages=messages, stream=True, max_tokens=params["max_tokens"],
            temperature=params["temperature"], top_p=params["top_p"],
            repeat_penalty=params["repeat_penalty"], seed=int(spec["seed"]))
        if params.get("json_schema") is not None:
            kwargs["response_format"] = {"type": "json_object", "schema": params["json_schema"]}
        started = time.monotonic()
        ttft: float | None = None
        count = 0
        finish = "stop"
        # create_chat_completion takes no stopping criteria; the stream yields once per
        # token, so cancellation and the deadline are checked between tokens. llama.cpp
        # cannot interrupt the prompt evaluation itself.
        stream = llm.create_chat_completion(**kwargs)
        pieces: list[str] = []
        unsent: list[str] = []
        last_sent = 0.0
        try:
            for chunk in stream:
                choice = chunk["choices"][0]
                piece = choice.get("delta", {}).get("content") or ""
                if piece:
                    now = time.monotonic()
                    if ttft is None:
                        ttft = now - started
                    count += 1
                    pieces.append(piece)
                    unsent.append(piece)
                    if count == 1 or now - last_sent >= STREAM_INTERVAL_S:
                        self.conn.send(("token", job, "".join(unsent)))
                        unsent.clear()
                        last_sent = now
                    if count % RETHREAD_EVERY_TOKENS == 0:
                        threads_used.add(self.set_threads(llm, wanted))
                if choice.get("finish_reason"):
                    finish = str(choice["finish_reason"])
                self.poll_control()
                if job in self.cancelled:
                    finish = "cancelled"
                    break
                if time.time() > deadline:
                    finish = "timeout"
                    break
        finally:
            stream.close()
        if unsent:
            self.conn.send(("token", job, "".join(unsent)))
        return {"text": "".join(pieces), "finish_reason": finish,
                "prompt_tokens": max(0, int(llm.n_tokens) - count), "completion_tokens": count,
                "duration_s": time.monotonic() - started, "ttft_s": ttft,
                "threads": sorted(threads_used)}

    def handle(self, msg: tuple[Any, ...]) -> bool:
        kind = msg[0]
        if kind == "stop":
            return False
        if kind == "cancel":
            self.cancelled.add(int(msg[1]))
            return True
        job = int(msg[1])
        try:
            if kind == "generate":
                _, _, spec, messages, params, deadline = msg
                if job in self.cancelled or time.time() > deadline:
                    reason = "cancelled" if job in self.cancelled else "timeout"
                    out = {"text": "", "finish_reason": reason, "prompt_tokens": 0,
                           "completion_tokens": 0, "duration_s": 0.0, "ttft_s": None}
                else:
                    out = self.generate(job, spec, messages, params, deadline)
                self.conn.send(("done", job, out))
            elif kind == "load":
                _llm, cached, load_s = self.llm(msg[2])
                self.conn.send(("loaded", job, {"cached": cached, "load_s": load_s}))
            elif kind == "inspect":
                self.conn.send(("inspected", job, read_metadata(Path(msg[2]))))
            elif kind == "info":
                self.conn.send(("info", job, runtime_info()))
            elif kind == "reset":
                key = _key(msg[2])
                if key in self.models:
                    self.models[key].reset()
                self.conn.send(("ok", job))
            elif kind == "evict":
                old = self.models.pop(_key(msg[2]), None)
                if old is not None:
                    old.close()
                self.conn.send(("ok", job))
        except Exception as exc:  # reported to the caller, which raises it
            self.conn.send(("error", job, type(exc).__name__, str(exc)))
        finally:
            self.cancelled.discard(job)
        return True

    def run(self) -> None:
        while True:
            msg = self.pending.popleft() if self.pending else self.conn.recv()
            if not self.handle(msg):
                break
        self.load_watch.stop()
        for llm in self.models.values():
            llm.close()


_QUIET_LOG: Any = None


def _import_llama() -> Any:
    """llama_cpp, with its native log silenced: llama.cpp's log lines would reach the
    user's terminal (and at debug level can echo prompt text)."""
    global _QUIET_LOG
    import ctypes

    import llama_cpp

    if _QUIET_LOG is None:
        _QUIET_LOG = llama_cpp.llama_log_callback(lambda _level, _text, _data: None)
        llama_cpp.llama_log_set(_QUIET_LOG, ctypes.c_void_p(0))
    return llama_cpp


def read_metadata(path: Path) -> dict[str, str]:
    """GGUF key/value metadata, read by llama.cpp itself with vocab_only (no weights)."""
    llama_cpp = _import_llama()

    check_gguf_header(path)
    try:
        llm = llama_cpp.Llama(model_path=str(path), vocab_only=True, verbose=False)
    except (ValueError, RuntimeError) as exc:
        raise ModelFileError(f"llama.cpp could not read {path}: {exc}") from exc
    try:
        return {str(k): str(v) for k, v in llm.metadata.items()}
    finally:
        llm.close()


def runtime_info() -> dict[str, Any]:
    """What this runtime is: the llama-cpp-python version, the CPU features its build
    uses, the processor's fingerprint, and the thread counts it would choose."""
    llama_cpp = _import_llama()

    system_info = llama_cpp.llama_print_system_info().decode("utf-8", "replace").strip()
    return {"llama_cpp_version": str(llama_cpp.__version__), "system_info": system_info,
            "cpu_fingerprint": cpu.cpu_fingerprint(), "physical_cores": cpu.physical_cores(),
            "default_threads": cpu.default_threads(),
            "env": {k: os.environ.get(k, "") for k in WORKER_ENV}}


def prepare_environment() -> None:
    """Before llama.cpp loads: the settings above, whatever the parent's environment says
    (an inherited OMP_WAIT_POLICY=ACTIVE would have idle threads spin)."""
    os.environ.update(WORKER_ENV)


def serve(conn: Any) -> None:
    """The worker's entry point (multiprocessing spawn target)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    prepare_environment()
    try:
        _Server(conn).run()
    except EOFError:  # the parent went away
        pass
    finally:
        conn.close()
