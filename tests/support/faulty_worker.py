"""Model workers made to fail, for the runtime's self-test and crash tests. Each wraps the
real worker (local_models.worker) and breaks only the generation: `info`, `inspect` and
`load` behave as in production, so the same parent code path is exercised.

Passed to ModelRuntime(worker_entry="tests.support.faulty_worker:serve_crash") etc.
"""

from __future__ import annotations

import ctypes
import time
from typing import Any

from local_models import worker

SLOW_TOKEN_DELAY_S = 0.5  # 2 tokens/s: under the default floor of 5


class _CrashingServer(worker._Server):
    def generate(self, *args: Any, **kwargs: Any) -> dict[str, Any]:
        ctypes.string_at(0)  # a real segmentation fault, in native code
        raise AssertionError("unreachable")


class _HangingServer(worker._Server):
    def generate(self, *args: Any, **kwargs: Any) -> dict[str, Any]:
        time.sleep(3600)  # as if llama.cpp never left the prompt evaluation
        raise AssertionError("unreachable")


class _SlowConn:
    """The pipe, with a pause before every token, as on a starved CPU."""

    def __init__(self, conn: Any) -> None:
        self._conn = conn

    def send(self, msg: tuple[Any, ...]) -> None:
        if msg[0] == "token":
            time.sleep(SLOW_TOKEN_DELAY_S)
        self._conn.send(msg)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._conn, name)


class _SlowServer(worker._Server):
    def generate(self, *args: Any, **kwargs: Any) -> dict[str, Any]:
        real, self.conn = self.conn, _SlowConn(self.conn)
        try:
            return super().generate(*args, **kwargs)
        finally:
            self.conn = real


class _GarbageServer(worker._Server):
    def generate(self, job: int, spec: dict[str, Any], messages: Any, params: Any,
                 deadline: float) -> dict[str, Any]:
        text = "#$%@" * 12
        for ch in text:
            self.conn.send(("token", job, ch))
        return {"text": text, "finish_reason": "length", "prompt_tokens": 10,
                "completion_tokens": len(text), "duration_s": 0.05, "ttft_s": 0.01,
                "threads": [1]}


def _serve(server_class: type[worker._Server], conn: Any) -> None:
    worker.prepare_environment()
    try:
        server_class(conn).run()
    except EOFError:
        pass
    finally:
        conn.close()


def serve_crash(conn: Any) -> None:
    _serve(_CrashingServer, conn)


def serve_hang(conn: Any) -> None:
    _serve(_HangingServer, conn)


def serve_slow(conn: Any) -> None:
    _serve(_SlowServer, conn)


def serve_garbage(conn: Any) -> None:
    _serve(_GarbageServer, conn)
