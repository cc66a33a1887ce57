"""The report's tables, built with pandas from a prepared frame.

Units in column names (from the metric schema): times in seconds, memory in megabytes (MB = 10**6 bytes),
errors as relative L2 norms. Columns that hold no value in any row are left out.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from neural_ode import units
from neural_ode.errors import STATUSES
from neural_ode.measuring.reference import RESOLUTION_FACTOR
from neural_ode.reporting.claims.growth import fits_table
from neural_ode.reporting.columns import (
    CONFIG_COLUMNS,
    LINE_KEYS,
    MB,
    MEMORY_METRICS,
    interval_text,
    measured,
    varying,
)
from neural_ode.reporting.tables.choices import problem_keys
from neural_ode.reporting.tables.decisions import configuration
from neural_ode.results.schema import METRICS

PROVENANCE_COLUMNS = (
    "torch_version", "torchdiffeq_version", "torchode_version", "python_version", "device_name", "threads",
    "hostname", "git_commit",
)  # fmt: skip

#: context fields shown in the table of cells as they are (no unit)
CONTEXT_COLUMNS = {
    "interpolated": "final value interpolated",
    "gradient_wrong": "gradient wrong",
    "threads": "threads",
    "contended": "contended",
}


def cell_columns() -> dict[str, tuple[str, float | None]]:
    """Result column -> (table heading, scale the value is divided by; None: shown as it is): the
    depth, every metric of the schema but the derived ratios (the total time after the backward
    time), then the context of the measurement."""
    columns: dict[str, tuple[str, float | None]] = {"depth": ("depth L̃", 1.0)}
    for metric in METRICS.values():
        if metric.kind != "derived":
            columns[metric.name] = (metric.axis_label, metric.scale)
        if metric.name == "time_backward_s":
            columns["time_total_s"] = (f"forward + backward time ({metric.display_unit})", metric.scale)
    columns.update({name: (heading, None) for name, heading in CONTEXT_COLUMNS.items()})
    return columns


#: error column -> the reference's own error it is judged against
RESOLVED_BY = {"grad_rel_error": "ref_grad_rel_error", "sol_rel_error": "ref_sol_rel_error"}
#: what an error within RESOLUTION_FACTOR x of the reference's own error shows instead of a number
BELOW_RESOLUTION = "below the reference's resolution"


def _resolved(rows: pd.DataFrame, column: str) -> pd.Series:
    """The error ``column`` of ``rows``, with errors the reference cannot resolve shown as text."""
    values = rows[column].astype(object)
    own = rows[RESOLVED_BY[column]] if RESOLVED_BY[column] in rows else pd.Series(np.nan, index=rows.index)
    hidden = rows[column].notna() & own.notna() & (rows[column] <= RESOLUTION_FACTOR * own)
    values[hidden] = [f"{BELOW_RESOLUTION} (< {RESOLUTION_FACTOR * r:.0e})" for r in own[hidden]]
    return values


def _config_columns(frame: pd.DataFrame) -> list[str]:
    columns = ["method", "solver", "steps", "horizon", "rtol"]
    columns += varying(frame, keys=CONFIG_COLUMNS, exclude=columns)
    return [c for c in columns if frame[c].notna().any()]


def _drop_empty(table: pd.DataFrame) -> pd.DataFrame:
    return table.loc[:, table.notna().any(axis=0)] if len(table) else table


def cells_table(frame: pd.DataFrame) -> pd.DataFrame:
    """Every measured cell: its configuration and figures (ms, MB), sorted by method, solver, depth."""
    rows = measured(frame)
    config = _config_columns(frame)
    table = rows[config].copy()
    table["commit"] = rows["git_commit"].map(lambda c: str(c)[:8] if c is not None else None)
    table["host"] = rows["hostname"]
    for column, (heading, scale) in cell_columns().items():
        if column not in rows:
            continue
        if column in RESOLVED_BY:
            table[heading] = _resolved(rows, column)
        elif scale is None:
            table[heading] = rows[column]
        else:
            table[heading] = rows[column] / scale
    for phase in ("forward", "backward", "total"):  # each median time with its 95 % interval, after the times
        low, high = rows[f"time_{phase}_ci_low_s"], rows[f"time_{phase}_ci_high_s"]
        table[f"{phase} time 95% CI (ms)"] = [interval_text(lo, hi) for lo, hi in zip(low, high, strict=True)]
    if "time_repeats" in rows:
        table["timed repeats"] = rows["time_repeats"]
    if "gradient wrong" in table and not table["gradient wrong"].astype(bool).any():
        table = table.drop(columns=["gradient wrong"])  # shown where some cell is flagged
    table = table.sort_values([c for c in ("method", "solver", "horizon", "rtol", "steps") if c in table])
    table = table.drop(columns=[c for c in ("rtol",) if c in table and table[c].isna().all()])
    return _drop_empty(table).reset_index(drop=True)


def _problem_columns(table: pd.DataFrame) -> list[str]:
    """The problem keys that vary in ``table`` (the workload always)."""
    return ["workload", *[k for k in problem_keys(table) if k != "workload" and table[k].dropna().nunique() > 1]]


def choices_display(choices: pd.DataFrame) -> pd.DataFrame:
    """``choices.csv`` for reading: per problem and run of targets with the same picks, the fastest and the
    least-memory configuration with their cost (ms, MB) and gradient error."""
    if choices.empty:
        return pd.DataFrame()
    problem = _problem_columns(choices)
    rows = choices.assign(configuration=choices.apply(configuration, axis=1))
    out: list[dict] = []
    for values, picks in rows.groupby(problem, sort=True, dropna=False):
        runs: list[tuple[tuple, list[float], dict]] = []
        for target, at in picks.groupby("target_grad_rel_error", sort=False):
            row = dict(zip(problem, values if isinstance(values, tuple) else (values,), strict=True))
            for criterion, heading, scale, unit in (
                ("time", "fastest", 1e-3, "ms"),
                ("memory", "least memory", units.MB, units.MEMORY_UNIT),
            ):
                pick = at[at["criterion"] == criterion]
                if not pick.empty:
                    pick = pick.iloc[0]
                    row[heading] = pick["configuration"]
                    row[f"{criterion} ({unit})"] = pick["value"] / scale
                    row[f"grad error ({heading})"] = units.error(pick["grad_rel_error"]) + (
                        f" (decided by round-off: floor {units.error(pick['grad_roundoff_floor'])})"
                        if bool(pick.get("decided_by_roundoff", False))
                        else ""
                    )
            key = tuple(v for k, v in row.items() if k not in problem)
            if runs and runs[-1][0] == key:
                runs[-1][1].append(target)
            else:
                runs.append((key, [target], row))
        for _key, targets, row in runs:
            span = (
                units.tolerance(targets[0])
                if len(targets) == 1
                else (f"{units.tolerance(targets[0])} … {units.tolerance(targets[-1])}")
            )
            out.append(
                {**{k: row[k] for k in problem}, "target ≤": span, **{k: v for k, v in row.items() if k not in problem}}
            )
    return pd.DataFrame(out)


def fronts_display(fronts: pd.DataFrame) -> pd.DataFrame:
    """The Pareto fronts for reading: criterion, problem, configuration, cost (ms or MB) and gradient error."""
    if fronts.empty:
        return pd.DataFrame()
    problem = _problem_columns(fronts)
    table = fronts[["criterion", *problem]].copy()
    table["configuration"] = fronts.apply(configuration, axis=1)
    table["cost"] = [units.cost(c, v) for c, v in zip(fronts["criterion"], fronts["value"], strict=True)]
    table["grad error"] = fronts["grad_rel_error"].map(units.error)
    return table.reset_index(drop=True)


def failed_table(frame: pd.DataFrame) -> pd.DataFrame:
    """Every failed cell: its configuration, status and error message."""
    rows = frame[~frame["ok"]]
    config = ["method", "solver", "steps", "horizon", "rtol", "atol"]
    config += varying(frame, keys=CONFIG_COLUMNS, exclude=config)
    table = rows[[*config, "status", "error", "source"]].copy()
    table["error"] = table["error"].fillna("(no message)")
    if table["source"].nunique(dropna=True) <= 1:
        table = table.drop(columns="source")
    return _drop_empty(table).reset_index(drop=True)


def status_table(frame: pd.DataFrame) -> pd.DataFrame:
    """Cells per status, with what the status means."""
    counts = frame["status"].value_counts().rename_axis("status").reset_index(name="cells")
    counts["meaning"] = counts["status"].map(lambda s: STATUSES.get(s, "unknown status"))
    return counts


def provenance_table(frame: pd.DataFrame) -> pd.DataFrame:
    """The machines and versions the cells were measured with, one row per distinct combination."""
    table = frame[list(PROVENANCE_COLUMNS)].astype(object).where(frame[list(PROVENANCE_COLUMNS)].notna(), None)
    table = table.map(lambda v: "not recorded" if v is None else (str(int(v)) if isinstance(v, float) else str(v)))
    grouped = table.groupby(list(PROVENANCE_COLUMNS), dropna=False).size().reset_index(name="cells")
    return grouped


def sources_table(frame: pd.DataFrame) -> pd.DataFrame:
    """The input files and how many rows each gave."""
    source = frame["source"].fillna("(in memory)")
    return source.value_counts(sort=False).rename_axis("input").reset_index(name="rows")


def growth_summary(frame: pd.DataFrame, fits: pd.DataFrame | None = None) -> pd.DataFrame:
    """The affine growth fit of every memory metric and of total time, per line and depth axis.

    Memory in MB and time in ms: intercept, slope per depth unit with its 95 % interval, the share of
    the value at the deepest depth that the slope explains, and R² (see
    :mod:`neural_ode.reporting.claims.growth`: no exponent, which reads 1 for any straight line).
    ``fits``: the table :func:`write_fits` wrote of the same frame, whose rows of these metrics are
    these fits (so each line is fitted once per report).
    """
    metrics = (*MEMORY_METRICS, "time_total_s")
    table = fits_table(frame, metrics) if fits is None else fits[fits["metric"].isin(metrics)]
    columns = ["metric", "method", "solver", *varying(frame, exclude=("method", "solver"))]
    columns += ["depth_axis", "depth_min", "depth_max", "points", "intercept", "slope", "slope 95% CI"]
    columns += ["share at deepest", "r2", "growth", "law_check"]
    if table.empty:
        return pd.DataFrame(columns=columns)
    scale = np.where(table["metric"] == "time_total_s", 1e-3, MB)
    table = table.assign(
        intercept=table["intercept"] / scale,
        slope=table["slope"] / scale,
        metric=np.where(table["metric"] == "time_total_s", "time_total (ms)", table["metric"] + " (MB)"),
    )
    table["slope 95% CI"] = [
        f"{low / s:.4g} to {high / s:.4g}" for low, high, s in zip(table["slope_low"], table["slope_high"], scale)
    ]
    table["share at deepest"] = [f"{v:.0%}" if np.isfinite(v) else "" for v in table["share"].astype(float)]
    table = table[[c for c in columns if c in table]]
    return table.round({"r2": 3}).reset_index(drop=True)


def write_fits(frame: pd.DataFrame, path) -> pd.DataFrame:
    """Write ``fits.csv`` (every fitted memory and time line, :func:`fits_table`) to ``path``; returns it."""
    table = fits_table(frame, FIT_METRICS)
    from neural_ode.storage.writer import write_table

    write_table(table, path)
    return table


#: the metrics whose lines are fitted into fits.csv
FIT_METRICS = (*MEMORY_METRICS, "time_forward_s", "time_backward_s", "time_total_s")


__all__ = [
    "LINE_KEYS",
    "cells_table",
    "choices_display",
    "fronts_display",
    "failed_table",
    "growth_summary",
    "write_fits",
    "provenance_table",
    "sources_table",
    "status_table",
]
