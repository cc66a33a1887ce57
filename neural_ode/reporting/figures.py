"""The report's figures: one function per figure, each a PNG under ``figures/``.

Every function takes a prepared frame (:func:`neural_ode.reporting.columns.prepare`) and the
figures directory, and returns a :class:`FigureResult`; when the data lacks what a figure
needs, no file is written and the result carries a note saying why. Figures are drawn on
:class:`matplotlib.figure.Figure` objects (no pyplot, no global backend change) with
seaborn's styles and palettes.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import matplotlib as mpl
import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

from neural_ode.reporting.claims import HALF_BAND
from neural_ode.reporting.columns import (
    LINE_KEYS,
    MB,
    MEMORY_METRICS,
    TIME_METRICS,
    has_data,
    line_label,
    measured,
    metric_label,
    varying,
)
from neural_ode.reporting.growth import fit_growth
from neural_ode.reporting.outputs_figures import outputs_figure

DPI = 110
MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*", "<", ">", "h", "p")
LINESTYLES = ("-", "--", "-.", ":")
KIND_AXIS = {False: "depth L̃: fixed-grid steps", True: "depth L̃: forward NFE (adaptive solver)"}
KIND_TITLE = {False: "fixed-grid solvers", True: "adaptive solvers"}


@dataclass(frozen=True)
class FigureResult:
    """One figure of the report.

    Attributes:
        name: file stem under ``figures/`` (``<name>.png``).
        title: heading of the figure in the report.
        caption: what the figure shows and how to read it.
        path: the PNG written, None when the figure was skipped.
        note: why the figure was skipped (None when it was drawn).
    """

    name: str
    title: str
    caption: str
    path: Path | None = None
    note: str | None = None


class Style:
    """Colour and line style by method (direct solid), marker by solver and other keys; same in every figure."""

    def __init__(self, frame: pd.DataFrame):
        methods = sorted(frame["method"].dropna().unique(), key=lambda m: (m != "direct", str(m)))
        self.colors = dict(zip(methods, sns.color_palette("colorblind", max(len(methods), 1)), strict=False))
        self.linestyles = {m: LINESTYLES[i % len(LINESTYLES)] for i, m in enumerate(methods)}
        # markers shrink with the method's rank, so coinciding points of two methods show as rings
        self.sizes = {m: max(8.0 - 1.8 * i, 3.5) for i, m in enumerate(methods)}
        self.ranks = {m: i for i, m in enumerate(methods)}
        self.variants: dict[str, int] = {}

    def color(self, method):
        """The colour of ``method``."""
        return self.colors.get(method, "0.4")

    def linestyle(self, method) -> str:
        """The line style of ``method`` (so that lines of two methods that coincide both show)."""
        return self.linestyles.get(method, "-")

    def size(self, method) -> float:
        """The marker size of ``method`` (points)."""
        return self.sizes.get(method, 5.0)

    def zorder(self, method) -> float:
        """Drawing order: smaller markers above larger ones."""
        return 2.0 + 0.1 * self.ranks.get(method, len(self.ranks))

    def marker(self, variant: str) -> str:
        """The marker of a variant (solver and other varying keys), stable within a report."""
        index = self.variants.setdefault(variant, len(self.variants))
        return MARKERS[index % len(MARKERS)]


def _theme():
    style = dict(sns.axes_style("whitegrid"))
    style.update(sns.plotting_context("notebook", font_scale=0.9))
    return mpl.rc_context(style)


def _plain(value: float, _pos=None) -> str:
    return f"{value:g}" if value > 0 and math.isfinite(value) else ""


def _power(value: float, _pos=None) -> str:
    if value <= 0 or not math.isfinite(value):
        return ""
    exponent = math.floor(math.log10(value) + 1e-9)
    mantissa = value / 10**exponent
    return f"$10^{{{exponent}}}$" if math.isclose(mantissa, 1) else f"${mantissa:g}\\times10^{{{exponent}}}$"


def log_axes(ax, x: bool = True, y: bool = True) -> None:
    """Log scale with readable ticks: denser within a decade, powers of ten only over many decades.

    Numbers between 0.01 and 10**5 are printed plainly, anything else as powers of ten, never
    mixed on one axis.
    """
    bounds = ax.dataLim
    for on, axis, set_scale, (lo, hi) in (
        (x, ax.xaxis, ax.set_xscale, (bounds.x0, bounds.x1)),
        (y, ax.yaxis, ax.set_yscale, (bounds.y0, bounds.y1)),
    ):
        if not on:
            continue
        set_scale("log")
        finite = lo > 0 and hi > 0 and math.isfinite(lo) and math.isfinite(hi)
        decades = math.log10(hi / lo) if finite else 10.0
        if decades > 3.0:
            subs = (1.0,)
        elif decades > 1.0:
            subs = (1.0, 2.0, 5.0)
        elif decades > 0.5:
            subs = (1.0, 1.5, 2.0, 3.0, 5.0, 7.0)
        else:
            subs = (1.0, 1.2, 1.5, 2.0, 2.5, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0)
        axis.set_major_locator(LogLocator(base=10, subs=subs))
        plain = finite and lo >= 0.01 and hi < 1e5
        axis.set_major_formatter(FuncFormatter(_plain if plain else _power))
        axis.set_minor_formatter(NullFormatter())


def _save(fig: Figure, directory: Path, name: str) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{name}.png"
    fig.savefig(path, dpi=DPI)
    return path


def _skip(name: str, title: str, caption: str, why: str) -> FigureResult:
    return FigureResult(name=name, title=title, caption=caption, path=None, note=why)


def _line_groups(rows: pd.DataFrame, frame: pd.DataFrame, extra=()):
    """Lines of ``rows``: (label, method, cells) with the label naming what varies in ``frame``."""
    keys = [*LINE_KEYS, *extra]
    shown = ["method", "solver", *varying(frame, keys=keys, exclude=("method", "solver"))]
    for values, cells in rows.groupby(keys, dropna=False, sort=True):
        line = dict(zip(keys, values, strict=True))
        variant = line_label(line, [k for k in shown if k != "method"])
        yield line_label(line, shown), line["method"], variant, cells


def _draw_line(ax, style: Style, method, variant, label, x, y, connect: bool = True) -> None:
    ax.plot(
        x,
        y,
        color=style.color(method),
        marker=style.marker(variant),
        linestyle=style.linestyle(method) if connect else "none",
        markersize=style.size(method),
        zorder=style.zorder(method),
        linewidth=1.4,
        label=str(label).replace("$", r"\$"),  # a name from a result file is text, never mathtext
    )


def _legend(ax) -> None:
    """The legend below the axes (never over the data), in columns when it is long."""
    handles = ax.get_legend_handles_labels()[0]
    if not handles:
        return
    columns = 1 if len(handles) <= 3 else (2 if len(handles) <= 10 else 3)
    ax.legend(
        fontsize="x-small",
        framealpha=0.85,
        loc="upper center",
        bbox_to_anchor=(0.5, -0.16),
        ncol=columns,
        borderaxespad=0.0,
    )


def _kinds(rows: pd.DataFrame) -> list[bool]:
    return [kind for kind in (False, True) if (rows["adaptive"] == kind).any()]


def memory_figure(frame: pd.DataFrame, directory: Path, metric: str, style: Style) -> FigureResult:
    """Memory ``metric`` against depth, log-log, one line per method × solver with its fitted exponent."""
    name = f"memory_{metric.removesuffix('_bytes')}"
    title = f"Memory against depth: {metric_label(metric)}"
    caption = (
        f"{metric_label(metric)} against depth L̃ on log-log axes, one line per gradient method and solver. "
        "The legend gives each line's fitted growth exponent k (memory ≈ c·L̃^k): the paper expects k ≈ 1 for "
        "direct backpropagation and k ≈ 0 for the adjoint. Depth is the number of steps for fixed-grid "
        "solvers and the forward NFE for adaptive ones."
    )
    rows = measured(frame, "depth", metric)
    rows = rows[(rows["depth"] > 0) & (rows[metric] > 0)]
    if rows.empty:
        return _skip(name, title, caption, f"no cell with both a depth and {metric} measured")
    kinds = _kinds(rows)
    with _theme():
        fig = Figure(figsize=(6.2 * len(kinds), 5.8), layout="constrained")
        axes = fig.subplots(1, len(kinds), squeeze=False)[0]
        for ax, kind in zip(axes, kinds, strict=True):
            part = rows[rows["adaptive"] == kind]
            for label, method, variant, cells in _line_groups(part, frame):
                fit = fit_growth(cells["depth"], cells[metric])  # on every cell, as the claims table fits
                cells = cells.groupby("depth", as_index=False)[metric].mean()
                slope = f"k = {fit.exponent:.2f}" if fit else "k: one depth only"
                _draw_line(ax, style, method, variant, f"{label} ({slope})", cells["depth"], cells[metric] / MB)
            log_axes(ax)
            ax.set_xlabel(KIND_AXIS[kind])
            ax.set_ylabel(metric_label(metric))
            ax.set_title(KIND_TITLE[kind])
            _legend(ax)
        fig.suptitle(f"{metric_label(metric)} against depth (log-log)")
        return FigureResult(name, title, caption, _save(fig, directory, name))


def memory_figures(frame: pd.DataFrame, directory: Path, style: Style) -> list[FigureResult]:
    """One memory figure per memory metric with data (a single skipped result when none has)."""
    results = [memory_figure(frame, directory, m, style) for m in MEMORY_METRICS if has_data(frame, m)]
    if not results:
        caption = "Memory against depth, one figure per memory metric measured."
        return [_skip("memory", "Memory against depth", caption, "no memory metric was measured")]
    return results


def time_figure(frame: pd.DataFrame, directory: Path, style: Style) -> FigureResult:
    """Forward, backward and total time against depth, log-log, per method × solver."""
    name, title = "time_vs_depth", "Time against depth"
    caption = (
        "Median wall time of the forward pass, the backward pass and both, against depth L̃ (log-log). "
        "Legends give each line's fitted growth exponent k (time ≈ c·L̃^k); the paper expects k ≈ 1 for every "
        "method. Rows: fixed-grid solvers (depth = steps) and adaptive solvers (depth = forward NFE)."
    )
    metrics = [m for m in TIME_METRICS if has_data(frame, m)]
    rows = measured(frame, "depth")
    rows = rows[rows["depth"] > 0]
    rows = rows[rows[metrics].notna().any(axis=1)] if metrics else rows.iloc[0:0]
    if rows.empty:
        return _skip(name, title, caption, "no cell with both a depth and a measured time")
    kinds = _kinds(rows)
    with _theme():
        fig = Figure(figsize=(5.2 * len(metrics), 5.4 * len(kinds)), layout="constrained")
        axes = fig.subplots(len(kinds), len(metrics), squeeze=False)
        for r, kind in enumerate(kinds):
            part = rows[rows["adaptive"] == kind]
            for c, metric in enumerate(metrics):
                ax = axes[r][c]
                for label, method, variant, cells in _line_groups(part, frame):
                    cells = cells[np.isfinite(cells[metric]) & (cells[metric] > 0)]
                    if cells.empty:
                        continue
                    fit = fit_growth(cells["depth"], cells[metric])  # on every cell, as the claims table fits
                    cells = cells.groupby("depth", as_index=False)[metric].median()
                    slope = f"k = {fit.exponent:.2f}" if fit else "one depth"
                    _draw_line(ax, style, method, variant, f"{label} ({slope})", cells["depth"], cells[metric])
                log_axes(ax)
                ax.set_xlabel(KIND_AXIS[kind])
                ax.set_ylabel(f"{TIME_METRICS[metric]} time (s)")
                ax.set_title(f"{TIME_METRICS[metric]} — {KIND_TITLE[kind]}")
                _legend(ax)
        fig.suptitle("Median wall time against depth (log-log)")
        return FigureResult(name, title, caption, _save(fig, directory, name))


def nfe_figure(frame: pd.DataFrame, directory: Path, style: Style) -> FigureResult:
    """Backward NFE against forward NFE with the paper's backward ≈ ½ forward line (Figure 3c)."""
    name, title = "nfe_backward_vs_forward", "Backward NFE against forward NFE (paper's Figure 3c)"
    caption = (
        "Vector-field evaluations of the backward pass against those of the forward pass, one point per cell "
        "(log-log). The solid grey line is the paper's claim, backward = ½ forward; the dotted one is "
        f"backward = forward. The shaded band ({HALF_BAND[0]}–{HALF_BAND[1]}× forward) is what the claims "
        "table counts as 'about half'. Direct backpropagation evaluates the field zero times in the backward "
        "pass, so its cells (backward NFE = 0) cannot be drawn on log axes and are left out."
    )
    rows = measured(frame, "nfe_forward", "nfe_backward")
    rows = rows[(rows["nfe_forward"] > 0) & (rows["nfe_backward"] > 0)]
    if rows.empty:
        return _skip(name, title, caption, "no cell with a positive forward and backward NFE (only direct cells?)")
    with _theme():
        fig = Figure(figsize=(6.8, 6.4), layout="constrained")
        ax = fig.subplots()
        for label, method, variant, cells in _line_groups(rows, frame):
            kind = "adaptive" if cells["adaptive"].iloc[0] else "fixed grid"
            _draw_line(
                ax, style, method, variant, f"{label} ({kind})", cells["nfe_forward"], cells["nfe_backward"], False
            )
        lo = float(min(rows["nfe_forward"].min(), rows["nfe_backward"].min() * 2)) / 1.5
        hi = float(max(rows["nfe_forward"].max(), rows["nfe_backward"].max())) * 1.5
        x = np.geomspace(lo, hi, 50)
        ax.fill_between(x, HALF_BAND[0] * x, HALF_BAND[1] * x, color="0.85", alpha=0.6, zorder=0)
        ax.plot(x, 0.5 * x, color="0.35", linewidth=1.6, zorder=1, label="paper: backward = ½ forward")
        ax.plot(x, x, color="0.55", linestyle=":", linewidth=1.2, zorder=1, label="backward = forward")
        log_axes(ax)
        ax.set_xlabel("forward NFE (evaluations)")
        ax.set_ylabel("backward NFE (evaluations)")
        ax.set_title("Backward against forward NFE (log-log)")
        _legend(ax)
        return FigureResult(name, title, caption, _save(fig, directory, name))


