"""Wall-time statistics of repeated runs: median with its spread and its 95 % interval, CUDA synchronised.

Timings are calibrated (:func:`time_forward_backward`): repeats go on until the 95 % confidence
interval of the median is within a relative half-width of it, or a time budget runs out, between
a minimum and a maximum count. The interval (:func:`median_interval`) is distribution-free: the
order statistics at the ranks the binomial(n, 1/2) quantiles give (asv's ``statistics.py`` does the
same at 99 %). Timings are skewed and heavy-tailed under load (preemption adds long repeats, never
short ones), so an interval that assumes a distribution (a t-interval on the mean) or resamples a
handful of repeats (a bootstrap of 6-10 samples has too few distinct medians) would misstate it;
the order-statistics interval needs only independent repeats and is exact in its coverage
(at least 95 %). It needs 6 repeats: with 5, even [min, max] covers the median with only
1 - 2/32 = 93.75 %.
"""

from __future__ import annotations

import gc
import math
import os
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass

import torch

#: the confidence of the median's interval
CONFIDENCE = 0.95
#: why calibrated repeats stopped (``time_stop`` of a record)
STOP_WIDTH, STOP_BUDGET, STOP_MAX, STOP_FIXED = "width", "budget", "max repeats", "fixed count"


def median_interval(samples, confidence: float = CONFIDENCE) -> tuple[float, float]:
    """The distribution-free ``confidence`` interval of the median of ``samples``: (low, high).

    The sorted samples' order statistics x_(k) and x_(n+1-k), with k the largest rank for which
    P(B <= k - 1) <= (1 - confidence) / 2, B ~ binomial(n, 1/2): the median lies below x_(k) only
    when fewer than k samples fall below it. Coverage is 1 - 2 P(B <= k - 1) >= ``confidence``
    (n = 10: k = 2, [x_(2), x_(9)], 97.9 %; n = 20: [x_(6), x_(15)], 95.9 %). (NaN, NaN) when n is
    too small for any interval to reach the confidence (n < 6 at 95 %).
    """
    values = sorted(float(s) for s in samples)
    n = len(values)
    tail = (1.0 - confidence) / 2.0
    k, below = 0, 0.0  # below: P(B <= k - 1), growing with k
    while k < n // 2:
        below_next = below + math.comb(n, k) / 2.0**n  # P(B <= k)
        if below_next > tail:
            break
        k, below = k + 1, below_next
    if k == 0:
        return math.nan, math.nan
    return values[k - 1], values[n - k]


def relative_halfwidth(median: float, low: float, high: float) -> float:
    """How far the interval [low, high] reaches from ``median``, relative to it: the interval lies
    within ±this of the median (NaN without an interval or a positive median)."""
    if not (median > 0) or not math.isfinite(low) or not math.isfinite(high):
        return math.nan
    return max(median - low, high - median) / median


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
    #: the 95 % interval of the median (:func:`median_interval`; NaN with fewer than 6 repeats)
    ci_low_s: float = math.nan
    ci_high_s: float = math.nan
    #: why the repeats stopped: ``width``, ``budget``, ``max repeats`` or ``fixed count``
    stopped_by: str = STOP_FIXED

    @classmethod
    def of(cls, samples_s: list[float], stopped_by: str = STOP_FIXED) -> TimingStats:
        """Median, interquartile range, min and max of ``samples_s``, the median's 95 % interval, and the samples."""
        if len(samples_s) >= 2:
            q1, _, q3 = statistics.quantiles(samples_s, n=4, method="inclusive")
        else:
            q1 = q3 = samples_s[0]
        low, high = median_interval(samples_s)
        return cls(
            statistics.median(samples_s), q3 - q1, min(samples_s), max(samples_s), len(samples_s), tuple(samples_s),
            low, high, stopped_by,
        )  # fmt: skip

    @property
    def halfwidth(self) -> float:
        """The interval's reach from the median, relative to it (:func:`relative_halfwidth`)."""
        return relative_halfwidth(self.median_s, self.ci_low_s, self.ci_high_s)

    def within(self, halfwidth: float) -> bool:
        """True when the median's 95 % interval lies within ±``halfwidth`` (relative) of the median."""
        return bool(self.halfwidth <= halfwidth)


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
    max_repeats: int | None = None,
    halfwidth: float = 0.05,
    budget_s: float = math.inf,
    clock: Callable[[], float] = time.perf_counter,
) -> tuple[TimingStats, TimingStats]:
    """Time ``loss = forward()`` and ``backward(loss)`` separately, calibrating the number of repeats.

    ``warmup`` untimed rounds come first (the first adjoint backward in a process pays one-time
    set-up costs). Then at least ``repeats`` timed rounds; while fewer than ``max_repeats`` were
    taken, the rounds go on until the 95 % interval of the median of the forward *and* of the
    backward times lies within ±``halfwidth`` of its median (stop ``width``), or ``budget_s``
    seconds have passed since the first timed round (``budget``), or ``max_repeats`` is reached
    (``max repeats``). ``max_repeats`` None or at most ``repeats``: exactly ``repeats`` rounds
    (``fixed count``). The garbage collector is off inside the timed region; on CUDA both ends of
    each phase are synchronised. ``between()`` runs outside the timing after every round (to
    reset gradients, check a deadline). ``clock``: the timer, seconds (a test passes its own).
    """
    sync = synchronizer(device)
    most = repeats if max_repeats is None else max(repeats, max_repeats)
    forward_s, backward_s = [], []
    gc_was_enabled = gc.isenabled()
    stopped_by = STOP_FIXED
    try:
        round_, started = 0, None
        while True:
            if round_ == warmup:
                started = clock()
            gc.disable()
            sync()
            start = clock()
            loss = forward()
            sync()
            middle = clock()
            backward(loss)
            sync()
            end = clock()
            if gc_was_enabled:
                gc.enable()
            del loss
            between()
            round_ += 1
            if round_ <= warmup:
                continue
            forward_s.append(middle - start)
            backward_s.append(end - middle)
            taken = len(forward_s)
            if taken < repeats:
                continue
            if most <= repeats:
                break
            if all(TimingStats.of(s).within(halfwidth) for s in (forward_s, backward_s)):
                stopped_by = STOP_WIDTH
                break
            if taken >= most:
                stopped_by = STOP_MAX
                break
            if clock() - started >= budget_s:
                stopped_by = STOP_BUDGET
                break
    finally:
        if gc_was_enabled:
            gc.enable()
    return TimingStats.of(forward_s, stopped_by), TimingStats.of(backward_s, stopped_by)


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
