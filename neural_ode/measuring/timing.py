"""Wall-time statistics of repeated runs: median with its spread, CUDA synchronised."""

from __future__ import annotations

import gc
import os
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class TimingStats:
    """Summary of repeated timings, all in seconds."""

    median_s: float
    iqr_s: float
    min_s: float
    max_s: float
    repeats: int
    #: every repeat's time, in the order measured (kept for statistical comparisons)
    samples_s: tuple[float, ...] = ()

    @classmethod
    def of(cls, samples_s: list[float]) -> TimingStats:
        """Median, interquartile range, min and max of ``samples_s``, and the samples."""
        if len(samples_s) >= 2:
            q1, _, q3 = statistics.quantiles(samples_s, n=4, method="inclusive")
        else:
            q1 = q3 = samples_s[0]
        return cls(
            statistics.median(samples_s), q3 - q1, min(samples_s), max(samples_s), len(samples_s), tuple(samples_s)
        )


def synchronizer(device: torch.device | str) -> Callable[[], None]:
    """A function that waits for queued kernels on ``device`` (a no-op on CPU)."""
    if torch.device(device).type == "cuda":
        return lambda: torch.cuda.synchronize(device)
    return lambda: None


def time_forward_backward(
    forward: Callable[[], torch.Tensor],
    backward: Callable[[torch.Tensor], None],
    *,
    repeats: int,
    warmup: int,
    device: torch.device | str,
    between: Callable[[], None] = lambda: None,
) -> tuple[TimingStats, TimingStats]:
    """Time ``loss = forward()`` and ``backward(loss)`` separately, ``repeats`` times.

    ``warmup`` untimed rounds come first (the first adjoint backward in a process pays one-time
    set-up costs). The garbage collector is off inside the timed region; on CUDA both ends of
    each phase are synchronised. ``between()`` runs outside the timing after every round (to
    reset gradients, check a deadline).
    """
    sync = synchronizer(device)
    forward_s, backward_s = [], []
    gc_was_enabled = gc.isenabled()
    try:
        for round_ in range(warmup + repeats):
            gc.disable()
            sync()
            start = time.perf_counter()
            loss = forward()
            sync()
            middle = time.perf_counter()
            backward(loss)
            sync()
            end = time.perf_counter()
            if gc_was_enabled:
                gc.enable()
            del loss
            between()
            if round_ >= warmup:
                forward_s.append(middle - start)
                backward_s.append(end - middle)
    finally:
        if gc_was_enabled:
            gc.enable()
    return TimingStats.of(forward_s), TimingStats.of(backward_s)


def time_call(run: Callable[[], object], *, repeats: int, device: torch.device | str) -> TimingStats:
    """Time ``run()`` ``repeats`` times after one warm-up call."""
    sync = synchronizer(device)
    run()
    samples = []
    for _ in range(repeats):
        sync()
        start = time.perf_counter()
        run()
        sync()
        samples.append(time.perf_counter() - start)
    return TimingStats.of(samples)


def _busy_cpu_s() -> float | None:
    """CPU seconds all cores of the machine have spent busy since boot (Linux /proc/stat), None elsewhere."""
    try:
        with open("/proc/stat") as stat:
            fields = stat.readline().split()
    except OSError:
        return None
    if not fields or fields[0] != "cpu":
        return None
    ticks = [int(v) for v in fields[1:]]
    idle = ticks[3] + (ticks[4] if len(ticks) > 4 else 0)  # idle + iowait
    return (sum(ticks[:8]) - idle) / os.sysconf("SC_CLK_TCK")


class Contention:
    """How busy the rest of the machine was while a block ran: ``with Contention() as c: ...``.

    ``other_cores``: the average number of cores that processes other than this one kept busy
    (the machine's busy CPU time minus this process's, over the wall time). ``contended``: they
    left fewer cores free than the ``threads`` the measurement uses. None where the OS does not
    say (no /proc/stat).
    """

    def __init__(self, threads: int):
        self.threads = threads
        self.other_cores: float | None = None
        self.contended: bool | None = None

    def __enter__(self) -> Contention:
        self._busy, self._own, self._wall = _busy_cpu_s(), _own_cpu_s(), time.perf_counter()
        return self

    def __exit__(self, *exc) -> None:
        busy, wall = _busy_cpu_s(), time.perf_counter() - self._wall
        if busy is None or self._busy is None or wall <= 0:
            return
        other = max((busy - self._busy) - (_own_cpu_s() - self._own), 0.0)
        self.other_cores = other / wall
        cores = os.cpu_count() or 1
        self.contended = self.other_cores > cores - self.threads + 0.5


def _own_cpu_s() -> float:
    times = os.times()
    return times.user + times.system


#: the environment variable that sets torch's CPU threads in cell processes and benchmark suites
THREADS_VARIABLE = "NEURAL_ODE_BENCH_THREADS"


def apply_threads(environ=os.environ) -> int:
    """Set torch's intra-op CPU threads from ``$NEURAL_ODE_BENCH_THREADS`` (if set); the count in use.

    ``run --threads N`` sets the variable for its cell processes (presets pin 1: on a shared
    machine a second thread turns preemption into 100x slower percentiles); the ASV and
    pytest-benchmark suites honour it too. An invalid value raises ``ValueError`` naming it.
    """
    value = environ.get(THREADS_VARIABLE)
    if value:
        if not value.strip().isdigit() or int(value) < 1:
            raise ValueError(f"{THREADS_VARIABLE} must be a positive integer, got {value!r}")
        torch.set_num_threads(int(value))
    return torch.get_num_threads()
