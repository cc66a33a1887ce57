"""Calibrated timings and the round-off floor: deterministic facts (a fake clock, no wall-time thresholds)."""

from __future__ import annotations

import math

import pytest
import torch
import torchdiffeq
from scipy.stats import binom

from neural_ode.measuring.timing import (
    STOP_BUDGET,
    STOP_FIXED,
    STOP_MAX,
    STOP_WIDTH,
    TimingStats,
    median_interval,
    time_forward_backward,
)


def test_the_median_interval_is_the_order_statistics_at_the_binomial_quantiles():
    values = list(range(1, 21))  # x_(k) = k
    assert median_interval(values[:10]) == (2, 9)  # n = 10: P(B <= 1) = 11/1024 <= 2.5 % < P(B <= 2)
    assert median_interval(values) == (6, 15)  # n = 20: the textbook ranks 6 and 15
    assert median_interval(values[:6]) == (1, 6)  # n = 6: [min, max] covers 1 - 2/64 = 96.9 %
    assert all(math.isnan(v) for v in median_interval(values[:5]))  # n = 5: [min, max] covers only 93.75 %
    assert median_interval([3.0, 1.0, 2.0, 9.0, 5.0, 4.0, 7.0, 8.0, 6.0, 10.0]) == (2.0, 9.0)  # order does not matter
    for n in range(6, 80):  # against scipy's binomial quantile: rank k = ppf(2.5 %)
        k = int(binom.ppf(0.025, n, 0.5))
        k = k if binom.cdf(k - 1, n, 0.5) <= 0.025 else k - 1
        assert median_interval(range(1, n + 1)) == (k, n + 1 - k), n
        assert 1 - 2 * binom.cdf(k - 1, n, 0.5) >= 0.95


#: one unit of fake time: a power of two, so that sums and differences of the clock are exact
U = 2.0**-10


class FakeClock:
    """A clock that advances only when a timed phase says so: forward and backward take the next durations."""

    def __init__(self, durations):
        self.now, self.durations = 0.0, iter(durations)

    def __call__(self) -> float:
        return self.now

    def forward(self):
        self.now += next(self.durations)
        return torch.zeros(())

    def backward(self, loss):
        self.now += next(self.durations)


def _time(clock, **settings):
    return time_forward_backward(clock.forward, clock.backward, device="cpu", clock=clock, **settings)


def test_calibration_takes_the_count_the_pilot_calls_for_afresh_and_at_least_six():
    clock = FakeClock([U, 2 * U] * 1000)
    forward, backward = _time(clock, repeats=3, warmup=1, max_repeats=50, halfwidth=0.05, budget_s=math.inf)
    # identical samples need no more repeats; the interval exists from 6 on: a pilot of 3, then 6 afresh
    assert (forward.repeats, forward.stopped_by, backward.stopped_by) == (6, STOP_WIDTH, STOP_WIDTH)
    assert clock.now == (1 + 3 + 6) * 3 * U  # warm-up, pilot (set aside), the 6 measured rounds
    assert (forward.ci_low_s, forward.ci_high_s) == (U, U)
    assert (backward.median_s, backward.ci_low_s, backward.ci_high_s) == (2 * U, 2 * U, 2 * U)
    assert forward.within(0.05) and forward.halfwidth == 0.0


def test_calibration_on_noisy_samples_stops_at_max_repeats_or_at_the_budget():
    noisy = [U, U, 3 * U, U] * 1000  # forward alternates 1 and 3 units: never within 5 %
    forward, backward = _time(FakeClock(noisy), repeats=6, warmup=0, max_repeats=20, budget_s=math.inf)
    assert (forward.repeats, forward.stopped_by) == (20, STOP_MAX)
    assert not forward.within(0.05) and (forward.ci_low_s, forward.ci_high_s) == (U, 3 * U)
    assert backward.within(0.0)  # the backward phase alone would have stopped at 6
    # zero width meets any target before the budget
    forward, _ = _time(FakeClock([U, 2 * U] * 1000), repeats=6, warmup=1, max_repeats=1000, halfwidth=1e-9,
                       budget_s=30 * U)  # fmt: skip
    assert (forward.repeats, forward.stopped_by) == (6, STOP_WIDTH)
    # the pilot's 6 rounds take 3 units each on average: a budget of 30 units holds 10 rounds, measured afresh
    forward, backward = _time(FakeClock(noisy), repeats=6, warmup=1, max_repeats=1000, budget_s=30 * U)
    assert (forward.repeats, forward.stopped_by) == (10, STOP_BUDGET)
    assert sum(forward.samples_s) + sum(backward.samples_s) == 30 * U


