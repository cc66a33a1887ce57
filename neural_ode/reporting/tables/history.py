"""The report's history section: each metric against commit, per cell and host.

Results of several commits (an ASV results directory, several pytest-benchmark files, sweeps run
at different commits) are ordered oldest first by :func:`neural_ode.results.compare.commit_order`.
Each pair of consecutive commits measured on the same host is compared with the tests of
:mod:`neural_ode.results.compare` (exact figures exactly, errors within a relative tolerance,
timings by a significance test and a factor), which gives:

* :func:`history_changes`: the table of every figure that changed beyond noise, naming the commit
  where it changed and the one before;
* :func:`history_figures`: one figure per metric (``history_<metric>.png``), the metric against
  commit, one line per cell and host, timings with their interquartile range as error bars, and
  each change beyond noise ringed in red.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from neural_ode.reporting.columns import has_data
from neural_ode.reporting.figures.draw import MAX_LINES, FigureResult
from neural_ode.reporting.figures.style import figure_theme
from neural_ode.results.compare import (
    LABELS,
    CompareError,
    Thresholds,
    cell_key,
    cell_label,
    commit_order,
    compare_frames,
)

#: metrics drawn against commit, in report order; timings with their IQR column
HISTORY_METRICS = (
    "time_total_s",
    "time_forward_s",
    "nfe_forward",
    "nfe_backward",
    "saved_bytes",
    "cpu_peak_bytes",
    "cuda_peak_bytes",
    "rss_peak_bytes",
    "grad_rel_error",
)
#: lines beyond which a history figure leaves its legend out (the changes table names the cells)
MAX_LEGEND = 12
CHANGE_COLUMNS = ["host", "commit", "previous commit", "cell", "metric", "before", "after", "change", "verdict"]


def _short(commit) -> str:
    return "(no commit)" if commit is None else str(commit)[:8]


def _hosts(frame: pd.DataFrame) -> list:
    return list(frame["hostname"].astype(object).where(frame["hostname"].notna(), None).unique())


def _rows_of(frame: pd.DataFrame, commit, host) -> pd.DataFrame:
    commit_rows = frame["git_commit"].astype(str) == commit
    host_rows = frame["hostname"].isna() if host is None else frame["hostname"] == host
    return frame[commit_rows & host_rows]


def _percent(ratio) -> str:
    if not isinstance(ratio, float) or np.isnan(ratio):
        return ""
    return "+inf" if np.isinf(ratio) else f"{(ratio - 1) * 100:+.1f} %"


def history_changes(frame: pd.DataFrame, thresholds: Thresholds | None = None) -> pd.DataFrame:
    """Every figure that changed beyond noise between consecutive commits of one host.

    Columns: host, commit (where it changed), previous commit, cell, metric, before, after,
    change (new/base - 1, in percent), verdict (``regression``, ``improvement``, ``changed``).
    Empty when the results hold fewer than two commits.
    """
    thresholds = thresholds or Thresholds()
    commits = commit_order(frame)
    rows = []
    for host in _hosts(frame):
        measured_here = [c for c in commits if len(_rows_of(frame, c, host))]
        for before, after in zip(measured_here, measured_here[1:]):
            try:
                comparison = compare_frames(_rows_of(frame, before, host), _rows_of(frame, after, host), thresholds)
            except CompareError:  # no cell in common between the two commits
                continue
            for change in comparison.changed.to_dict("records"):
                rows.append(
                    {
                        "host": host or "(not recorded)",
                        "commit": _short(after),
                        "previous commit": _short(before),
                        "cell": change["cell"],
                        "metric": change["metric"],
                        "before": change["base"],
                        "after": change["new"],
                        "change": _percent(change["ratio"]),
                        "verdict": change["change"],
                    }
                )
    return pd.DataFrame(rows, columns=CHANGE_COLUMNS)


def _label(metric: str) -> str:
    return LABELS.get(metric, metric)


def history_figure(frame: pd.DataFrame, changes: pd.DataFrame, directory: Path, metric: str) -> FigureResult:
    """``history_<metric>.png``: the metric against commit, one line per cell and host."""
    name = f"history_{metric}"
    title = f"History: {_label(metric)} ({metric}) against commit"
    commits = commit_order(frame)
    positions = {commit: i for i, commit in enumerate(commits)}
    hosts = _hosts(frame)
    caption = (
        f"One line per cell{' and host' if len(hosts) > 1 else ''}, commits oldest first (x axis), each relative "
        "to its value at its oldest commit (1 = unchanged; the values are in the tables). "
        + ("Error bars: interquartile range of the timed repeats. " if metric.endswith("_s") else "")
        + "A red ring marks a change beyond noise from the commit before (see the table of changes)."
    )
    rows = frame[frame["ok"] & frame["git_commit"].notna()]
    rows = rows[np.isfinite(pd.to_numeric(rows[metric], errors="coerce").astype(float))]
    if rows.empty:
        return FigureResult(name, title, caption, None, f"no measured {metric}")
    iqr = metric.replace("_s", "_iqr_s") if metric.endswith("_s") else None
    marked = set()
    for change in changes[changes["metric"] == metric].to_dict("records"):
        marked.add((change["host"], change["commit"], change["cell"]))
    fig, ax = plt.subplots(figsize=(9, 5), layout="constrained")
    lines = 0
    keyed = rows.assign(_cell=[cell_key(r) for r in rows.to_dict("records")])
    series = list(keyed.groupby(["_cell", keyed["hostname"].fillna("(not recorded)")], sort=True))
    if len(series) > MAX_LINES:  # past this no line can be followed: the first ones, the rest in the tables
        caption += f" {MAX_LINES} of {len(series)} cells drawn; every cell's values are in the tables."
        series = series[:MAX_LINES]
    for (_key, host), cells in series:
        cells = cells.assign(_x=cells["git_commit"].astype(str).map(positions))
        cells = cells.sort_values("_x")
        named = cell_label(cells.iloc[0].to_dict())
        label = named + (f" @ {host}" if len(hosts) > 1 else "")
        # each cell relative to its oldest measurement, so cells of any size share the axis
        first = float(cells[metric].iloc[0]) or 1.0
        y = cells[metric].astype(float) / first
        yerr = cells[iqr].astype(float) / first / 2 if iqr and iqr in cells and cells[iqr].notna().any() else None
        ax.errorbar(cells["_x"], y, yerr=yerr, marker="o", markersize=4, linewidth=1.2, capsize=3, label=label)
        lines += 1
        ring = [
            (x, v)
            for x, v, commit in zip(cells["_x"], y, cells["git_commit"])
            if (host, _short(commit), named) in marked
        ]
        if ring:
            xs, ys = zip(*ring)
            ax.scatter(xs, ys, s=160, facecolors="none", edgecolors="red", linewidths=1.8, zorder=5)
    ax.set_xticks(range(len(commits)), [_short(c) for c in commits], rotation=30, ha="right", fontsize="small")
    ax.set_xlabel("commit (oldest first)")
    ax.set_ylabel(f"{_label(metric)}\nrelative to the oldest commit")
    ax.axhline(1.0, color="grey", linewidth=0.8, linestyle=":")
    ax.set_title(title, fontsize="medium")
    ax.grid(True, alpha=0.3)
    if lines <= MAX_LEGEND:
        ax.legend(fontsize="x-small", loc="upper center", bbox_to_anchor=(0.5, -0.25), ncol=2)
    else:
        caption += f" {lines} lines: legend left out."
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{name}.png"
    from neural_ode.storage.writer import write_figure

    write_figure(fig, path, dpi=110)
    plt.close(fig)
    return FigureResult(name, title, caption, path)


def history_figures(frame: pd.DataFrame, changes: pd.DataFrame, directory: Path) -> list[FigureResult]:
    """A history figure of every metric with data, when the results hold two commits or more."""
    if len(commit_order(frame)) < 2:
        return []
    with figure_theme():
        return [history_figure(frame, changes, Path(directory), m) for m in HISTORY_METRICS if has_data(frame, m)]
