"""Cost against the number of output times (the ``outputs`` axis): a figure and the claims' condition.

torchdiffeq's ``odeint_adjoint`` keeps the state at every output time for its backward pass, and
its backward solve restarts at each of them; so the adjoint's memory is O(1) in depth only at a
fixed number of output times, and grows with them (torchdiffeq issue #259). The figure draws
memory, time and NFE against output count, one line per method x solver at a fixed depth (steps
or tolerance and horizon); :func:`outputs_claims` judges "adjoint memory is O(1) in the number of
output times" on the same lines, a claim the paper does not make but users assume.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from matplotlib.figure import Figure

from neural_ode.reporting.claims.growth import fit_growth
from neural_ode.reporting.claims.outputs import line_name as _label
from neural_ode.reporting.claims.outputs import outputs_lines
from neural_ode.reporting.columns import (
    MB,
    MEMORY_METRICS,
    has_data,
    metric_label,
)
from neural_ode.reporting.figures.base import FigureResult, legend_columns, log_axes
from neural_ode.reporting.figures.base import save as _save
from neural_ode.reporting.figures.base import skip as _skip
from neural_ode.reporting.figures.base import theme as _theme

NAME, TITLE = "outputs", "Memory, time and NFE against the number of output times"
CAPTION = (
    "Each line is one method × solver at a fixed depth (steps, or horizon and tolerance), with the loss on N "
    "output times evenly spaced in (0, T] (or the workload's own observation times). The adjoint keeps the "
    "state at every output time and restarts its backward solve at each: its memory and backward NFE grow "
    "with N, while direct backpropagation's memory follows the steps taken. A fixed-grid solve steps onto every "
    "output time, so outputs off the grid add steps. Legends give the share of the value at the most output "
    "times that the fitted slope explains (value ≈ intercept + slope·N)."
)


def outputs_figure(frame: pd.DataFrame, directory: Path, style) -> object:
    """Memory (each memory metric measured), forward+backward time and NFE against output count, log-log."""

    panels = [(m, m) for m in MEMORY_METRICS if has_data(frame, m)]
    panels += [(m, m) for m in ("time_total_s", "nfe_forward", "nfe_backward") if has_data(frame, m)]
    panels = [(m, label) for m, label in panels if outputs_lines(frame, m)]
    if not panels:
        return _skip(NAME, TITLE, CAPTION, "no line with two or more output counts (sweep --outputs)")
    with _theme():
        columns = min(len(panels), 3)
        rows = -(-len(panels) // columns)
        fig = Figure(figsize=(4.6 * columns, 4.0 * rows + 1.2), layout="constrained")
        axes = fig.subplots(rows, columns, squeeze=False).ravel()
        for ax in axes[len(panels) :]:
            ax.set_visible(False)
        for ax, (metric, _) in zip(axes, panels, strict=False):
            scale = MB if metric.endswith("_bytes") else 1.0
            for line, cells in outputs_lines(frame, metric):
                fit = fit_growth(cells["outputs"], cells[metric])
                points = cells.groupby("outputs", as_index=False)[metric].median()
                share = f"slope {fit.share:.0%} at {fit.depth_max:g}" if fit else ""
                slope = ("flat" if fit.growth == "flat" else share) if fit else ""
                method = line["method"]
                ax.plot(
                    points["outputs"],
                    points[metric] / scale,
                    color=style.color(method),
                    linestyle=style.linestyle(method),
                    marker="o",
                    label=f"{_label(line, frame)} ({slope})",
                )
            log_axes(ax)
            ax.set_xlabel("output times N")
            ax.set_ylabel(metric_label(metric))
            ax.set_title(metric)
        # one legend for every panel (the lines are the same in each), below them, never over data
        handles = axes[0].get_legend_handles_labels()[0]
        if handles:
            fig.legend(
                handles=handles, loc="outside lower center", ncol=legend_columns(fig, handles), fontsize="small",
                frameon=False,
            )  # fmt: skip
        fig.suptitle(TITLE + " (log-log)")
        return FigureResult(NAME, TITLE, CAPTION, _save(fig, directory, NAME))
