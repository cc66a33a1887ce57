"""Do growth fits on 8-64 steps predict the memory of a 512-step cell? Affine fit against the old power law.

Measures ``saved_bytes`` and ``cpu_peak_bytes`` (exact byte counts: the machine's load does not
change them) of the mlp with rk4 at 8, 16, 32, 64 and 512 steps for ``direct`` and ``aca``, fits
each line on 8-64 steps both ways and prints the prediction at 512 steps against the measurement.

    PYTHONPATH=. python scripts/growth_prediction.py [--batch 128] [--width 256]
"""

from __future__ import annotations

import argparse

import numpy as np
import torch

from neural_ode import CellConfig, measure_cell
from neural_ode.reporting.claims.growth import fit_growth

FIT_STEPS = (8, 16, 32, 64)
TARGET = 512


def power_law_prediction(depths, values, depth: float) -> float:
    """The old fit: c · L^k through log-log least squares."""
    k, log_c = np.polyfit(np.log(depths), np.log(values), 1)
    return float(np.exp(log_c) * depth**k)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--width", type=int, default=256)
    args = parser.parse_args()
    torch.set_num_threads(1)
    print(f"mlp batch {args.batch} width {args.width}, rk4; fits on {FIT_STEPS} steps, predicted at {TARGET}")
    print(f"{'method':8} {'metric':15} {'measured':>13} {'affine':>13} {'error':>8} {'power law':>13} {'error':>8}")
    for method in ("direct", "aca"):
        records = {}
        for steps in (*FIT_STEPS, TARGET):
            config = CellConfig(workload="mlp", method=method, solver="rk4", steps=steps, batch=args.batch,
                                width=args.width)  # fmt: skip
            records[steps] = measure_cell(config, rss="skip", reference=False, timing=False)
            assert records[steps].ok, records[steps].error
        for metric in ("saved_bytes", "cpu_peak_bytes"):
            values = [getattr(records[s], metric) for s in FIT_STEPS]
            measured = getattr(records[TARGET], metric)
            fit = fit_growth(FIT_STEPS, values)
            affine = fit.predict(TARGET)
            power = power_law_prediction(FIT_STEPS, values, TARGET)
            print(
                f"{method:8} {metric:15} {measured:13,d} {affine:13,.0f} {affine / measured - 1:+8.2%}"
                f" {power:13,.0f} {power / measured - 1:+8.2%}"
            )


if __name__ == "__main__":
    main()
