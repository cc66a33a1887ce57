"""The training benchmark's figures, from the frames of :mod:`neural_ode.apps.training.bench_tables`; nothing is re-run.

One colour per gradient method, solid for the looser tolerance (or coarser grid), dashed for the
tighter; lines are medians over seeds, bands their minimum to maximum; every legend sits below
its panels, over no data.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

from neural_ode.apps.training.bench_tables import SMOOTH
from neural_ode.measuring import RESOLUTION_FACTOR
from neural_ode.reporting import DPI, figure_theme
from neural_ode.storage import write_figure

#: points of the common time axis the seeds' losses are interpolated onto
TIME_POINTS = 200
LINESTYLES = ("-", "--", ":", "-.")


def _styles(runs: pd.DataFrame) -> dict[str, dict]:
    """Configuration label -> line style (colour by method, dash by tolerance level within it), in plan order."""
    methods = list(dict.fromkeys(runs["method"]))
    colours = dict(zip(methods, sns.color_palette("tab10", n_colors=max(len(methods), 1)), strict=False))
    styles = {}
    for method, group in runs.groupby("method", sort=False):
        level = group.assign(order=group["rtol"].fillna(-group["steps"].astype(float)))
        labels = list(dict.fromkeys(level.sort_values("order", ascending=False)["label"]))
        for i, label in enumerate(labels):
            styles[label] = {"color": colours[method], "linestyle": LINESTYLES[i % len(LINESTYLES)]}
    return {label: styles[label] for label in dict.fromkeys(runs["label"])}


def _log_y(ax, values) -> None:
    """A log y axis over more than a decade of ``values``, ticks at whole decades (1, 2, 5 x 10^k over
    fewer than four), written as plain numbers (the theme shows no mathtext); linear over less."""
    finite = np.asarray([v for v in values if np.isfinite(v) and v > 0])
    if len(finite) == 0 or finite.max() / finite.min() < 10:
        return
    ax.set_yscale("log")
    decades = np.log10(finite.max() / finite.min())
    ax.yaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0) if decades < 4 else (1.0,)))
    ax.yaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}"))
    ax.yaxis.set_minor_formatter(NullFormatter())


def _band(ax, x, values: np.ndarray, style: dict, label: str) -> None:
    """Median line of ``values`` (seeds x points) with its min-max band (NaN where no seed has a value)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN columns: before the first trailing mean
        _draw_band(ax, x, values, style, label)


def _draw_band(ax, x, values: np.ndarray, style: dict, label: str) -> None:
    ax.plot(x, np.nanmedian(values, axis=0), label=label, linewidth=1.4, **style)
    if len(values) > 1:
        ax.fill_between(x, np.nanmin(values, axis=0), np.nanmax(values, axis=0), color=style["color"], alpha=0.15)


def _legend_below(fig, ax, rows_reserved: float = 0.16) -> None:
    handles, labels = ax.get_legend_handles_labels()
    if handles:
        fig.legend(handles, labels, loc="lower center", ncol=min(len(labels), 4), fontsize=8, frameon=False)
    fig.tight_layout(rect=(0, rows_reserved, 1, 1))


def _per_seed(group: pd.DataFrame, column: str) -> tuple[np.ndarray, np.ndarray]:
    """(iterations, seeds x iterations of ``column``), NaN past a seed's last iteration."""
    wide = group.pivot_table(index="iteration", columns="seed", values=column)
    return wide.index.to_numpy(), wide.to_numpy().T


