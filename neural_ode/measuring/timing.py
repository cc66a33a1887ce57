"""Wall-time statistics of repeated runs: median with its spread, CUDA synchronised."""

from __future__ import annotations

import gc
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

    @classmethod
    def of(cls, samples_s: list[float]) -> TimingStats:
        """Median, interquartile range, min and max of ``samples_s``."""
        if len(samples_s) >= 2:
            q1, _, q3 = statistics.quantiles(samples_s, n=4, method="inclusive")
        else:
            q1 = q3 = samples_s[0]
        return cls(statistics.median(samples_s), q3 - q1, min(samples_s), max(samples_s), len(samples_s))


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
