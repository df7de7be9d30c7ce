"""The model worker process: owns every Llama object and runs generations on its own main
thread, streaming tokens back over a pipe.

Why a process and not a thread: llama.cpp here is built with OpenMP, and with 2 threads a
generation driven from a non-initial thread of a process ran at about 80 tokens/s against
about 120 from the initial thread (measured on this 2-core machine, SmolLM2 135M, both
interleaved in one run). In its own process the generation runs on that process's main
thread at full speed, and the app's threads (the GUI's included) never contend with it.

Messages in (tuples): ("load", job, spec), ("generate", job, spec, messages, params,
deadline), ("reset", job, spec), ("evict", job, spec), ("cancel", job), ("stop",).
Messages out: ("token", job, text), ("done", job, result), ("loaded", job, info),
("ok", job), ("error", job, class name, message).
Deadlines are wall-clock (time.time()) so they mean the same in both processes.
"""

from __future__ import annotations

import collections
import signal
import time
from pathlib import Path
from typing import Any

from local_models.errors import ModelFileError
from local_models.registry import check_gguf_header, verify_file


def _key(spec: dict[str, Any]) -> tuple[str, str, int, int]:
    return (str(Path(spec["path"]).resolve()), spec["sha256"], int(spec["n_ctx"]),
            int(spec["n_threads"]))


class _Server:
    def __init__(self, conn: Any) -> None:
        self.conn = conn
        self.models: dict[tuple[str, str, int, int], Any] = {}
        self.pending: collections.deque[tuple[Any, ...]] = collections.deque()
        self.cancelled: set[int] = set()

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
        import llama_cpp

        check_gguf_header(Path(spec["path"]))
        started = time.monotonic()
        try:
            llm = llama_cpp.Llama(model_path=str(spec["path"]), n_ctx=int(spec["n_ctx"]),
                                  n_threads=int(spec["n_threads"]),
                                  n_threads_batch=int(spec["n_threads"]),
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

    def generate(self, job: int, spec: dict[str, Any], messages: list[dict[str, str]],
                 params: dict[str, Any], deadline: float) -> dict[str, Any]:
        llm, _cached, _load_s = self.llm(spec)
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
        try:
            for chunk in stream:
                choice = chunk["choices"][0]
                piece = choice.get("delta", {}).get("content") or ""
                if piece:
                    if ttft is None:
                        ttft = time.monotonic() - started
                    count += 1
                    pieces.append(piece)
                    self.conn.send(("token", job, piece))
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
        return {"text": "".join(pieces), "finish_reason": finish,
                "prompt_tokens": max(0, int(llm.n_tokens) - count), "completion_tokens": count,
                "duration_s": time.monotonic() - started, "ttft_s": ttft}

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
        for llm in self.models.values():
            llm.close()


def serve(conn: Any) -> None:
    """The worker's entry point (multiprocessing spawn target)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    try:
        _Server(conn).run()
    except EOFError:  # the parent went away
        pass
    finally:
        conn.close()
