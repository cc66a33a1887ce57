"""Side-by-side speed of the lean core and of the gradient methods against torchdiffeq.

Times, interleaved round-robin in one process (so machine noise hits every contender alike),
and prints medians with their interquartile ranges and the ratios the issue asks about:

1. the solver's own cost on a small model (state 2, hidden 50, batch 16; MEASURING.md):
   ``bare`` = 4N bare evaluations of the vector field under no_grad (the floor),
   ``torchdiffeq`` = ``odeint(method="rk4")`` over N steps under no_grad,
   ``lean`` = the lean fixed-grid core's RK4 over N steps under no_grad (grid built per call);
2. forward+backward of every gradient method in ``METHODS`` with RK4 and equal steps, on the
   small MLP and on the default one (state 64, hidden 256, batch 256), through the measuring
   core's :class:`~neural_ode.measuring.cell.GradientPass` (the same code every front end runs).

Usage::

    PYTHONPATH=. python scripts/compare_solver_speed.py --repeats 30 --threads 1
"""

from __future__ import annotations

import argparse
import gc
import statistics
import time

import torch
import torchdiffeq

from neural_ode import METHODS, CellConfig
from neural_ode.integrators import FIXED_TABLEAUX, Stepper, fixed_grid, integrate
from neural_ode.measuring.cell import build_pass, solver_options

SMALL = {"batch": 16, "width": 50, "dim": 2}
LARGE = {"batch": 256, "width": 256, "dim": 64}


def interleaved(contenders: dict, repeats: int, warmup: int = 2) -> dict[str, list[float]]:
    """Wall times (s) of each contender, ``repeats`` rounds, one call each per round."""
    samples = {name: [] for name in contenders}
    for round_ in range(warmup + repeats):
        for name, run in contenders.items():
            gc.collect()
            gc.disable()
            start = time.perf_counter()
            run()
            elapsed = time.perf_counter() - start
            gc.enable()
            if round_ >= warmup:
                samples[name].append(elapsed)
    return samples


def summary(samples: list[float]) -> tuple[float, float]:
    """Median and interquartile range, in seconds."""
    q1, median, q3 = statistics.quantiles(samples, n=4, method="inclusive")
    return median, q3 - q1


def solver_cost(steps: int, repeats: int) -> None:
    """Part 1: bare evaluations vs torchdiffeq's and the lean core's RK4, no grad."""
    config = CellConfig(method="direct", solver="rk4", steps=steps, **SMALL)
    step = build_pass(config)
    field, y0, t = step.problem.field, step.problem.y0, step.t
    options = solver_options(config)
    stepper = Stepper(FIXED_TABLEAUX["rk4"])
    evaluations = stepper.evals_per_step * steps

    @torch.no_grad()
    def bare():
        for _ in range(evaluations):
            field(t[0], y0)

    @torch.no_grad()
    def tdq():
        torchdiffeq.odeint(field, y0, t, method="rk4", options=options)

    @torch.no_grad()
    def lean():
        integrate(field, y0, fixed_grid(field, y0, t, options, stepper), stepper)

    samples = interleaved({"bare": bare, "torchdiffeq": tdq, "lean": lean}, repeats)
    floor, _ = summary(samples["bare"])
    print(f"\n## Solver cost, no grad: rk4, {steps} steps, MLP 2-50-2, batch 16 ({evaluations} evaluations)")
    print(f"{'contender':<14}{'median ms':>11}{'IQR ms':>9}{'/ bare':>9}")
    for name, values in samples.items():
        median, iqr = summary(values)
        print(f"{name:<14}{median * 1e3:>11.2f}{iqr * 1e3:>9.2f}{median / floor:>9.2f}")
    lean_median, tdq_median = summary(samples["lean"])[0], summary(samples["torchdiffeq"])[0]
    print(f"lean / torchdiffeq = {lean_median / tdq_median:.2f}")


def gradient_methods(label: str, sizes: dict, steps: int, repeats: int) -> None:
    """Part 2: forward+backward of every registered method, rk4 with equal steps."""
    steps_by_method = {}
    for name in METHODS:
        config = CellConfig(method=name, solver="rk4", steps=steps, **sizes)
        steps_by_method[name] = build_pass(config)

    def round_trip(step):
        def run():
            step.zero_grad()
            step.backward(step.forward())

        return run

    samples = interleaved({name: round_trip(step) for name, step in steps_by_method.items()}, repeats)
    print(f"\n## Forward+backward: rk4, {steps} steps, MLP {label}")
    print(f"{'method':<18}{'median ms':>11}{'IQR ms':>9}{'/ adjoint':>11}{'/ direct':>10}")
    adjoint, direct = summary(samples["adjoint"])[0], summary(samples["direct"])[0]
    for name, values in samples.items():
        median, iqr = summary(values)
        print(f"{name:<18}{median * 1e3:>11.2f}{iqr * 1e3:>9.2f}{median / adjoint:>11.2f}{median / direct:>10.2f}")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=30, help="timed rounds per contender (default 30)")
    parser.add_argument("--steps", type=int, default=100, help="rk4 steps of the small-model runs (default 100)")
    parser.add_argument("--large-steps", type=int, default=20, help="rk4 steps on the 64-256 MLP (default 20)")
    parser.add_argument("--threads", type=int, default=None, help="torch intra-op threads (default: torch's)")
    args = parser.parse_args(argv)
    if args.repeats < 2 or args.steps < 1 or args.large_steps < 1:
        parser.error("--repeats must be >= 2 and the step counts >= 1")
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    print(
        f"torch {torch.__version__}, torchdiffeq {torchdiffeq.__version__}, threads {torch.get_num_threads()}, "
        f"{args.repeats} interleaved repeats"
    )
    solver_cost(args.steps, args.repeats)
    gradient_methods("2-50-2, batch 16", SMALL, args.steps, args.repeats)
    gradient_methods("64-256-64, batch 256", LARGE, args.large_steps, args.repeats)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
