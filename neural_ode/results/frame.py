"""Tables of a sweep: ``results.csv`` (the contract the other tools read) and the summary printed at the end.

The summary uses the report's units (:mod:`neural_ode.units`: ms, MB = 10**6 bytes).
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import pandas as pd

from neural_ode.axes import AXES, config_axes, config_identity, depth_keys
from neural_ode.results.record import CONTEXT_FIELDS, CellRecord
from neural_ode.results.schema import METRICS
from neural_ode.results.schema import integer_columns as schema_integer_columns

#: the configuration columns of ``results.csv``, first and in this order: every axis of a cell's
#: identity that is a config field, in declaration order (:mod:`neural_ode.axes`)
CONFIG_CONTRACT = tuple(a.name for a in config_axes() if a.identity)


def contract_columns() -> tuple[str, ...]:
    """The columns of ``results.csv`` that other tools rely on, first and in this order: the
    configuration, the status, then every metric of the schema; the record's other fields (dim,
    repeats, timing spread, provenance, ...) follow."""
    return (*CONFIG_CONTRACT, "status", "error", *METRICS)


def integer_columns() -> tuple[str, ...]:
    """Columns stored as integers (pandas nullable ``Int64``): integer config fields, metrics and context."""
    config_ints = tuple(a.name for a in config_axes() if a.kind is int)
    context_ints = tuple(name for name, kind in CONTEXT_FIELDS.items() if kind is int)
    return (*config_ints, *schema_integer_columns(), *context_ints)


def results_frame(rows: Iterable[dict | CellRecord]) -> pd.DataFrame:
    """One row per cell: the contract columns first, then every other field of the records.

    Integer columns that may be missing (steps of adaptive cells, figures of failed cells) are
    pandas nullable integers, so they print and save as integers, not floats.
    """
    frame = pd.DataFrame([row.to_dict() if isinstance(row, CellRecord) else row for row in rows])
    contract = contract_columns()
    for column in contract:
        if column not in frame:
            frame[column] = None
    rest = [column for column in frame.columns if column not in contract]
    frame = frame[list(contract) + rest]
    for column in integer_columns():
        if column in frame:
            frame[column] = pd.to_numeric(frame[column]).astype("Int64")
    return frame


def write_csv(frame: pd.DataFrame, path: Path | str) -> Path:
    """Write ``frame`` as ``results.csv`` (missing values as empty fields); returns the path.

    The per-repeat timing samples (``*_samples_s`` lists) stay in ``results.jsonl``: a CSV cell
    holds one value; the CSV has their median, IQR, min and max.
    """
    path = Path(path)
    from neural_ode.storage.writer import write_table

    write_table(frame.drop(columns=[c for c in frame.columns if str(c).endswith("_samples_s") or c == "phase_s"]), path)
    return path


def _depth(row) -> str:
    if pd.isna(row["steps"]):
        return f"t1={row['horizon']:g}"
    return f"{int(row['steps'])} steps" + ("" if row["horizon"] == 1 else f" t1={row['horizon']:g}")


#: the summary's columns: heading -> how a row's value is formatted (units as in the report: ms, MB = 10**6 bytes)
def _summary_columns() -> dict:
    from neural_ode import units  # the report's units, imported late: the CLI imports this module early

    def peak(row):
        value = row["cuda_peak_bytes"] if pd.notna(row["cuda_peak_bytes"]) else row["cpu_peak_bytes"]
        return "-" if pd.isna(value) else f"{value / units.MB:.3g}"

    def total(row):
        if pd.isna(row["time_forward_s"]) or pd.isna(row["time_backward_s"]):
            return "-"
        return f"{(row['time_forward_s'] + row['time_backward_s']) * 1e3:.3g}"

    def count(name):
        return lambda row: "-" if pd.isna(row[name]) else str(int(row[name]))

    return {
        "NFE fwd": count("nfe_forward"),
        "NFE bwd": count("nfe_backward"),
        "time fwd+bwd (ms)": total,
        f"peak memory ({units.MEMORY_UNIT})": peak,
        "grad error": lambda row: units.error(row["grad_rel_error"], missing="-"),
    }


def summary_table(frame: pd.DataFrame) -> pd.DataFrame:
    """One labelled row per cell, in reading order, with the same units as the report.

    Columns: every axis of the cells' identity that varies among them (:mod:`neural_ode.axes`;
    none that is constant), with ``solver`` and ``method`` always and the depth axes as one
    ``depth`` column (steps, or the horizon t1 of an adaptive solve), ``rtol`` when an adaptive
    cell is there (and ``atol`` where it differs from rtol), then ``NFE fwd``, ``NFE bwd``,
    ``time fwd+bwd (ms)`` (median), ``peak memory (MB)`` (MB = 10**6 bytes: CUDA peak on CUDA, CPU
    tensor peak otherwise), ``grad error`` (relative to the float64 reference) and ``status``.
    """
    if frame.empty:
        return pd.DataFrame()
    # rows in a reading order: solvers as they first appear, then depth and tolerance ascending
    solver_rank = {solver: rank for rank, solver in enumerate(frame["solver"].unique())}
    frame = frame.assign(_solver_rank=frame["solver"].map(solver_rank)).sort_values(
        ["workload", "_solver_rank", "steps", "horizon", "rtol", "atol"], kind="stable", na_position="first"
    )
    depth = set(depth_keys())
    keys = [
        name for name in config_identity()
        if name not in depth and name not in ("method", "solver") and name in frame
        and frame[name].astype(str).nunique() > 1
    ]  # fmt: skip
    table = pd.DataFrame({name: frame[name].map(lambda v, n=name: _shown(n, v)) for name in keys})
    table["solver"] = frame["solver"]
    table["depth"] = frame.apply(_depth, axis=1)
    adaptive = frame["rtol"].notna()
    if adaptive.any():
        table["rtol"] = frame["rtol"].map(lambda tol: "-" if pd.isna(tol) else f"{tol:g}")
        if (frame.loc[adaptive, "atol"] != frame.loc[adaptive, "rtol"]).any():
            table["atol"] = frame["atol"].map(lambda tol: "-" if pd.isna(tol) else f"{tol:g}")
    table["method"] = frame["method"]
    ok = frame["status"] == "ok"
    for heading, value in _summary_columns().items():
        table[heading] = [value(row) if good else "" for (_, row), good in zip(frame.iterrows(), ok, strict=True)]
    table["status"] = frame["status"].astype(str)
    return table.reset_index(drop=True)


def _shown(name: str, value) -> str:
    """A summary cell's value of axis ``name``: ``true``/``false`` for flags, integers without ``.0``."""
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return "-"
    axis = AXES.get(name)
    if axis is not None and axis.kind is bool:
        return "true" if bool(value) else "false"
    if axis is not None and axis.kind is int:
        return str(int(value))
    return f"{value:g}" if isinstance(value, float) else str(value)


def status_counts(frame: pd.DataFrame) -> str:
    """``36 cells: 35 ok, 1 timeout``."""
    if frame.empty:
        return "0 cells"
    counts = frame["status"].value_counts()
    return f"{len(frame)} cells: " + ", ".join(f"{count} {status}" for status, count in counts.items())
