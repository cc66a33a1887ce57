"""Figures of the Section 3 report (curves): loss curves and the paper's Figure 3, from result tables.

Every function takes the tables of :mod:`neural_ode.apps.training.results` and writes one PNG;
nothing is re-run.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

from neural_ode.apps.training.results import TrainingResults
from neural_ode.reporting import DPI, figure_theme
from neural_ode.storage import write_figure


def run_labels(runs: pd.DataFrame) -> dict[str, str]:
    """Run name -> legend label (the model's label, with the status when the run failed)."""
    labels = {}
    for row in runs.itertuples():
        label = row.label
        if row.status != "ok":
            label = f"{label} [{row.status}, epoch {int(row.failed_epoch)}]"
        labels[row.run] = label
    return labels


def run_palette(runs: pd.DataFrame) -> dict[str, tuple]:
    """Legend label -> colour, the same in every figure (runs in their recorded order)."""
    labels = list(run_labels(runs).values())
    return dict(zip(labels, sns.color_palette("tab10", n_colors=max(len(labels), 1)), strict=False))


def _with_labels(frame: pd.DataFrame, runs: pd.DataFrame) -> pd.DataFrame:
    frame = frame.copy()
    frame["model"] = frame["run"].map(run_labels(runs))
    return frame


def _fractional_epoch(iterations: pd.DataFrame) -> pd.Series:
    """epoch - 1 + (position in the epoch) / (iterations in the epoch): an x axis in epochs."""
    groups = iterations.groupby(["run", "epoch"])
    position = groups.cumcount() + 1
    size = groups["iteration"].transform("size")
    return iterations["epoch"] - 1 + position / size


def _ode_runs(runs: pd.DataFrame, *, adjoint_only: bool = False) -> list[str]:
    if "config_method" not in runs:
        return []
    ode = runs[runs["config_method"].notna()]
    if adjoint_only:
        ode = ode[ode["config_method"].astype(str).str.startswith("adjoint")]
    return list(ode["run"])


def _plain_log_ticks(ax) -> None:
    """Log-scale y ticks at 1, 2, 5 x 10^k, written as plain numbers (0.5, 2, 30)."""
    ax.yaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
    ax.yaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}"))
    ax.yaxis.set_minor_formatter(NullFormatter())


def _empty(ax, text: str) -> None:
    ax.text(0.5, 0.5, text, ha="center", va="center", transform=ax.transAxes, wrap=True)
    ax.set_xticks([])
    ax.set_yticks([])


def _plot_loss_curves(results: TrainingResults, path: str | Path) -> Path:
    """Training loss per iteration (left) and test error per epoch (right), one line per run."""
    path = Path(path)
    fig, (left, right) = plt.subplots(1, 2, figsize=(14, 6.0))
    order = list(run_labels(results.runs).values())
    palette = run_palette(results.runs)
    iterations = _with_labels(results.iterations, results.runs)
    if len(iterations):
        iterations["epochs"] = _fractional_epoch(iterations)
        sns.lineplot(
            data=iterations, x="epochs", y="loss", hue="model", hue_order=order, palette=palette, ax=left, linewidth=1.2
        )
        left.set_yscale("log")
        _plain_log_ticks(left)
        left.set_xlabel("epoch")
        left.set_ylabel("training loss (cross-entropy, per iteration)")
        # one legend for both panels, below them, so that it covers no line
        handles, labels = left.get_legend_handles_labels()
        left.get_legend().remove()
        fig.legend(handles, labels, loc="lower center", ncol=min(len(labels), 4), fontsize=9, frameon=False)
    else:
        _empty(left, "no training iterations recorded")
    left.set_title("Training loss")
    epochs = _with_labels(results.epochs, results.runs)
    if len(epochs):
        epochs["test error (%)"] = 100 * epochs["test_error"]
        sns.lineplot(
            data=epochs,
            x="epoch",
            y="test error (%)",
            hue="model",
            hue_order=order,
            palette=palette,
            marker="o",
            ax=right,
            legend=False,
        )
        right.set_yscale("log")
        _plain_log_ticks(right)
        right.set_xlabel("epoch")
    else:
        _empty(right, "no epoch completed")
    right.set_title("Test error after each epoch")
    fig.tight_layout(rect=(0, 0.12, 1, 1))
    write_figure(fig, path, dpi=DPI)
    plt.close(fig)
    return path


def _plot_figure3(results: TrainingResults, path: str | Path) -> Path:
    """The paper's Figure 3 from measurements: four panels, (a) to (d).

    (a) forward NFE against the tolerance's numerical error (trained ODE-Net, test set);
    (b) forward wall time against forward NFE, per training iteration;
    (c) backward NFE against forward NFE per iteration of adjoint runs, with the paper's
    backward = forward / 2 line; (d) forward and backward NFE over training.
    """
    path = Path(path)
    fig, axes = plt.subplots(2, 2, figsize=(14, 11))
    labels = run_labels(results.runs)
    palette = run_palette(results.runs)
    _panel_a(axes[0, 0], _with_labels(results.tolerance, results.runs), palette)
    ode_runs = _ode_runs(results.runs)
    iterations = _with_labels(results.iterations[results.iterations["run"].isin(ode_runs)], results.runs)
    order = [labels[r] for r in ode_runs]
    _panel_b(axes[0, 1], iterations, order, palette)
    adjoint_runs = _ode_runs(results.runs, adjoint_only=True)
    adjoint = iterations[iterations["run"].isin(adjoint_runs)]
    _panel_c(axes[1, 0], adjoint, [labels[r] for r in adjoint_runs], palette)
    _panel_d(axes[1, 1], iterations, order, palette)
    fig.tight_layout(h_pad=2.5)
    write_figure(fig, path, dpi=DPI)
    plt.close(fig)
    return path


