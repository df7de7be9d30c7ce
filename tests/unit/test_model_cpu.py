"""Sharing the CPU: physical cores (hyper-threads count once), the default thread count,
the load other programs put on the machine, and the thread count that leaves them a core;
and the self-test's verdicts, judged from a generation or its error."""

from __future__ import annotations

import pytest

from local_models import cpu, selftest
from local_models.errors import GenerationTimeout, ModelError
from local_models.runtime import GenerationResult

HT_4C8T = "\n\n".join(
    f"processor\t: {i}\nmodel name\t: Intel(R) Core(TM) i5\nphysical id\t: 0\n"
    f"core id\t\t: {i % 4}\nflags\t\t: sse avx2" for i in range(8))
NO_TOPOLOGY = "processor\t: 0\nmodel name\t: ARM\n\nprocessor\t: 1\nmodel name\t: ARM"


def test_hyper_threads_count_once() -> None:
    assert cpu.physical_cores(HT_4C8T, set(range(8))) == 4
    assert cpu.physical_cores(HT_4C8T, {0, 4}) == 1  # two threads of one core
    assert cpu.physical_cores(HT_4C8T, {0, 1}) == 2


def test_without_topology_every_usable_cpu_counts() -> None:
    assert cpu.physical_cores(NO_TOPOLOGY, {0, 1}) == 2
    assert cpu.physical_cores("", {0, 1, 2}) == 3


@pytest.mark.parametrize("cores,threads", [(1, 1), (2, 2), (3, 2), (4, 3), (16, 15)])
def test_default_threads_leave_one_core_above_two(cores: int, threads: int) -> None:
    assert cpu.default_threads(cores) == threads


@pytest.mark.parametrize("wanted,busy,cores,expected", [
    (2, 0.0, 2, 2), (2, 0.3, 2, 2), (2, 0.6, 2, 1), (2, 1.0, 2, 1), (2, 2.0, 2, 1),
    (3, 1.0, 4, 3), (3, 2.2, 4, 2), (8, 0.0, 4, 4)])
def test_threads_follow_the_load(wanted: int, busy: float, cores: int, expected: int) -> None:
    assert cpu.threads_for_load(wanted, busy, cores) == expected


def test_other_programs_load_excludes_our_own() -> None:
    before = cpu.CpuTimes(busy=1000, total=4000, own=100, at=0.0)
    # 200 jiffies of 400 were busy, 100 of them ours: others used a quarter of the time
    after = cpu.CpuTimes(busy=1200, total=4400, own=200, at=1.0)
    assert cpu.others_busy_cores(before, after, 2) == pytest.approx(
        0.25 * (cpu.os.cpu_count() or 2))
    assert cpu.others_busy_cores(None, after, 2) == 0.0
    assert cpu.others_busy_cores(after, after, 2) == 0.0


def test_a_live_sample_reads_proc() -> None:
    first = cpu.sample()
    assert first is not None and first.total >= first.busy >= 0 and first.own >= 0


def test_fingerprint_follows_the_processor_not_the_cpu_count() -> None:
    one = cpu.cpu_fingerprint(HT_4C8T)
    assert one == cpu.cpu_fingerprint(HT_4C8T.replace("processor\t: 7", "processor\t: 9"))
    assert one != cpu.cpu_fingerprint(HT_4C8T.replace("avx2", "avx512f"))
    assert len(one) == 16


def _result(text: str, tokens: int, seconds: float, finish: str = "stop") -> GenerationResult:
    return GenerationResult(text=text, finish_reason=finish, prompt_tokens=20,
                            completion_tokens=tokens, duration_s=seconds + 0.1, ttft_s=0.1,
                            model_sha256="x")


def test_verdicts() -> None:
    good = "Please remember that a person reviews every draft before it is used."
    assert selftest.judge(_result(good, 15, 0.5), None).health is selftest.Health.HEALTHY
    slow = selftest.judge(_result(good, 15, 7.0), None, floor_tps=5)
    assert slow.health is selftest.Health.SLOW and "under the floor of 5" in slow.reason
    assert selftest.judge(_result(good, 15, 7.0), None, floor_tps=1).usable
    timed_out = selftest.judge(_result(good, 3, 60.0, "timeout"), None)
    assert timed_out.health is selftest.Health.BROKEN and "timed out" in timed_out.reason
    crash = selftest.judge(None, ModelError("the model worker stopped unexpectedly"))
    assert crash.health is selftest.Health.BROKEN and "stopped unexpectedly" in crash.reason
    hang = selftest.judge(None, GenerationTimeout("the generation did not finish in time"))
    assert "timed out" in hang.reason


@pytest.mark.parametrize("text,why", [
    ("", "no text"), ("   ", "no text"), ("#$%@" * 10, "mostly symbols"),
    ("\ufffd\ufffd ok", "not valid characters"), ("yes", "fewer than three words"),
    ("the the the the the the the the", "repeats one word")])
def test_garbage_is_broken(text: str, why: str) -> None:
    verdict = selftest.judge(_result(text, 10, 0.2), None)
    assert verdict.health is selftest.Health.BROKEN and why in verdict.reason