def _adaptive(frame: pd.DataFrame, *columns: str) -> pd.DataFrame:
    rows = measured(frame, *columns)
    return rows[rows["adaptive"]]


def tolerance_figure(frame: pd.DataFrame, directory: Path, style: Style) -> FigureResult:
    """Forward NFE against tolerance for adaptive solvers (paper's Figure 3a), one panel per horizon."""
    name, title = "tolerance_vs_nfe", "Tolerance against NFE, adaptive solvers (paper's Figure 3a)"
    caption = (
        "Forward NFE of adaptive solvers against their relative tolerance rtol (log-log; atol as set per cell), "
        "one line per method and solver, one panel per integration horizon. The paper's Figure 3a: tighter "
        "tolerance (smaller error) costs more evaluations. The x axis runs from loose to tight."
    )
    rows = _adaptive(frame, "rtol", "nfe_forward", "horizon")
    rows = rows[(rows["rtol"] > 0) & (rows["nfe_forward"] > 0)]
    horizons = [h for h, cells in rows.groupby("horizon") if cells["rtol"].nunique() > 1]
    if not horizons:
        return _skip(name, title, caption, "no adaptive solver measured at two or more tolerances")
    with _theme():
        fig = Figure(figsize=(6.2 * len(horizons), 5.6), layout="constrained")
        axes = fig.subplots(1, len(horizons), squeeze=False)[0]
        for ax, horizon in zip(axes, horizons, strict=True):
            part = rows[rows["horizon"] == horizon]
            for label, method, variant, cells in _line_groups(part, frame):
                cells = cells.groupby("rtol", as_index=False)["nfe_forward"].median().sort_values("rtol")
                _draw_line(ax, style, method, variant, label, cells["rtol"], cells["nfe_forward"])
            log_axes(ax)
            ax.invert_xaxis()
            ax.set_xlabel("relative tolerance rtol (loose → tight)")
            ax.set_ylabel("forward NFE (evaluations)")
            ax.set_title(f"horizon t1 = {horizon:g}")
            _legend(ax)
        fig.suptitle("Forward NFE against tolerance, adaptive solvers")
        return FigureResult(name, title, caption, _save(fig, directory, name))


