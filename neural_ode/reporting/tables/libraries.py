"""Which library? torchdiffeq, torchode and the lean core on the same problems.

Two tables, both from the run (nothing assumed), one row per library and method:

* :func:`equal_tolerance`: cells that differ only in the method (same workload, solver, depth,
  tolerance, sizes, dtype, device), where at least two libraries were measured: NFE, time,
  memory, gradient error and the solver's per-step overhead side by side.
* :func:`equal_error`: each method's work-precision line (its cells over tolerances, or over
  steps on a fixed grid, for one problem) read at common gradient errors, interpolating
  linearly on log-log axes between the two measured cells that bracket the error (never
  extrapolated): what each library costs for the same accuracy, whatever tolerance it needed.

The library of a method is its registry's ``library`` attribute (``unknown`` for a method this
installation does not know).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from neural_ode.axes import line_keys
from neural_ode.reporting.columns import CONFIG_COLUMNS, MB, has_data, measured, trusted

#: memory shown beside time, in order of preference: the peak that limits a run first
MEMORY_PREFERENCE = ("cuda_peak_bytes", "cpu_peak_bytes", "rss_peak_bytes", "saved_bytes")
#: what fixes a problem: cells with equal values compute the same gradient (the reference's inputs):
#: every line axis (:func:`neural_ode.axes.line_keys`) but the method and solver a library is tried with
PROBLEM_KEYS = tuple(k for k in line_keys() if k not in ("method", "solver"))


def library_of(method) -> str:
    """The library a method runs on (``torchdiffeq``, ``torchode``, ``neural-ode-bench``)."""
    from neural_ode.methods import METHODS

    return METHODS[method].library if method in METHODS else "unknown"


def memory_metric(frame: pd.DataFrame) -> str | None:
    """The memory column the tables show: the first of :data:`MEMORY_PREFERENCE` with data."""
    return next((m for m in MEMORY_PREFERENCE if has_data(frame, m)), None)


def _with_library(rows: pd.DataFrame) -> pd.DataFrame:
    return rows.assign(library=rows["method"].map(library_of))


def equal_tolerance(frame: pd.DataFrame) -> pd.DataFrame:
    """Libraries side by side on identical cells (everything equal but the method).

    Columns: workload, solver, the cell (steps, or rtol), library, method, NFE forward and
    backward, total time (ms), saved and peak memory (MB), gradient error, and the solver's
    overhead (forward time over NFE bare evaluations). Only cells measured by two or more
    libraries are shown.
    """
    rows = _with_library(measured(frame))
    if rows.empty:
        return pd.DataFrame()
    cell = rows[[c for c in CONFIG_COLUMNS if c != "method"]].map(str).agg("|".join, axis=1)
    rows = rows[rows.groupby(cell)["library"].transform("nunique") >= 2]
    if rows.empty:
        return pd.DataFrame()
    peak = memory_metric(rows)
    table = pd.DataFrame(
        {
            "workload": rows["workload"],
            "solver": rows["solver"],
            "cell": [
                f"rtol {r:g}" + (f", atol {a:g}" if a != r else "") if adaptive else f"{int(s)} steps"
                for r, a, s, adaptive in zip(rows["rtol"], rows["atol"], rows["steps"], rows["adaptive"])
            ],
            "library": rows["library"],
            "method": rows["method"],
            "NFE fwd": rows["nfe_forward"],
            "NFE bwd": rows["nfe_backward"],
            "time total (ms)": rows["time_total_s"] * 1e3,
            "saved (MB)": rows["saved_bytes"] / MB,
        }
    )
    if peak is not None and peak != "saved_bytes":
        table[_memory_heading(peak)] = rows[peak] / MB
    table["grad error"] = rows["grad_rel_error"]
    table["solver overhead ×"] = rows["solver_overhead"]
    order = ["workload", "solver", "horizon", "batch", "width", "rtol", "atol", "steps"]
    table = table.assign(**{f"_{k}": rows[k] for k in order if k not in table})
    table = table.sort_values([c if c in table else f"_{c}" for c in order] + ["library", "method"])
    table = table.drop(columns=[c for c in table if c.startswith("_")])
    return table.loc[:, table.notna().any(axis=0)].reset_index(drop=True)


def _memory_heading(metric: str) -> str:
    return {
        "cuda_peak_bytes": "CUDA peak (MB)",
        "cpu_peak_bytes": "CPU peak (MB)",
        "rss_peak_bytes": "RSS peak (MB)",
        "saved_bytes": "saved (MB)",
    }[metric]


def _interpolate(errors: np.ndarray, values: np.ndarray, target: float) -> float:
    """``values`` at ``target`` error, linear in log-log between the bracketing points; NaN outside."""
    ok = np.isfinite(errors) & np.isfinite(values) & (errors > 0) & (values > 0)
    errors, values = errors[ok], values[ok]
    if len(errors) < 2 or not errors.min() <= target <= errors.max():
        return math.nan
    order = np.argsort(errors)
    return float(np.exp(np.interp(math.log(target), np.log(errors[order]), np.log(values[order]))))


def target_errors(lines: dict, per_decade: int = 1) -> list[float]:
    """Powers of ten (``per_decade`` per decade) within the error range of at least two lines."""
    ranges = [(e.min(), e.max()) for e in (line["grad_rel_error"].to_numpy() for line in lines.values()) if len(e) > 1]
    if len(ranges) < 2:
        return []
    low, high = min(r[0] for r in ranges), max(r[1] for r in ranges)
    exponents = np.arange(math.ceil(math.log10(low) * per_decade), math.floor(math.log10(high) * per_decade) + 1)
    targets = [10.0 ** (k / per_decade) for k in exponents]
    return [t for t in targets if sum(lo <= t <= hi for lo, hi in ranges) >= 2]


def equal_error(frame: pd.DataFrame) -> pd.DataFrame:
    """Every method's cost at common gradient errors, read off its work-precision line.

    A line is one method and solver on one problem (:data:`PROBLEM_KEYS`) across tolerances or
    steps, with two or more cells. Targets are the powers of ten that two or more lines reach;
    each line is read where it reaches the target (log-log interpolation, no extrapolation).
    Columns: workload, target gradient error, library, method, solver, interpolated NFE
    (forward + backward), total time (ms) and memory (MB), sorted by time within each target.
    """
    rows = _with_library(trusted(frame, "grad_rel_error", "time_total_s"))
    rows = rows[rows["grad_rel_error"] > 0]
    if rows.empty:
        return pd.DataFrame()
    peak = memory_metric(rows)
    out = []
    problems = [k for k in PROBLEM_KEYS if rows[k].notna().any()]
    for problem, cells in rows.groupby(problems, dropna=False, sort=True):
        lines = {
            key: line
            for key, line in cells.groupby(["library", "method", "solver"], sort=True)
            if line["grad_rel_error"].nunique() > 1
        }
        for target in target_errors(lines):
            for (library, method, solver), line in lines.items():
                errors = line["grad_rel_error"].to_numpy(float)
                time_ms = _interpolate(errors, line["time_total_s"].to_numpy(float) * 1e3, target)
                if math.isnan(time_ms):
                    continue
                nfe = (line["nfe_forward"] + line["nfe_backward"].fillna(0)).to_numpy(float)
                nfe_at = _interpolate(errors, nfe, target)
                row = {
                    "workload": problem[0],
                    "grad error": target,
                    "library": library,
                    "method": method,
                    "solver": solver,
                    "NFE fwd+bwd": round(nfe_at) if math.isfinite(nfe_at) else None,
                    "time total (ms)": time_ms,
                }
                if peak is not None:
                    row[_memory_heading(peak)] = _interpolate(errors, line[peak].to_numpy(float), target) / MB
                out.append(row)
    table = pd.DataFrame(out)
    if table.empty:
        return table
    table = table.sort_values(["workload", "grad error", "time total (ms)"], ascending=[True, False, True])
    return table.reset_index(drop=True)


def libraries_section(frame: pd.DataFrame) -> dict:
    """The report's "Which library?" context: both tables and the libraries measured."""
    rows = measured(frame)
    libraries = sorted({library_of(m) for m in rows["method"].dropna().unique()}) if len(rows) else []
    return {
        "libraries_measured": libraries,
        "libraries_equal_tolerance": equal_tolerance(frame),
        "libraries_equal_error": equal_error(frame),
    }