def test_without_max_repeats_the_count_is_fixed_as_before():
    forward, backward = _time(FakeClock([0.001, 0.003] * 100), repeats=3, warmup=0)
    assert (forward.repeats, forward.stopped_by) == (3, STOP_FIXED)
    assert math.isnan(forward.ci_low_s) and not forward.within(0.05)  # 3 repeats: no 95 % interval
    assert TimingStats.of([1.0] * 6).within(0.0)


def test_repeats_alone_on_the_command_line_is_a_fixed_count_and_the_preset_calibrates():
    from neural_ode.commands.run import run_settings
    from neural_ode.sweeping.presets import PRESETS

    quick = PRESETS["quick"]
    assert run_settings({"repeats": "4"}, quick).max_repeats is None
    calibrated = run_settings({}, quick)
    assert (calibrated.repeats, calibrated.max_repeats, calibrated.ci_halfwidth, calibrated.time_budget_s) == (
        7, 50, 0.05, 2.0,
    )  # fmt: skip
    both = run_settings({"repeats": "8", "max_repeats": "30", "ci_halfwidth": "0.02", "time_budget": "2"}, quick)
    assert (both.repeats, both.max_repeats, both.ci_halfwidth, both.time_budget_s) == (8, 30, 0.02, 2.0)


def _direct_rk4(dtype, config, steps):
    """An independent float ``dtype`` solve of ``config``'s problem: torchdiffeq's rk4 on ``steps`` equal steps."""
    from neural_ode.workloads import workload_of

    problem = workload_of("mlp").build(config, dtype=dtype, device="cpu")
    grid = torch.linspace(0.0, 1.0, steps + 1, dtype=dtype)
    t = torch.tensor([0.0, 1.0], dtype=dtype)
    y1 = torchdiffeq.odeint(problem.field, problem.y0, t, method="rk4", options={"grid_constructor": lambda *_: grid})
    loss = (y1[-1] - problem.target).pow(2).mean()
    loss.backward()
    gradient = torch.cat([p.grad.reshape(-1).double() for p in problem.field.parameters()])
    return y1[-1].detach().double(), gradient


def test_the_round_off_floor_is_the_distance_from_the_same_grid_in_float64():
    from neural_ode.config import CellConfig
    from neural_ode.measuring.cell import measure_cell

    config = CellConfig(workload="mlp", method="direct", solver="rk4", steps=4, batch=8, width=16, dim=4)
    record = measure_cell(config, rss="skip", reference=False, peak=False, timing=False)
    assert record.status == "ok", record.error
    (y32, g32), (y64, g64) = _direct_rk4(torch.float32, config, 4), _direct_rk4(torch.float64, config, 4)
    expected_grad = float((g32 - g64).norm() / g64.norm())
    expected_sol = float((y32 - y64).norm() / y64.norm())
    assert 1e-9 < expected_grad < 1e-5  # float32 rounding, not truncation
    assert record.grad_roundoff_floor == pytest.approx(expected_grad, rel=1e-6)
    assert record.sol_roundoff_floor == pytest.approx(expected_sol, rel=1e-6)
    wide = measure_cell(config.replace(dtype="float64"), rss="skip", reference=False, peak=False, timing=False)
    assert wide.grad_roundoff_floor is None and wide.sol_roundoff_floor is None