def plot_loss(data: dict, task: str, targets, loss_name: str, path: Path) -> Path:
    """Training loss (trailing mean) against iterations (left) and training time (right)."""
    iterations, runs = data["iterations"], data["runs"]
    iterations, runs = iterations[iterations["task"] == task], runs[runs["task"] == task]
    styles = _styles(runs)
    with figure_theme(font_scale=1.0):
        fig, (left, right) = plt.subplots(1, 2, figsize=(14, 6.2), sharey=True)
        for label in styles:  # plan order
            group = iterations[iterations["label"] == label]
            if group.empty:
                continue
            x, values = _per_seed(group.dropna(subset=["smoothed_loss"]), "smoothed_loss")
            _band(left, x, values, styles[label], label)
            ends = group.groupby("seed")["elapsed_s"].max()
            grid = np.linspace(0.0, float(ends.min()), TIME_POINTS)
            curves = []
            for _seed, one in group.dropna(subset=["smoothed_loss"]).groupby("seed"):
                curves.append(np.interp(grid, one["elapsed_s"], one["smoothed_loss"], left=np.nan))
            _band(right, grid, np.array(curves), styles[label], label)
        for ax in (left, right):
            _log_y(ax, [*iterations["smoothed_loss"], *targets])
            for target in targets:
                ax.axhline(target, color="grey", linewidth=0.8, linestyle=":")
        left.set_xlabel("iteration")
        right.set_xlabel("training time (s, one core; up to the shortest seed's end)")
        left.set_ylabel(f"training loss, mean of the last {SMOOTH} iterations\n({loss_name})")
        left.set_title(f"{task}: loss against iterations (dotted: targets)")
        right.set_title(f"{task}: loss against training time")
        _legend_below(fig, left)
        write_figure(fig, path, dpi=DPI)
        plt.close(fig)
    return path


def plot_nfe(data: dict, task: str, path: Path) -> Path:
    """NFE per iteration over training, one panel per method (the paper's Figure 3d for each):
    forward (solid) and backward (dashed), one colour per tolerance level, medians over seeds."""
    iterations, runs = data["iterations"], data["runs"]
    iterations = iterations[iterations["task"] == task]
    methods = list(dict.fromkeys(runs[runs["task"] == task]["method"]))
    levels = sns.color_palette("dark", n_colors=4)
    with figure_theme(font_scale=1.0):
        columns = min(len(methods), 3) or 1
        rows = -(-len(methods) // columns) or 1
        fig, axes = plt.subplots(rows, columns, figsize=(5 * columns, 3.8 * rows + 0.8), squeeze=False, sharey=True)
        for ax, method in zip(axes.flat, methods):
            mine = iterations[iterations["method"] == method]
            for i, (label, group) in enumerate(mine.groupby("label", sort=False)):
                how = label.split(" ", 2)[2]
                for column, dash, name in (("nfe_forward", "-", "forward"), ("nfe_backward", "--", "backward")):
                    x, values = _per_seed(group, column)
                    ax.plot(x, np.median(values, axis=0), color=levels[i % 4], linestyle=dash, label=f"{how} {name}")
            ax.set_title(method)
            ax.set_xlabel("iteration")
            ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.22), ncol=2, frameon=False)
        for ax in axes.flat[len(methods) :]:
            ax.set_visible(False)
        axes[0, 0].set_ylabel("NFE per iteration (median over seeds)")
        fig.suptitle(f"{task}: NFE over training (forward solid, backward dashed)")
        fig.tight_layout()
        write_figure(fig, path, dpi=DPI)
        plt.close(fig)
    return path


def plot_gradient_error(data: dict, task: str, path: Path) -> Path:
    """Relative error of the training gradient against the float64 reference over training, per
    configuration, with the reference's resolution (its own error estimate x 10)."""
    checks, runs = data["checks"], data["runs"]
    checks = checks[checks["task"] == task]
    styles = _styles(runs[runs["task"] == task])
    with figure_theme(font_scale=1.0):
        fig, ax = plt.subplots(figsize=(10, 6.2))
        for label in styles:  # plan order
            group = checks[checks["label"] == label]
            if group.empty:
                continue
            x, values = _per_seed(group, "grad_rel_error")
            _band(ax, x, values, {**styles[label]}, label)
        if "ref_grad_error" in checks and checks["ref_grad_error"].notna().any():
            floor = RESOLUTION_FACTOR * float(checks["ref_grad_error"].max())
            if floor > 0:
                ax.axhline(floor, color="black", linewidth=0.8, linestyle=":", label="reference's resolution")
        _log_y(ax, [*checks["grad_rel_error"], *ax.get_ylim()])
        ax.set_xlabel("iteration")
        ax.set_ylabel("relative L2 error of the gradient\n(vs float64 reference, same parameters and batch)")
        ax.set_title(f"{task}: gradient error over training")
        _legend_below(fig, ax, rows_reserved=0.2)
        write_figure(fig, path, dpi=DPI)
        plt.close(fig)
    return path
