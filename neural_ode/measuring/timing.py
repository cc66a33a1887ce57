"""Wall-time statistics of repeated runs: median with its spread and its 95 % interval, CUDA synchronised.

Timings are calibrated without biasing their interval (:func:`time_rounds`): a pilot of the fewest
repeats judges how many repeats bring the 95 % interval of the median within a relative
half-width of it (:func:`neural_ode.measuring.intervals.needed_repeats`), capped by a maximum and
a time budget; the pilot is then set aside and that many repeats are measured afresh, at a fixed
count. Stopping as soon as the interval looked narrow enough (the earlier rule) picked the runs
whose first repeats happened to agree, and their intervals covered 93 % with independent repeats
and a third at rho 0.9.

The interval (:func:`neural_ode.measuring.intervals.honest_median_interval`) is distribution-free,
the order statistics at the binomial(n, 1/2) ranks (asv's ``statistics.py`` does the same at
99 %), widened for the lag-1 autocorrelation of the repeats and withheld where they are too few or
too correlated to bound the median. Timings are skewed and heavy-tailed under load (preemption adds
long repeats, never short ones), so an interval that assumes a distribution (a t-interval on the
mean) or resamples a handful of repeats would misstate it. It needs 6 repeats: with 5, even
[min, max] covers the median with only 1 - 2/32 = 93.75 %.

Several cells of one problem are timed together, in rounds (:func:`time_rounds` with several
members): each round times every member once, in an order that turns between rounds, so that a
slow spell of the machine falls on all of them and their per-round ratios
(:func:`neural_ode.measuring.intervals.paired_ratio`) see through it.
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

from neural_ode.measuring.intervals import (  # noqa: F401 (median_interval, relative_halfwidth re-exported)
    CONFIDENCE,
    honest_median_interval,
    median_interval,
    needed_repeats,
    relative_halfwidth,
    variance_inflation,
)

#: the fewest repeats with a 95 % interval of the median: a calibrated count is never below it
MIN_INTERVAL_REPEATS = 6
#: why a calibrated cell took the count it took (``time_stop`` of a record): the count the width needs,
#: capped by the time budget or the maximum; or no calibration (a fixed count)
STOP_WIDTH, STOP_BUDGET, STOP_MAX, STOP_FIXED = "width", "budget", "max repeats", "fixed count"


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
    #: the 95 % interval of the median (:func:`honest_median_interval`; NaN with fewer than 6 repeats or
    #: repeats too correlated to bound it)
    ci_low_s: float = math.nan
    ci_high_s: float = math.nan
    #: why this count of repeats: ``width``, ``budget``, ``max repeats`` or ``fixed count``
    stopped_by: str = STOP_FIXED

    @classmethod
    def of(cls, samples_s: list[float], stopped_by: str = STOP_FIXED) -> TimingStats:
        """Median, interquartile range, min and max of ``samples_s``, the median's 95 % interval, and the samples."""
        if len(samples_s) >= 2:
            q1, _, q3 = statistics.quantiles(samples_s, n=4, method="inclusive")
        else:
            q1 = q3 = samples_s[0]
        low, high = honest_median_interval(samples_s)
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


@dataclass(frozen=True)
class Member:
    """One contender of a round: ``loss = forward()`` and ``backward(loss)`` are timed separately;
    ``between()`` runs untimed after each of its runs (to reset gradients, check a deadline)."""

    forward: Callable[[], torch.Tensor]
    backward: Callable[[torch.Tensor], None]
    between: Callable[[], None] = lambda: None