def _panel_a(ax, tolerance: pd.DataFrame, palette: dict) -> None:
    ax.set_title("(a) NFE forward vs numerical error (tolerance sweep)")
    if not len(tolerance):
        _empty(ax, "no finished ODE-Net run with an adaptive solver")
        return
    for model, sweep in tolerance.groupby("model", sort=False):
        # plotted point by point: two tolerances may share an NFE, which seaborn would average
        sweep = sweep.sort_values("tolerance", ascending=False)
        ax.plot(sweep["nfe_forward"], sweep["numerical_error"], marker="o", color=palette.get(model), label=model)
    for row in tolerance.itertuples():
        ax.annotate(
            f"tol {row.tolerance:.0e}: test error {100 * row.test_error:.1f}%",
            (row.nfe_forward, row.numerical_error),
            textcoords="offset points",
            xytext=(6, 3),
            fontsize=8,
        )
    ax.set_yscale("log")
    first = tolerance.iloc[0]
    ax.set_xlabel(f"forward NFE per batch ({int(first['images'])} test images)")
    ax.set_ylabel(f"relative error of the ODE block output\n(vs float64 dopri5 at {first['reference_tolerance']:.0e})")
    ax.legend(title=None, fontsize=9)


def _panel_b(ax, iterations: pd.DataFrame, order: list[str], palette: dict) -> None:
    ax.set_title("(b) NFE forward vs wall time, per training iteration")
    if not len(iterations):
        _empty(ax, "no ODE model trained")
        return
    frame = iterations.assign(time_ms=1000 * iterations["time_forward_s"])
    sns.scatterplot(
        data=frame, x="nfe_forward", y="time_ms", hue="model", hue_order=order, palette=palette, alpha=0.6, ax=ax
    )
    ax.set_xlabel("forward NFE")
    ax.set_ylabel("forward pass wall time (ms)")
    ax.legend(title=None, fontsize=9)


def _panel_c(ax, iterations: pd.DataFrame, order: list[str], palette: dict) -> None:
    ax.set_title("(c) NFE backward vs NFE forward (adjoint runs)")
    if not len(iterations):
        _empty(ax, "no adjoint run: direct backpropagation evaluates f 0 times backward")
        return
    counts = iterations.groupby(["model", "nfe_forward", "nfe_backward"]).size().rename("iterations").reset_index()
    sns.scatterplot(
        data=counts,
        x="nfe_forward",
        y="nfe_backward",
        hue="model",
        hue_order=order,
        palette=palette,
        size="iterations",
        sizes=(30, 250),
        alpha=0.7,
        ax=ax,
    )
    top = float(max(counts["nfe_forward"].max(), counts["nfe_backward"].max())) * 1.1
    line = np.array([0.0, top])
    ax.plot(line, line / 2, "k--", linewidth=1, label="backward = forward / 2 (paper)")
    ax.plot(line, line, color="grey", linestyle=":", linewidth=1, label="backward = forward")
    ax.set_xlim(0, top)
    ax.set_ylim(0, top)
    ax.set_xlabel("forward NFE per iteration")
    ax.set_ylabel("backward NFE per iteration")
    ax.legend(fontsize=8, loc="upper left")


def _panel_d(ax, iterations: pd.DataFrame, order: list[str], palette: dict) -> None:
    ax.set_title("(d) NFE over training")
    if not len(iterations):
        _empty(ax, "no ODE model trained")
        return
    frame = iterations.assign(epochs=_fractional_epoch(iterations))
    long = frame.melt(
        id_vars=["model", "epochs"], value_vars=["nfe_forward", "nfe_backward"], var_name="pass", value_name="NFE"
    )
    long["pass"] = long["pass"].map({"nfe_forward": "forward", "nfe_backward": "backward"})
    sns.lineplot(
        data=long,
        x="epochs",
        y="NFE",
        hue="model",
        hue_order=order,
        palette=palette,
        style="pass",
        ax=ax,
        linewidth=1.2,
    )
    ax.set_xlabel("epoch")
    ax.set_ylabel("NFE per iteration")
    ax.set_ylim(-1, float(long["NFE"].max()) * 1.6)  # room for the legend above the lines
    ax.legend(fontsize=8, loc="upper center", ncol=3)


def plot_loss_curves(results: TrainingResults, path: str | Path) -> Path:
    """Training loss and test error of every run against epochs, into ``path`` (PNG); returns it."""
    with figure_theme(font_scale=1.0):
        return _plot_loss_curves(results, path)


def plot_figure3(results: TrainingResults, path: str | Path) -> Path:
    """The paper's Figure 3 (a-d) from the result tables, into ``path`` (PNG); returns it."""
    with figure_theme(font_scale=1.0):
        return _plot_figure3(results, path)
