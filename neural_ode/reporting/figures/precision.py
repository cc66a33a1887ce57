"""Work-precision figures: gradient error against time, and against peak memory.

One panel per problem (workload, horizon, sizes: :data:`neural_ode.reporting.tables.choices.PROBLEM_KEYS`)
and solver family, so that fixed-grid lines (whose errors sit together near the float32 floor)
do not pile onto adaptive ones. One line per method and solver across its step counts or
tolerances; each point is labelled with its setting (steps, or rtol). The grey band-line is the
panel's Pareto front, the cells :mod:`neural_ode.reporting.tables.choices` picks from. Time points carry
min–max bars over the timed repeats. One short legend for the whole figure: colour = method,
marker = solver.
"""

from __future__ import annotations

import math
import textwrap
from pathlib import Path

import pandas as pd
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from neural_ode.reporting.columns import MB, wrong_gradients
from neural_ode.reporting.figures.base import (
    KIND_TITLE,
    FigureResult,
    Style,
    coincidence_text,
    coinciding,
    draw_line,
    draw_wrong_gradients,
    figure_legend,
    kinds,
    knob_text,
    label_points,
    line_groups,
    log_axes,
    save,
    skip,
    spread,
    theme,
    wrong_gradient_handle,
)
from neural_ode.reporting.tables.choices import candidates, cost, pareto_front, problem_keys
from neural_ode.reporting.tables.decisions import problem_text

#: criterion -> (figure name, title, y label, scale of value, what the y axis shows)
PRECISION = {
    "time": ("work_precision", "Work-precision: gradient error against time", "forward + backward time (ms)", 1e-3),
    "memory": ("memory_precision", "Memory-precision: gradient error against peak memory", "peak memory (MB)", MB),
}


def _panels(rows: pd.DataFrame) -> list[tuple[dict, bool, pd.DataFrame]]:
    keys = problem_keys(rows)
    out = []
    for values, cells in rows.groupby(keys, dropna=False, sort=True):
        problem = dict(zip(keys, values, strict=True))
        out += [(problem, kind, cells[cells["adaptive"] == kind]) for kind in kinds(cells)]
    return out


def _panel(ax, part: pd.DataFrame, frame: pd.DataFrame, criterion: str, style: Style) -> tuple[set, list]:
    scale = PRECISION[criterion][3]
    methods, variants, drawn, labels = set(), [], {}, []
    wrong, part = part[part["_wrong"]], part[~part["_wrong"]]
    front = pareto_front(part).sort_values("grad_rel_error")
    ax.step(
        front["grad_rel_error"], front["value"] / scale, where="post", color="0.55", linewidth=5, alpha=0.35,
        zorder=1, solid_capstyle="round",
    )  # fmt: skip
    for label, method, variant, cells in line_groups(part, frame):
        knob = cells["rtol"].where(cells["adaptive"], -cells["steps"].astype(float))
        cells = cells.assign(knob=-knob.astype(float)).sort_values("knob")
        error = spread(cells, "time_total_s", scale) if criterion == "time" else None
        y = cells["value"] / scale
        draw_line(ax, style, method, variant, label, cells["grad_rel_error"], y, yerr=error)
        drawn[label] = (cells["grad_rel_error"].to_numpy(), y.to_numpy())
        labels.append((cells["grad_rel_error"], y, [knob_text(c) for c in cells.to_dict("records")]))
        methods.add(method)
        variants.append(variant)
    if len(wrong):
        draw_wrong_gradients(ax, wrong["grad_rel_error"], wrong["value"] / scale)
    log_axes(ax)
    ax.margins(x=0.08, y=0.08)
    placed: list = []
    for x, y, texts in labels:
        label_points(ax, x.to_numpy(), y.to_numpy(), texts, placed)
    note = coincidence_text(coinciding(drawn))
    ax.set_xlabel("gradient error dL/dθ (relative, vs float64)" + (f"\n{note}" if note else ""))
    return methods, variants


def precision_figure(frame: pd.DataFrame, directory: Path, style: Style, criterion: str = "time") -> FigureResult:
    """Gradient error against the cost of ``criterion`` (``time`` or ``memory``), one panel per problem × family."""
    name, title, ylabel, _scale = PRECISION[criterion]
    what = "median forward + backward wall time" if criterion == "time" else "peak memory (CUDA peak, else CPU)"
    caption = (
        f"Relative L2 error of dL/dθ against a float64 reference (x, log) and the {what} (y, log), as "
        "SciMLBenchmarks draws work-precision diagrams; lower left is better. One panel per problem and solver "
        "family; one line per method and solver through its step counts or tolerances, each point labelled with "
        "its setting (steps for fixed-grid solvers, rtol for adaptive ones; a label is left out where it would "
        "overlap another). The wide grey line is the panel's Pareto front: the cells no other beats on both "
        "axes, from which choices.csv picks. A red cross is a cell whose gradient is wrong (status ok, gradient "
        "error far beyond what its solution error implies): drawn, never on a line, a front or a pick."
    )
    if criterion == "time":
        caption += " Bars span the minimum to the maximum over the timed repeats."
    rows = candidates(frame, criterion).assign(_wrong=False)
    wrong = wrong_gradients(frame)
    wrong = wrong.assign(value=cost(wrong, criterion).astype(float), _wrong=True)
    rows = pd.concat([rows, wrong[wrong["value"] > 0]]) if len(wrong) else rows
    rows = rows[rows["grad_rel_error"] > 0]
    if rows.empty:
        return skip(name, title, caption, f"no cell with both a gradient error and a {criterion} measured")
    panels = _panels(rows)
    columns = 2 if len(panels) > 1 else 1
    grid_rows = math.ceil(len(panels) / columns)
    with theme():
        fig = Figure(figsize=(6.4 * columns, 5.0 * grid_rows + 0.8), layout="constrained")
        axes = fig.subplots(grid_rows, columns, squeeze=False).ravel()
        methods, variants = set(), []
        for ax, (problem, kind, part) in zip(axes, panels, strict=False):
            found = _panel(ax, part, frame, criterion, style)
            methods |= found[0]
            variants += found[1]
            panel_title = f"{problem_text(problem, frame)}: {KIND_TITLE[kind]}"
            ax.set_title(textwrap.fill(panel_title, 62), fontsize="medium")  # a long problem wraps, never runs off
            ax.set_ylabel(ylabel)
        for ax in axes[len(panels) :]:
            ax.set_axis_off()
        front = Line2D([], [], color="0.55", linewidth=5, alpha=0.35, label="Pareto front")
        extra = [front, wrong_gradient_handle()] if rows["_wrong"].any() else [front]
        figure_legend(fig, style, methods, variants, extra=extra)
        fig.suptitle(f"{title} (log-log)")
        return FigureResult(name, title, caption, save(fig, directory, name))


def work_precision_figure(frame: pd.DataFrame, directory: Path, style: Style) -> FigureResult:
    """Work-precision diagram: forward + backward median time against gradient error."""
    return precision_figure(frame, directory, style, "time")


def memory_precision_figure(frame: pd.DataFrame, directory: Path, style: Style) -> FigureResult:
    """Memory-precision diagram: peak memory against gradient error."""
    return precision_figure(frame, directory, style, "memory")


__all__ = ["PRECISION", "memory_precision_figure", "precision_figure", "work_precision_figure"]
