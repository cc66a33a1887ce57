"""Figures against depth L̃: memory (one figure per memory metric) and wall time, with fitted slopes' shares.

One panel per solver family (fixed grid: depth = steps; adaptive: depth = forward NFE). Time
points carry error bars from the minimum to the maximum over the timed repeats.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from neural_ode.methods.laws import law_of
from neural_ode.reporting.claims.growth import GrowthFit, fit_growth
from neural_ode.reporting.columns import MB, MEMORY_METRICS, TIME_METRICS, has_data, measured, metric_label
from neural_ode.reporting.figures.base import (
    KIND_AXIS,
    KIND_TITLE,
    FigureResult,
    Style,
    coincidence_text,
    coinciding,
    draw_line,
    kinds,
    legend_below,
    line_groups,
    log_axes,
    save,
    skip,
    spread,
    theme,
)


def memory_figure(frame: pd.DataFrame, directory: Path, metric: str, style: Style) -> FigureResult:
    """Memory ``metric`` against depth, log-log, one line per method × solver with its fitted slope's share."""
    name = f"memory_{metric.removesuffix('_bytes')}"
    title = f"Memory against depth: {metric_label(metric)}"
    caption = (
        f"{metric_label(metric)} against depth L̃ on log-log axes, one line per gradient method and solver. "
        "The legend gives each line's growth in the unit of its method's memory law (forward evaluations for "
        "direct, accepted steps for aca, segments or steps per segment for checkpoint, whose memory grows like "
        "sqrt(N) in steps): the share of the value at the deepest depth that the fitted slope explains (slope x "
        "depth over the fitted value; the slope itself, per unit, with its 95 % interval, is in fits.csv and the "
        "growth table), or `flat` where memory grows by under 5 % over the depths measured. Depth is the number "
        "of steps for fixed-grid solvers and the forward NFE for adaptive ones. Lines that coincide are named at "
        "the foot of the panel."
    )
    rows = measured(frame, "depth", metric)
    rows = rows[(rows["depth"] > 0) & (rows[metric] > 0)]
    if rows.empty:
        return skip(name, title, caption, f"no cell with both a depth and {metric} measured")
    present = kinds(rows)
    with theme():
        fig = Figure(figsize=(6.2 * len(present), 5.8), layout="constrained")
        axes = fig.subplots(1, len(present), squeeze=False)[0]
        for ax, kind in zip(axes, present, strict=True):
            part = rows[rows["adaptive"] == kind]
            drawn = {}
            for label, method, variant, cells in line_groups(part, frame):
                slope = _law_label(cells, metric, method)  # on every cell, as the claims table fits
                cells = cells.groupby("depth", as_index=False)[metric].mean()
                _x, _y = cells["depth"], cells[metric] / MB
                draw_line(ax, style, method, variant, f"{label} ({slope})", _x, _y)
                drawn[label] = (_x, _y)
            log_axes(ax)
            ax.set_xlabel(KIND_AXIS[kind])
            ax.set_ylabel(metric_label(metric))
            ax.set_title(KIND_TITLE[kind])
            legend_below(ax, note=coincidence_text(coinciding(drawn)))
        fig.suptitle(f"{metric_label(metric)} against depth (log-log)")
        return FigureResult(name, title, caption, save(fig, directory, name))


def _growth_text(fit: GrowthFit, unit: str | None = None) -> str:
    """``flat`` where the line grows by under 5 % over its depths, else the slope's share of the value at the
    deepest depth (``slope 97 % at 32``, ``per <unit>``): the fitted slope and its interval are in fits.csv."""
    if fit.growth == "flat":
        return "flat"
    return f"slope {fit.share:.0%} at {fit.depth_max:g}" + (f" {unit}" if unit else "")