def nfe_time_figure(frame: pd.DataFrame, directory: Path, style: Style) -> FigureResult:
    """Time against NFE for adaptive solvers (paper's Figure 3b): forward, and forward + backward."""
    name, title = "nfe_vs_time", "NFE against time, adaptive solvers (paper's Figure 3b)"
    caption = (
        "Left: median forward wall time against forward NFE. Right: forward + backward time against the NFE "
        "of both passes. One point per adaptive cell (log-log), coloured by method, marked by solver. The "
        "paper's Figure 3b: time grows with NFE, so NFE is the cost to watch."
    )
    panels = [
        ("nfe_forward", "time_forward_s", "forward NFE (evaluations)", "forward time (s)", "forward pass"),
        ("nfe_total", "time_total_s", "forward + backward NFE (evaluations)", "forward + backward time (s)", "both"),
    ]
    rows = _adaptive(frame, "nfe_forward")
    rows = rows.assign(nfe_total=rows["nfe_forward"] + rows["nfe_backward"])
    panels = [p for p in panels if not measured(rows, p[0], p[1]).empty]
    if not panels:
        return _skip(name, title, caption, "no adaptive cell with both NFE and time measured")
    with _theme():
        fig = Figure(figsize=(6.0 * len(panels), 5.6), layout="constrained")
        axes = fig.subplots(1, len(panels), squeeze=False)[0]
        for ax, (x, y, xlabel, ylabel, what) in zip(axes, panels, strict=True):
            part = measured(rows, x, y)
            part = part[(part[x] > 0) & (part[y] > 0)]
            for label, method, variant, cells in _line_groups(part, frame):
                cells = cells.sort_values(x)
                _draw_line(ax, style, method, variant, label, cells[x], cells[y], connect=False)
            log_axes(ax)
            ax.set_xlabel(xlabel)
            ax.set_ylabel(ylabel)
            ax.set_title(f"{what}: time against NFE")
            _legend(ax)
        fig.suptitle("Wall time against NFE, adaptive solvers (log-log)")
        return FigureResult(name, title, caption, _save(fig, directory, name))


