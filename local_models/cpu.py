"""The CPU the model shares with the practice's other programs: physical cores, how busy
the other programs keep them, and a fingerprint of the processor for the self-test.

Why the thread count follows the load: llama.cpp's threads meet at a barrier after every
operation. When one of them has no core (another program is busy), the others wait at
every barrier for a scheduler slice. Measured on a 2-core machine with one busy process
beside it: 2 threads ran at 38-81 tokens/s, 1 thread at 145-150; idle, 2 threads ran at
171-174 and 1 at 144-151 (installer/LLAMA.md). So the worker asks for as many threads as
there are cores the other programs leave free, rechecked while it generates (worker.py).
"""

from __future__ import annotations

import hashlib
import os
import time
from dataclasses import dataclass
from pathlib import Path

CPUINFO = Path("/proc/cpuinfo")
PROC_STAT = Path("/proc/stat")


def usable_cpus() -> set[int]:
    """Logical CPUs this process may run on (its affinity mask)."""
    try:
        return set(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return set(range(os.cpu_count() or 1))


def physical_cores(cpuinfo: str | None = None, cpus: set[int] | None = None) -> int:
    """Physical cores among the usable logical CPUs: hyper-threads of one core count once,
    because llama.cpp's matrix kernels gain nothing from a core's second thread."""
    cpus = usable_cpus() if cpus is None else cpus
    if cpuinfo is None:
        try:
            cpuinfo = CPUINFO.read_text(errors="replace")
        except OSError:
            return max(1, len(cpus))
    cores: set[tuple[str, str]] = set()
    seen_cpu = False
    for block in cpuinfo.split("\n\n"):
        fields: dict[str, str] = {}
        for line in block.splitlines():
            key, _, value = line.partition(":")
            fields[key.strip()] = value.strip()
        if "processor" not in fields or not fields["processor"].isdigit():
            continue
        seen_cpu = True
        if int(fields["processor"]) not in cpus:
            continue
        if "core id" not in fields:  # some VMs and non-x86 kernels omit the topology
            return max(1, len(cpus))
        cores.add((fields.get("physical id", "0"), fields["core id"]))
    if not seen_cpu or not cores:
        return max(1, len(cpus))
    return len(cores)


def default_threads(cores: int | None = None) -> int:
    """All physical cores on a 1-2 core machine; one left for the desktop app above that."""
    cores = physical_cores() if cores is None else cores
    return cores if cores <= 2 else cores - 1


def cpu_fingerprint(cpuinfo: str | None = None) -> str:
    """A short hash of the processor model and its feature flags: a self-test verdict
    holds for one build of the runtime on one kind of processor."""
    if cpuinfo is None:
        try:
            cpuinfo = CPUINFO.read_text(errors="replace")
        except OSError:
            cpuinfo = ""
    wanted = {"vendor_id", "model name", "flags", "Features", "CPU implementer", "CPU part"}
    first = cpuinfo.split("\n\n", 1)[0]
    kept = sorted(line.strip() for line in first.splitlines()
                  if line.partition(":")[0].strip() in wanted)
    return hashlib.sha256("\n".join(kept).encode()).hexdigest()[:16]


@dataclass(frozen=True)
class CpuTimes:
    """Jiffies since boot: all busy time on the machine, and this process's own."""

    busy: int
    total: int
    own: int
    at: float


def _own_jiffies() -> int:
    try:
        fields = Path("/proc/self/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return 0
    # after the command name: state is field 0; utime 11, stime 12 (0-based here)
    return int(fields[11]) + int(fields[12])


def sample() -> CpuTimes | None:
    """Read the machine's and this process's CPU time; None where /proc is missing."""
    try:
        first = PROC_STAT.read_text().split("\n", 1)[0].split()
    except OSError:
        return None
    if not first or first[0] != "cpu":
        return None
    values = [int(v) for v in first[1:]]
    idle = values[3] + (values[4] if len(values) > 4 else 0)  # idle + iowait
    total = sum(values[:8])
    return CpuTimes(busy=total - idle, total=total, own=_own_jiffies(), at=time.monotonic())


def others_busy_cores(before: CpuTimes | None, after: CpuTimes | None, cpus: int) -> float:
    """How many cores the other programs kept busy between two samples (0.0 when unknown).

    /proc/stat counts every CPU, our process included; our own time is subtracted."""
    if before is None or after is None:
        return 0.0
    total = after.total - before.total
    if total <= 0:
        return 0.0
    machine_cpus = max(1, os.cpu_count() or cpus)
    others = (after.busy - before.busy) - (after.own - before.own)
    return max(0.0, others / total * machine_cpus)


def threads_for_load(wanted: int, busy_cores: float, cores: int) -> int:
    """Threads that each get a core: the wanted count, less the cores others keep busy
    (a core counts as taken at half busy or more). Never fewer than one."""
    free = cores - int(busy_cores + 0.5)
    return max(1, min(wanted, free))