def _law_label(cells: pd.DataFrame, metric: str, method) -> str:
    """A memory line's growth in the unit of its method's law (in depth for a method without one)."""
    law = law_of(method)
    adaptive = bool(cells["adaptive"].iloc[0])
    if law is None:
        fit, unit = fit_growth(cells["depth"], cells[metric]), None
    else:
        depth = law.depth(metric, cells["steps"], cells["nfe_forward"], cells["adaptive"])
        fit, unit = fit_growth(depth, cells[metric]), law.unit(metric, adaptive)
        unit = None if unit in ("steps", "forward NFE") else unit
    return _growth_text(fit, unit) if fit else "k: one depth only"


def memory_figures(frame: pd.DataFrame, directory: Path, style: Style) -> list[FigureResult]:
    """One memory figure per memory metric with data (a single skipped result when none has)."""
    results = [memory_figure(frame, directory, m, style) for m in MEMORY_METRICS if has_data(frame, m)]
    if not results:
        caption = "Memory against depth, one figure per memory metric measured."
        return [skip("memory", "Memory against depth", caption, "no memory metric was measured")]
    return results


def _time_panel(ax, part: pd.DataFrame, frame: pd.DataFrame, metric: str, style: Style) -> str | None:
    drawn = {}
    for label, method, variant, cells in line_groups(part, frame):
        cells = cells[np.isfinite(cells[metric]) & (cells[metric] > 0)]
        if cells.empty:
            continue
        fit = fit_growth(cells["depth"], cells[metric])  # on every cell, as the claims table fits
        cells = cells.sort_values("depth").groupby("depth", as_index=False).median(numeric_only=True)
        slope = _growth_text(fit) if fit else "one depth"
        x, y = cells["depth"], cells[metric] * 1e3
        draw_line(ax, style, method, variant, f"{label} ({slope})", x, y, yerr=spread(cells, metric, 1e-3))
        drawn[label] = (x, y)
    log_axes(ax)
    return coincidence_text(coinciding(drawn))


def time_figure(frame: pd.DataFrame, directory: Path, style: Style) -> FigureResult:
    """Forward, backward and total time against depth, log-log, per method × solver, with min–max bars."""
    name, title = "time_vs_depth", "Time against depth"
    caption = (
        "Median wall time (ms) of the forward pass, the backward pass and both, against depth L̃ (log-log); "
        "error bars span the minimum to the maximum over the timed repeats (for the total: the sums of the "
        "forward and backward minima and maxima). Legends give the share of each line's time at its "
        "deepest depth that its fitted slope explains (time ≈ intercept + slope·L̃; the paper expects time O(L̃) for "
        "every method). Rows: fixed-grid solvers (depth = steps) "
        "and adaptive solvers (depth = forward NFE)."
    )
    metrics = [m for m in TIME_METRICS if has_data(frame, m)]
    rows = measured(frame, "depth")
    rows = rows[rows["depth"] > 0]
    rows = rows[rows[metrics].notna().any(axis=1)] if metrics else rows.iloc[0:0]
    if rows.empty:
        return skip(name, title, caption, "no cell with both a depth and a measured time")
    present = kinds(rows)
    with theme():
        fig = Figure(figsize=(5.2 * len(metrics), 5.6 * len(present)), layout="constrained")
        axes = fig.subplots(len(present), len(metrics), squeeze=False)
        for r, kind in enumerate(present):
            part = rows[rows["adaptive"] == kind]
            for c, metric in enumerate(metrics):
                ax = axes[r][c]
                note = _time_panel(ax, part, frame, metric, style)
                ax.set_xlabel(KIND_AXIS[kind])
                ax.set_ylabel(f"{TIME_METRICS[metric]} time (ms)")
                ax.set_title(f"{TIME_METRICS[metric]} — {KIND_TITLE[kind]}")
                legend_below(ax, note=note)
        fig.suptitle("Median wall time against depth (log-log; bars: min–max over repeats)")
        return FigureResult(name, title, caption, save(fig, directory, name))


__all__ = ["memory_figure", "memory_figures", "time_figure"]
