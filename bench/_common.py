"""Shared helpers for benchmarks: every figure is a ratio against a baseline in the same run,
printed as `bench NAME VALUE target OP LIMIT`."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Callable

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


def best_of(n: int, fn: Callable[[], object]) -> float:
    """Best wall time of n runs (seconds): the least disturbed by the other core's load."""
    times = []
    for _ in range(n):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def report(name: str, value: float, op: str, limit: float, note: str = "") -> None:
    ok = value <= limit if op == "<=" else value >= limit
    print(f"bench {name} {value:.3f} target {op} {limit}" + (f"  # {note}" if note else ""),
          flush=True)
    if not ok:
        print(f"  ({name} misses its target)", file=sys.stderr)
