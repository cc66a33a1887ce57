"""The report's tables, built with pandas from a prepared frame.

Units in column names: times in milliseconds (ms), memory in megabytes (MB = 10**6 bytes),
errors as relative L2 norms. Columns that hold no value in any row are left out.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from neural_ode.measuring.failures import STATUSES
from neural_ode.reporting import units
from neural_ode.reporting.choices import problem_keys
from neural_ode.reporting.columns import LINE_KEYS, MB, MEMORY_METRICS, has_data, measured, varying
from neural_ode.reporting.decisions import configuration
from neural_ode.reporting.growth import growth_table

PROVENANCE_COLUMNS = (
    "torch_version", "torchdiffeq_version", "python_version", "device_name", "threads", "hostname", "git_commit",
)  # fmt: skip

#: result column -> (table heading, scale the value is divided by)
CELL_COLUMNS = {
    "depth": ("depth L̃", 1),
    "nfe_forward": ("NFE fwd", 1),
    "nfe_backward": ("NFE bwd", 1),
    "time_forward_s": ("time fwd (ms)", 1e-3),
    "time_backward_s": ("time bwd (ms)", 1e-3),
    "time_total_s": ("time total (ms)", 1e-3),
    "saved_bytes": ("saved (MB)", MB),
    "cpu_peak_bytes": ("CPU peak (MB)", MB),
    "cuda_peak_bytes": ("CUDA peak (MB)", MB),
    "rss_peak_bytes": ("RSS peak (MB)", MB),
    "grad_rel_error": ("grad error", 1),
    "sol_rel_error": ("solution error", 1),
}


def _config_columns(frame: pd.DataFrame) -> list[str]:
    columns = ["method", "solver", "steps", "horizon", "rtol"]
    columns += varying(frame, keys=("workload", "device", "dtype", "batch", "width", "dim", "atol", "seed"))
    return [c for c in columns if frame[c].notna().any()]


def _drop_empty(table: pd.DataFrame) -> pd.DataFrame:
    return table.loc[:, table.notna().any(axis=0)] if len(table) else table


def cells_table(frame: pd.DataFrame) -> pd.DataFrame:
    """Every measured cell: its configuration and figures (ms, MB), sorted by method, solver, depth."""
    rows = measured(frame)
    config = _config_columns(frame)
    table = rows[config].copy()
    for column, (heading, scale) in CELL_COLUMNS.items():
        table[heading] = rows[column] / scale
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
                    row[f"grad error ({heading})"] = units.error(pick["grad_rel_error"])
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
    config = [c for c in ("method", "solver", "steps", "horizon", "rtol", "atol", "dtype", "device") if c in rows]
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


def growth_summary(frame: pd.DataFrame) -> pd.DataFrame:
    """The fitted growth exponent of every memory metric and of total time, per line."""
    parts = []
    for metric in (*MEMORY_METRICS, "time_total_s"):
        if not has_data(frame, metric):
            continue
        table = growth_table(frame, metric)
        if table.empty:
            continue
        table = table.assign(metric=metric, depth_axis=np.where(table["adaptive"], "forward NFE", "steps"))
        parts.append(table)
    columns = ["metric", "method", "solver", *varying(frame, exclude=("method", "solver"))]
    columns += ["depth_axis", "depth_min", "depth_max", "depths", "exponent", "r2"]
    if not parts:
        return pd.DataFrame(columns=columns)
    table = pd.concat(parts, ignore_index=True)
    table = table[[c for c in columns if c in table]].astype({"depths": int})
    return table.round({"exponent": 2, "r2": 3}).reset_index(drop=True)


__all__ = [
    "LINE_KEYS",
    "cells_table",
    "choices_display",
    "fronts_display",
    "failed_table",
    "growth_summary",
    "provenance_table",
    "sources_table",
    "status_table",
]