def work_precision_figure(frame: pd.DataFrame, directory: Path, style: Style) -> FigureResult:
    """Work-precision diagram: forward+backward time against gradient error, per solver and method."""
    name, title = "work_precision", "Work-precision: gradient error against time"
    time_column = "time_total_min_s" if has_data(frame, "time_total_min_s") else "time_total_s"
    which = "minimum" if time_column == "time_total_min_s" else "median"
    caption = (
        "Relative L2 error of dL/dθ against a float64 reference (x, log) and the forward + backward wall time "
        f"({which} over repeats; y, log), as SciMLBenchmarks draws work-precision diagrams. One line per method "
        "and solver across its tolerance sweep (adaptive) or step counts (fixed grid), at one horizon. Lower "
        "left is better: less time for the same accuracy."
    )
    rows = measured(frame, "grad_rel_error", time_column)
    rows = rows[(rows["grad_rel_error"] > 0) & (rows[time_column] > 0)]
    if rows.empty:
        return _skip(name, title, caption, "no cell with both a gradient error and a time measured")
    with _theme():
        fig = Figure(figsize=(9.0, 6.6), layout="constrained")
        ax = fig.subplots()
        for label, method, variant, cells in _line_groups(rows, frame, extra=("horizon",)):
            knob = np.where(cells["adaptive"], -np.log10(cells["rtol"].astype(float)), cells["steps"].astype(float))
            cells = cells.assign(knob=knob).sort_values("knob")
            _draw_line(ax, style, method, variant, label, cells["grad_rel_error"], cells[time_column])
        log_axes(ax)
        ax.set_xlabel("relative error of the gradient dL/dθ (vs float64 reference)")
        ax.set_ylabel(f"forward + backward time, {which} (s)")
        ax.set_title("Work-precision diagram (log-log)")
        _legend(ax)
        return FigureResult(name, title, caption, _save(fig, directory, name))


#: every figure in report order (memory figures first; they expand to one per memory metric)
FIGURES: tuple[Callable[..., FigureResult | list[FigureResult]], ...] = (
    memory_figures,
    time_figure,
    nfe_figure,
    tolerance_figure,
    nfe_time_figure,
    work_precision_figure,
    outputs_figure,  # issue 10
)


def draw_all(frame: pd.DataFrame, directory: Path) -> list[FigureResult]:
    """Every figure of the report of a prepared ``frame``, written under ``directory``."""
    style = Style(frame)
    results: list[FigureResult] = []
    for draw in FIGURES:
        made = draw(frame, Path(directory), style)
        results.extend(made if isinstance(made, list) else [made])
    return results
