"""The exact figures behind issue 10 (output times, seminorm, trained and stiff fields), rerunnable.

Byte counts and NFE do not depend on the machine's load; the wall times printed with them
(``cell_wall_s``, the whole measurement of a cell) do, and serve only to size presets.

Parts (``--part``, default all):

- ``outputs``: adjoint against direct on the quick preset's MLP (64-256-64, batch 128):
  ``saved_bytes``, ``cpu_peak_bytes`` and NFE over 1, 9, 99 and 999 outputs (= 2, 10, 100, 1000
  solver times with t = 0, torchdiffeq's #259 count), rk4 (16 steps, plus a step per output off
  the grid) and dopri5 (1e-5);
- ``seminorm``: backward NFE of ``adjoint-seminorm`` over ``adjoint`` where it can help;
- ``solvers``: forward/backward NFE per solver on the trained ``spiral`` field and on ``stiff``.

Usage::

    PYTHONPATH=. python scripts/measure_applications.py --part outputs > outputs.md
"""

from __future__ import annotations

import argparse

import pandas as pd
import torch

from neural_ode import CellConfig, measure_cell

QUICK_MLP = {"workload": "mlp", "batch": 128, "width": 256, "dim": 64}
COLUMNS = ["workload", "method", "solver", "steps", "horizon", "rtol", "atol", "outputs", "status"]
COLUMNS += ["nfe_forward", "nfe_backward", "saved_bytes", "cpu_peak_bytes", "grad_rel_error", "cell_wall_s"]


def measure(configs, peak: bool = False, reference: bool = False) -> pd.DataFrame:
    rows = []
    for config in configs:
        record = measure_cell(config, rss="skip", peak=peak, timing=False, reference=reference)
        row = record.to_dict()
        if row["error"]:
            row["status"] = f"{row['status']}: {row['error'][:80]}"
        rows.append({column: row.get(column) for column in COLUMNS})
        print(pd.DataFrame([rows[-1]]).to_string(index=False, header=len(rows) == 1), flush=True)
    return pd.DataFrame(rows)


def outputs_part() -> pd.DataFrame:
    configs = []
    for solver, depth in (("rk4", {"steps": 16}), ("dopri5", {"rtol": 1e-5, "atol": 1e-5})):
        for outputs in (1, 9, 99, 999):
            for method in ("direct", "adjoint"):
                configs.append(CellConfig(**QUICK_MLP, method=method, solver=solver, outputs=outputs, **depth))
    frame = measure(configs, peak=True)
    frame["saved_MB"] = frame["saved_bytes"] / 1e6
    frame["cpu_peak_MB"] = frame["cpu_peak_bytes"] / 1e6
    return frame


def seminorm_part() -> pd.DataFrame:
    cases = [
        dict(**QUICK_MLP, solver="dopri5", rtol=1e-3, atol=1e-8),
        dict(**QUICK_MLP, solver="dopri5", rtol=1e-5, atol=1e-5, horizon=16.0),
        dict(workload="spiral", solver="dopri5", rtol=1e-5, atol=1e-5, horizon=0.5),
        dict(workload="spiral", solver="dopri5", rtol=1e-3, atol=1e-8, horizon=0.5),
        dict(workload="latent", solver="dopri5", rtol=1e-5, atol=1e-5),
        dict(workload="cnf", solver="dopri5", rtol=1e-5, atol=1e-5),
        dict(workload="conv", solver="dopri5", rtol=1e-3, atol=1e-3, batch=8),
    ]
    configs = [CellConfig(**case, method=method) for case in cases for method in ("adjoint", "adjoint-seminorm")]
    frame = measure(configs)
    adjoint, seminorm = frame[frame.method == "adjoint"], frame[frame.method == "adjoint-seminorm"]
    ratio = seminorm["nfe_backward"].to_numpy() / adjoint["nfe_backward"].to_numpy()
    print("\nseminorm backward NFE / adjoint backward NFE:", [round(float(r), 3) for r in ratio])
    return frame


def solvers_part() -> pd.DataFrame:
    configs = []
    for method in ("direct", "adjoint"):
        for solver in ("dopri5", "bosh3", "adaptive_heun", "fehlberg2", "dopri8"):
            configs.append(CellConfig(workload="spiral", method=method, solver=solver, rtol=1e-5, atol=1e-5))
        configs.append(CellConfig(workload="spiral", method=method, solver="rk4", steps=100))
        for solver in ("dopri5", "bosh3", "adaptive_heun"):
            for tol in (1e-3, 1e-6):
                configs.append(
                    CellConfig(workload="stiff", method=method, solver=solver, rtol=tol, atol=tol, horizon=0.5)
                )
        for steps in (100, 1000):
            configs.append(CellConfig(workload="stiff", method=method, solver="rk4", steps=steps, horizon=0.5))
    return measure(configs)


PARTS = {"outputs": outputs_part, "seminorm": seminorm_part, "solvers": solvers_part}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--part", choices=[*PARTS, "all"], default="all")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    for name, part in PARTS.items():
        if args.part in (name, "all"):
            print(f"\n## {name}\n", flush=True)
            frame = part()
            print("\n" + frame.to_markdown(index=False), flush=True)


if __name__ == "__main__":
    main()
