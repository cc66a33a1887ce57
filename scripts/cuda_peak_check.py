"""Cross-check of ``cuda_peak_bytes`` against ``torch.cuda.max_memory_allocated`` on a CUDA GPU.

For every ok CUDA cell of a sweep (``--sweep DIR``: one per method and solver, its config rebuilt
from the record), or without one for every available method (rk4, 10 steps; dopri5 at 1e-3 for
those without rk4; MLP at SIZES), in one process:

- ``project_bytes``: what the sweep records, the measuring core's
  :func:`neural_ode.measuring.memory.cuda_peak_bytes` around one whole gradient pass, after the
  same preparation as ``neural_ode.measuring.cell`` (gradients and kept states released);
- ``direct_bytes``: the same pass measured here by hand: synchronise, reset the peak, read
  ``torch.cuda.memory_allocated``, run, synchronise, ``torch.cuda.max_memory_allocated`` minus
  the baseline;
- ``sweep_bytes``: the figure the sweep recorded for the same cell in its own process.

Each method is checked ``--rounds`` times, the two in-process measurements alternating; a method
passes when every project figure is within ``--tolerance`` (relative, default 1 %) of the direct
one; the sweep's figure is compared too and reported, and fails the check when it is off by more.
Writes a JSON report (``--out``) and exits 1 when any method fails, 2 without a GPU.

Usage::

    python scripts/cuda_peak_check.py --sweep reports/cuda/sweep --out reports/cuda/peak_check.json
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path

import torch

#: the cells' sizes: scripts/device_check.sh's sweep uses the same
SIZES = {"workload": "mlp", "batch": 16, "width": 32, "dim": 2}
STEPS, TOL = 10, 1e-3


def cell_config(method: str):
    """The cell checked for ``method``: rk4 with STEPS steps, or dopri5 at TOL where rk4 is not supported."""
    from neural_ode import METHODS, CellConfig

    if METHODS[method].supports("rk4"):
        return CellConfig(method=method, solver="rk4", steps=STEPS, device="cuda", **SIZES)
    return CellConfig(method=method, solver="dopri5", rtol=TOL, atol=TOL, device="cuda", **SIZES)


def direct_peak_bytes(run) -> int:
    """Peak CUDA bytes of ``run()`` over the bytes allocated before it, read by hand."""
    torch.cuda.synchronize()
    torch.cuda.reset_peak_memory_stats()
    baseline = torch.cuda.memory_allocated()
    run()
    torch.cuda.synchronize()
    return torch.cuda.max_memory_allocated() - baseline


def sweep_cells(folder: Path | None) -> list[tuple]:
    """(config, recorded cuda_peak_bytes) of the sweep's ok CUDA records, one per method and solver.

    The config is rebuilt from the record's own fields, so the pass checked here is the one the
    sweep measured (sizes, horizon, outputs, dtype, seed included).
    """
    from neural_ode import CellConfig

    path = None if folder is None else folder / "results.jsonl"
    if path is None or not path.exists():
        return []
    names = {field.name for field in dataclasses.fields(CellConfig)}
    cells = {}
    for line in path.read_text().splitlines():
        record = json.loads(line) if line.strip() else {}
        if record.get("device") != "cuda" or record.get("status") != "ok" or record.get("cuda_peak_bytes") is None:
            continue
        config = CellConfig(**{key: value for key, value in record.items() if key in names})
        cells.setdefault((config.method, config.solver), (config, int(record["cuda_peak_bytes"])))
    return list(cells.values())


def relative(a: int, b: int) -> float:
    """|a - b| / max(b, 1)."""
    return abs(a - b) / max(b, 1)


def check(config, rounds: int, tolerance: float, recorded: int | None = None) -> dict:
    """The cross-check of one cell: figures, largest relative differences, verdict."""
    from neural_ode.measuring.cell import build_pass
    from neural_ode.measuring.memory import cuda_peak_bytes

    step = build_pass(config)
    step.run()  # warm-up: cuBLAS workspaces and the caching allocator settle before measuring
    project, direct = [], []

    def prepare():  # as neural_ode.measuring.cell before its peak run
        step.zero_grad()
        step.release()

    for _ in range(rounds):
        prepare()
        project.append(cuda_peak_bytes(step.run, "cuda"))
        prepare()
        direct.append(direct_peak_bytes(step.run))
    worst = max(relative(p, d) for p, d in zip(project, direct))
    result = {
        "method": config.method, "solver": config.solver, "project_bytes": project, "direct_bytes": direct,
        "max_rel_diff": worst, "ok": worst <= tolerance,
    }  # fmt: skip
    if recorded is not None:
        result["sweep_bytes"] = recorded
        result["sweep_rel_diff"] = relative(recorded, direct[-1])
        result["ok"] = result["ok"] and result["sweep_rel_diff"] <= tolerance
    return result


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sweep", type=Path, default=None, help="a sweep folder whose CUDA records are compared too")
    parser.add_argument("--out", type=Path, default=None, help="write the JSON report here")
    parser.add_argument("--rounds", type=int, default=3, help="measurements of each kind per method (default 3)")
    parser.add_argument("--tolerance", type=float, default=0.01, help="relative tolerance (default 0.01)")
    args = parser.parse_args(argv)
    if not torch.cuda.is_available():
        print(f"cuda_peak_check: no CUDA GPU here (torch {torch.__version__}): nothing to check", file=sys.stderr)
        return 2
    from neural_ode import METHODS

    cells = sweep_cells(args.sweep)
    if args.sweep is not None and not cells:
        print(f"cuda_peak_check: no ok CUDA record in {args.sweep}; checking the default cells", file=sys.stderr)
    if not cells:
        cells = [(cell_config(name), None) for name, method in METHODS.items() if method.unavailable() is None]
    results = []
    for config, recorded in cells:
        try:
            results.append(check(config, args.rounds, args.tolerance, recorded))
        except Exception as exc:  # one method's failure is a finding, the others still run
            results.append({"method": config.method, "solver": config.solver, "ok": False,
                            "error": f"{type(exc).__name__}: {exc}"[:500]})  # fmt: skip
        row = results[-1]
        verdict = "ok" if row["ok"] else "FAIL"
        print(f"{row['method']:<28} {row['solver']:<8} {verdict} {row.get('max_rel_diff', row.get('error', ''))}")
    report = {"device": torch.cuda.get_device_name(), "torch": torch.__version__, "tolerance": args.tolerance,
              "results": results}  # fmt: skip
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(report, indent=1) + "\n")
    return 0 if results and all(row["ok"] for row in results) else 1


if __name__ == "__main__":
    raise SystemExit(main())