def round_order(members: int, round_: int) -> list[int]:
    """The order in which round ``round_`` (from 0) times ``members`` contenders: the members turned
    by ``round_ // 2`` places, and reversed in odd rounds, so each takes each position and follows
    each other member before and after it alike (two members: AB BA BA AB ...)."""
    shift = (round_ // 2) % max(members, 1)
    order = [(i + shift) % members for i in range(members)]
    return order[::-1] if round_ % 2 else order


def time_rounds(
    members: list[Member],
    *,
    repeats: int,
    warmup: int,
    device: torch.device | str,
    max_repeats: int | None = None,
    halfwidth: float = 0.05,
    budget_s: float = math.inf,
    clock: Callable[[], float] = time.perf_counter,
) -> list[tuple[TimingStats, TimingStats]]:
    """Time ``members`` in interleaved rounds; per member its forward and backward :class:`TimingStats`.

    Each member first runs ``warmup`` untimed rounds of its own (the first adjoint backward in a
    process pays one-time set-up costs). Each timed round then times every member once, in the
    order of :func:`round_order`, so every member's i-th sample comes from round i (what
    :func:`neural_ode.measuring.intervals.paired_ratio` pairs).

    Calibration (``max_repeats`` above ``repeats``): a pilot of ``repeats`` rounds gives the count
    the width needs (the most any member's forward or backward time needs for its 95 % interval to
    lie within ±``halfwidth`` of its median: :func:`needed_repeats`), at least ``repeats`` and
    :data:`MIN_INTERVAL_REPEATS`, capped by
    ``max_repeats`` and by as many rounds as ``budget_s`` seconds hold at the pilot's pace; the pilot
    is set aside and that many rounds are measured afresh (a fixed count: the stopping rule cannot
    bias the interval). Without calibration: ``repeats`` rounds (``fixed count``). The garbage
    collector is off inside the timed regions; on CUDA both ends of each phase are synchronised.
    ``clock``: the timer, seconds (a test passes its own).
    """
    sync = synchronizer(device)
    gc_was_enabled = gc.isenabled()

    def one(member: Member) -> tuple[float, float]:
        gc.disable()
        sync()
        start = clock()
        loss = member.forward()
        sync()
        middle = clock()
        member.backward(loss)
        sync()
        end = clock()
        if gc_was_enabled:
            gc.enable()
        del loss
        member.between()
        return middle - start, end - middle

    def measure(rounds: int) -> list[tuple[list[float], list[float]]]:
        taken = [([], []) for _ in members]
        for round_ in range(rounds):
            for index in round_order(len(members), round_):
                forward_s, backward_s = one(members[index])
                taken[index][0].append(forward_s)
                taken[index][1].append(backward_s)
        return taken

    try:
        for member in members:
            for _ in range(warmup):
                one(member)
        count, stopped_by = repeats, STOP_FIXED
        if max_repeats is not None and max_repeats > repeats:
            pilot = measure(repeats)
            needed = max(needed_repeats(series, halfwidth) for both in pilot for series in both)
            round_s = sum(sum(f) + sum(b) for f, b in pilot) / repeats
            affordable = math.floor(budget_s / round_s) if round_s > 0 and math.isfinite(budget_s) else math.inf
            count, stopped_by = max(needed, repeats, MIN_INTERVAL_REPEATS), STOP_WIDTH
            if count > max_repeats:
                count, stopped_by = max_repeats, STOP_MAX
            if count > affordable:
                count, stopped_by = max(repeats, affordable), STOP_BUDGET
        taken = measure(count)
    finally:
        if gc_was_enabled:
            gc.enable()
    return [(TimingStats.of(f, stopped_by), TimingStats.of(b, stopped_by)) for f, b in taken]


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
    """Time ``loss = forward()`` and ``backward(loss)`` separately: :func:`time_rounds` of one member.

    ``warmup`` untimed rounds, then ``repeats`` timed ones, or with ``max_repeats`` above ``repeats``
    a pilot of ``repeats`` rounds, set aside, and the count it calls for measured afresh (see
    :func:`time_rounds`: the width, the budget ``budget_s`` seconds and ``max_repeats`` decide it).
    ``between()`` runs outside the timing after every round (to reset gradients, check a deadline).
    """
    member = Member(forward, backward, between)
    settings = {"max_repeats": max_repeats, "halfwidth": halfwidth, "budget_s": budget_s, "clock": clock}
    ((forward_stats, backward_stats),) = time_rounds(
        [member], repeats=repeats, warmup=warmup, device=device, **settings
    )
    return forward_stats, backward_stats


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

