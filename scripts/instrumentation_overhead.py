"""How much does measuring cost? The core's timed run against a bare torchdiffeq call.

For each configuration, alternates (so both see the same machine load) a bare
``odeint``/``odeint_adjoint`` forward+backward timed with ``perf_counter``, and the core's own
timed path (``neural_ode.measuring.timing.time_forward_backward`` over
``GradientPass.forward``/``GradientPass.backward``,
exactly what ``measure_cell`` times), and prints the medians and their ratio.

    python scripts/instrumentation_overhead.py [--rounds 30] [--threads 1]
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
import torchdiffeq

from neural_ode import CellConfig
from neural_ode.measuring.cell import build_pass
from neural_ode.measuring.timing import time_forward_backward

CASES = [
    dict(method="direct", solver="rk4", steps=40),
    dict(method="adjoint", solver="rk4", steps=40),
    dict(method="direct", solver="dopri5", rtol=1e-5, atol=1e-5),
    dict(method="adjoint", solver="dopri5", rtol=1e-5, atol=1e-5),
]


def bare_round(config: CellConfig) -> float:
    """One forward+backward through torchdiffeq directly; seconds."""
    step = build_pass(config)  # same seeded problem; the build is outside the timing
    field, y0, target = step.problem.field, step.problem.y0, step.problem.target
    t = torch.tensor([0.0, config.horizon])
    kwargs = {"method": config.solver}
    if config.adaptive:
        kwargs.update(rtol=config.rtol, atol=config.atol)
    else:
        kwargs["options"] = {"step_size": config.horizon / config.steps}
    odeint = torchdiffeq.odeint_adjoint if config.method == "adjoint" else torchdiffeq.odeint
    start = time.perf_counter()
    solution = odeint(field, y0, t, **kwargs)
    (solution[-1] - target).pow(2).mean().backward()
    return time.perf_counter() - start


def core_round(config: CellConfig) -> float:
    """One forward+backward through the core's timed path; seconds."""
    step = build_pass(config)
    forward, backward = time_forward_backward(step.forward, step.backward, repeats=1, warmup=0, device="cpu")
    return forward.median_s + backward.median_s


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(f"{'cell':44} {'bare ms':>9} {'core ms':>9} {'core/bare':>9}")
    for fields in CASES:
        config = CellConfig(workload="mlp", **fields)
        bare_round(config), core_round(config)  # warm-up of both paths
        bare, core = [], []
        for _ in range(args.rounds):
            bare.append(bare_round(config))
            core.append(core_round(config))
        b, c = statistics.median(bare), statistics.median(core)
        label = " ".join(f"{k}={v}" for k, v in fields.items())
        print(f"{label:44} {b * 1e3:9.2f} {c * 1e3:9.2f} {c / b:9.3f}")


if __name__ == "__main__":
    main()
