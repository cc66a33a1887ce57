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

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from neural_ode.reporting.columns import (
    LINE_KEYS,
    MB,
    MEMORY_METRICS,
    has_data,
    line_label,
    measured,
    metric_label,
    varying,
)
from neural_ode.reporting.growth import fit_growth

#: what fixes the depth of a line: outputs vary along it, these do not
DEPTH_KEYS = ("steps", "horizon", "rtol", "atol")
NAME, TITLE = "outputs", "Memory, time and NFE against the number of output times"
CAPTION = (
    "Each line is one method × solver at a fixed depth (steps, or horizon and tolerance), with the loss on N "
    "output times evenly spaced in (0, T] (or the workload's own observation times). The adjoint keeps the "
    "state at every output time and restarts its backward solve at each: its memory and backward NFE grow "
    "with N, while direct backpropagation's memory follows the steps taken. A fixed-grid solve steps onto every "
    "output time, so outputs off the grid add steps. Legends give the fitted exponent k (value ≈ c·N^k)."
)


def outputs_lines(frame: pd.DataFrame, metric: str):
    """(line values, cells) of lines with two or more output counts and ``metric`` measured."""
    if "outputs" not in frame:
        return []
    rows = measured(frame, "outputs", metric)
    rows = rows[(rows["outputs"] > 0) & (rows[metric] > 0)]
    keys = [k for k in (*LINE_KEYS, *DEPTH_KEYS) if k != "outputs"]
    lines = []
    for values, cells in rows.groupby(keys, dropna=False, sort=True):
        if cells["outputs"].nunique() >= 2:
            lines.append((dict(zip(keys, values, strict=True)), cells))
    return lines


def _label(line: dict, frame: pd.DataFrame) -> str:
    shown = ["method", "solver", *varying(frame, keys=(*LINE_KEYS, *DEPTH_KEYS), exclude=("method", "solver"))]
    shown = [k for k in shown if k != "outputs"]
    return line_label(line, shown)


def outputs_figure(frame: pd.DataFrame, directory: Path, style) -> object:
    """Memory (each memory metric measured), forward+backward time and NFE against output count, log-log."""
    from neural_ode.reporting.figures_base import FigureResult, legend_columns, log_axes
    from neural_ode.reporting.figures_base import save as _save
    from neural_ode.reporting.figures_base import skip as _skip
    from neural_ode.reporting.figures_base import theme as _theme

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
                slope = f"k = {fit.exponent:.2f}" if fit else ""
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


def outputs_claims(frame: pd.DataFrame) -> list[dict]:
    """Claim rows on the outputs axis: is adjoint memory flat in the number of output times?

    Judged as the depth claims are (:mod:`neural_ode.reporting.claims`): each adjoint line's affine
    fit against N reads ``flat`` / ``grows linearly`` / ``not enough evidence`` (a jackknife over its
    cells), and the claim is withheld when leaving one cell out would decide it otherwise.
    """
    from neural_ode.reporting.claims import (
        EXACT_METRICS,
        FLAT,
        NOT_MEASURED,
        UNTRAINED,
        _stable_claim,
        method_family,
        stable_line_verdict,
    )

    statement = "adjoint memory is O(1) in the number of output times (the loss on N states)"
    source = "torchdiffeq #259 (not a claim of the paper)"
    rows = []
    for metric in [m for m in MEMORY_METRICS if has_data(frame, m)]:
        lines, labels, parts, on = [], [], [], []
        for line, cells in outputs_lines(frame, metric):
            if method_family(line["method"]) != "adjoint":
                continue
            depth = cells["outputs"].to_numpy(dtype=float)
            value = cells[metric].to_numpy(dtype=float)
            if np.unique(depth).size < 2:
                continue
            exact = metric in EXACT_METRICS
            noisy = np.zeros(depth.size, dtype=bool)
            label, reason = stable_line_verdict(depth, value, metric, exact, noisy)
            name = _label(line, frame)
            labels.append(label)
            parts.append(f"{name}: {label} ({reason})")
            lines.append({"depth": depth, "value": value, "noisy": noisy, "exact": exact, "label": name})
            on.append(f"{line['workload']} · {line['solver']} · N = {depth.min():g}–{depth.max():g}")
        if not lines:
            continue
        final, withheld = _stable_claim(lines, labels, metric, FLAT)
        measured_on = "; ".join(dict.fromkeys(on)) + f"; {UNTRAINED}"
        text = f"{len(lines)} line(s): " + "; ".join(parts) + (f"; {withheld}" if withheld else "")
        rows.append(
            {"claim": statement, "source": source, "metric": metric, "expected": FLAT,
             "measured": f"{text} — measured on {measured_on}", "verdict": final, "measured_on": measured_on}
        )  # fmt: skip
    if not rows:
        rows.append(
            {"claim": statement, "source": source, "metric": "memory", "expected": FLAT,
             "measured": "no adjoint line with two or more output counts", "verdict": NOT_MEASURED,
             "measured_on": ""}
        )  # fmt: skip
    return rows


def outputs_condition(frame: pd.DataFrame) -> str:
    """The output-times condition of the depth claims, e.g. ``at 1 output time`` (empty when unknown)."""
    if "outputs" not in frame:
        return ""
    values = sorted(v for v in pd.unique(frame["outputs"].dropna()) if np.isfinite(v))
    if not values:
        return ""
    if len(values) == 1:
        n = int(values[0])
        return (
            f"at {n} output time{'s' if n != 1 else ''} (the loss on {'the final state' if n == 1 else f'{n} states'})"
        )
    return "per number of output times (lines are fitted at a fixed output count; see the outputs figure)"
