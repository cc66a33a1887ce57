"""Tables of a sweep: ``results.csv`` (the contract the other tools read) and the summary printed at the end."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import pandas as pd

from neural_ode.results.record import CellRecord

#: the columns of ``results.csv`` that other tools rely on, first and in this order; the record's
#: other fields (dim, repeats, timing spread, provenance, ...) follow
CONTRACT_COLUMNS = (
    "workload",
    "method",
    "solver",
    "steps",
    "horizon",
    "rtol",
    "atol",
    "batch",
    "width",
    "device",
    "dtype",
    "seed",
    "status",
    "error",
    "nfe_forward",
    "nfe_backward",
    "time_forward_s",
    "time_backward_s",
    "saved_bytes",
    "cpu_peak_bytes",
    "rss_peak_bytes",
    "cuda_peak_bytes",
    "grad_rel_error",
    "sol_rel_error",
    "params",
    # issue 10: the output-times and field-depth axes
    "outputs",
    "layers",
)

_INTEGER_COLUMNS = ("steps", "nfe_forward", "nfe_backward", "saved_bytes", "cpu_peak_bytes", "rss_peak_bytes")
_INTEGER_COLUMNS += ("cuda_peak_bytes", "params", "batch", "width", "dim", "time_repeats", "threads")
_INTEGER_COLUMNS += ("outputs", "layers")  # issue 10


def results_frame(rows: Iterable[dict | CellRecord]) -> pd.DataFrame:
    """One row per cell: the contract columns first, then every other field of the records.

    Integer columns that may be missing (steps of adaptive cells, figures of failed cells) are
    pandas nullable integers, so they print and save as integers, not floats.
    """
    frame = pd.DataFrame([row.to_dict() if isinstance(row, CellRecord) else row for row in rows])
    for column in CONTRACT_COLUMNS:
        if column not in frame:
            frame[column] = None
    rest = [column for column in frame.columns if column not in CONTRACT_COLUMNS]
    frame = frame[list(CONTRACT_COLUMNS) + rest]
    for column in _INTEGER_COLUMNS:
        if column in frame:
            frame[column] = pd.to_numeric(frame[column]).astype("Int64")
    return frame


def write_csv(frame: pd.DataFrame, path: Path | str) -> Path:
    """Write ``frame`` as ``results.csv`` (missing values as empty fields); returns the path."""
    path = Path(path)
    frame.to_csv(path, index=False)
    return path


def _mib(value) -> str:
    return "-" if pd.isna(value) else f"{value / 2**20:.2f} MiB"


def _depth(row) -> str:
    horizon = f"h={row['horizon']:g}"
    if pd.isna(row["steps"]):
        return horizon
    return f"steps={row['steps']}" + ("" if row["horizon"] == 1 else f" {horizon}")


def _cell_summary(row) -> str:
    if row["status"] != "ok":
        return str(row["status"])
    nfe = f"NFE {row['nfe_forward']}/{row['nfe_backward']}"
    time_ms = (row["time_forward_s"] or 0) + (row["time_backward_s"] or 0)
    peak = row["cuda_peak_bytes"] if pd.notna(row["cuda_peak_bytes"]) else row["cpu_peak_bytes"]
    return f"{nfe}  {time_ms * 1e3:.1f} ms  {_mib(peak)}"


def summary_table(frame: pd.DataFrame) -> pd.DataFrame:
    """Method side by side for each problem, solver, depth and tolerance.

    Each entry reads ``NFE forward/backward  forward+backward median time  peak tensor memory``
    (CUDA peak on CUDA, CPU peak otherwise), or the status of a failed cell.
    """
    if frame.empty:
        return pd.DataFrame()
    # rows in a reading order: solvers as they first appear, then depth and tolerance ascending
    solver_rank = {solver: rank for rank, solver in enumerate(frame["solver"].unique())}
    frame = frame.assign(_solver_rank=frame["solver"].map(solver_rank)).sort_values(
        ["workload", "_solver_rank", "steps", "horizon", "rtol", "atol"], kind="stable", na_position="first"
    )
    table = frame.assign(
        depth=frame.apply(_depth, axis=1),
        tol=frame["rtol"].map(lambda tol: "-" if pd.isna(tol) else f"{tol:g}"),
        summary=frame.apply(_cell_summary, axis=1),
    )
    index = ["workload", "device", "dtype", "batch", "width", "solver", "depth", "tol"]
    index += [column for column in ("dim", "layers", "outputs") if column in table]  # issue 10 axes
    # keep only the index levels that vary, so the table stays narrow
    index = [column for column in index if column in ("solver", "depth") or table[column].nunique() > 1]
    pivot = table.pivot_table(index=index, columns="method", values="summary", aggfunc="first", sort=False)
    pivot.columns.name = None
    return pivot.fillna("")


def status_counts(frame: pd.DataFrame) -> str:
    """``36 cells: 35 ok, 1 timeout``."""
    if frame.empty:
        return "0 cells"
    counts = frame["status"].value_counts()
    return f"{len(frame)} cells: " + ", ".join(f"{count} {status}" for status, count in counts.items())
