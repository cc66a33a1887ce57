"""A cell's timed figures as record fields: the forward and backward timings, one bare evaluation.

Shared by the cell's own timed runs (:func:`neural_ode.measuring.cell.measure_cell`) and by the
interleaved timing of a group of cells (:mod:`neural_ode.measuring.grouped`).
"""

from __future__ import annotations

import math

import torch

from neural_ode.config import CellConfig
from neural_ode.measuring.counting import Deadline
from neural_ode.measuring.intervals import lag1_autocorrelation
from neural_ode.measuring.timing import Member, TimingStats, time_call
from neural_ode.results.schema import METRICS


def _timed_fields(name: str, timing) -> dict:
    """The median of ``timing`` under the timed metric ``name`` and its spread under the schema's
    spread fields (``time_forward_iqr_s``, ``_min_s``, ``_max_s``, ``_ci_low_s``, ``_ci_high_s``), in
    seconds; an interval that does not exist (fewer than 6 repeats, or withheld) is None."""
    iqr, low, high, ci_low, ci_high = METRICS[name].spread_fields
    return {name: timing.median_s, iqr: timing.iqr_s, low: timing.min_s, high: timing.max_s,
            ci_low: _finite(timing.ci_low_s), ci_high: _finite(timing.ci_high_s)}  # fmt: skip


def _finite(value: float) -> float | None:
    return value if math.isfinite(value) else None


def timing_member(step, deadline: Deadline) -> Member:
    """``step``'s forward and backward passes as one contender of :func:`time_rounds` (bare field,
    gradients reset and the deadline checked after every run)."""

    def between() -> None:
        step.zero_grad()
        deadline.check()

    return Member(step.forward, step.backward, between)


def timing_fields(config: CellConfig, forward: TimingStats, backward: TimingStats) -> dict:
    """The record's fields of a cell's forward and backward timings: medians, spreads, intervals,
    repeats (rounds), why that count, whether the intervals reached the target, and the samples."""
    fields = {**_timed_fields("time_forward_s", forward), **_timed_fields("time_backward_s", backward)}
    fields["time_repeats"] = forward.repeats
    fields["time_stop"] = forward.stopped_by
    fields["time_ci_reached"] = forward.within(config.ci_halfwidth) and backward.within(config.ci_halfwidth)
    correlations = [lag1_autocorrelation(t.samples_s) for t in (forward, backward)]
    fields["time_autocorrelation"] = _finite(max(correlations)) if all(map(math.isfinite, correlations)) else None
    fields["time_forward_samples_s"] = list(forward.samples_s)
    fields["time_backward_samples_s"] = list(backward.samples_s)
    return fields


def evaluation_fields(step, nfe_forward: int | None, forward_median_s: float) -> dict:
    """``time_eval_s`` (one bare vector-field evaluation, seconds) and ``solver_overhead``."""
    config = step.config
    field, t0 = step.problem.field, step.t[0]
    with torch.no_grad():
        y0 = step.problem.initial_state()

    # One sample = as many evaluations as the forward pass made, so that the floor and the forward
    # time are taken over the same span: on a shared CPU a single ~40 us call escapes the
    # preemption that a run of hundreds suffers, which biased the ratio up 2-3x under load.
    calls = nfe_forward or 1

    def evaluate() -> None:
        with torch.no_grad():
            for _ in range(calls):
                field(t0, y0)

    fields = {"time_eval_s": time_call(evaluate, repeats=config.repeats, device=config.device).median_s / calls}
    if nfe_forward:
        fields["solver_overhead"] = forward_median_s / (nfe_forward * fields["time_eval_s"])
    return fields
