"""Figures about vector-field evaluations (NFE): the paper's Figure 3a–c.

* :func:`nfe_figure`: backward against forward NFE (Figure 3c), one panel per solver family;
* :func:`tolerance_figure`: forward and backward NFE against tolerance (Figure 3a);
* :func:`nfe_time_figure`: wall time against NFE (Figure 3b), with min–max bars.

Points of several methods often coincide here (every adjoint re-solves on the same fixed grid;
the forward pass does not depend on the gradient method): they are drawn as concentric hollow
rings of decreasing size and named in a note, or merged into one line that says so.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from neural_ode.axes import label as axis_label
from neural_ode.axes import line_keys
from neural_ode.reporting.claims.paper import HALF_BAND
from neural_ode.reporting.columns import measured, tolerance_relation, varying
from neural_ode.reporting.figures.base import (
    KIND_TITLE,
    FigureResult,
    Style,
    coincidence_text,
    coinciding,
    kinds,
    legend_below,
    line_groups,
    log_axes,
    save,
    skip,
    spread,
    theme,
)


def _rings(ax, style: Style, method, variant, label, x, y, yerr=None) -> None:
    """Points as hollow markers of the method's size: coinciding points of several methods show as rings."""
    kwargs = dict(
        color=style.color(method), marker=style.marker(variant), linestyle="none", markersize=style.size(method) + 2,
        markerfacecolor="none", markeredgewidth=1.6, zorder=style.zorder(method), label=label,
    )  # fmt: skip
    if yerr is None:
        ax.plot(x, y, **kwargs)
    else:
        ax.errorbar(x, y, yerr=yerr, elinewidth=0.9, capsize=2.5, **kwargs)


def nfe_figure(frame: pd.DataFrame, directory: Path, style: Style) -> FigureResult:
    """Backward NFE against forward NFE with the paper's backward ≈ ½ forward line (Figure 3c)."""
    name, title = "nfe_backward_vs_forward", "Backward NFE against forward NFE (paper's Figure 3c)"
    caption = (
        "Vector-field evaluations of the backward pass against those of the forward pass, one point per cell "
        "(log-log), one panel per solver family. On the adaptive panel the solid grey line is the paper's claim, "
        f"backward = ½ forward, and the shaded band ({HALF_BAND[0]}–{HALF_BAND[1]}× forward) what the claims table "
        "counts as 'about half'; the fixed-grid panel has neither (an adjoint on a fixed grid re-walks the same grid: "
        "backward = forward by construction). The dotted line is backward = forward. Hollow markers of decreasing "
        "size: where methods give the same "
        "counts they show as concentric rings, and the legend's title names them. Direct "
        "backpropagation evaluates the field zero times in the backward pass, so its cells cannot be drawn on log "
        "axes and are left out."
    )
    rows = measured(frame, "nfe_forward", "nfe_backward")
    rows = rows[(rows["nfe_forward"] > 0) & (rows["nfe_backward"] > 0)]
    if rows.empty:
        return skip(name, title, caption, "no cell with a positive forward and backward NFE (only direct cells?)")
    present = kinds(rows)
    with theme():
        fig = Figure(figsize=(6.0 * len(present), 6.4), layout="constrained")
        axes = fig.subplots(1, len(present), squeeze=False)[0]
        for ax, kind in zip(axes, present, strict=True):
            part = rows[rows["adaptive"] == kind]
            drawn = {}
            for label, method, variant, cells in line_groups(part, frame):
                _rings(ax, style, method, variant, label, cells["nfe_forward"], cells["nfe_backward"])
                drawn[label] = (cells["nfe_forward"].to_numpy(), cells["nfe_backward"].to_numpy())
            lo = float(min(part["nfe_forward"].min(), part["nfe_backward"].min() * 2)) / 1.5
            hi = float(max(part["nfe_forward"].max(), part["nfe_backward"].max())) * 1.5
            x = np.geomspace(lo, hi, 50)
            if kind:  # the paper's claim is about adaptive solves: on a fixed grid backward = forward by construction
                ax.fill_between(x, HALF_BAND[0] * x, HALF_BAND[1] * x, color="0.85", alpha=0.6, zorder=0)
                ax.plot(x, 0.5 * x, color="0.35", linewidth=1.6, zorder=1, label="paper: backward = ½ forward")
            ax.plot(x, x, color="0.55", linestyle=":", linewidth=1.2, zorder=1, label="backward = forward")
            log_axes(ax)
            ax.set_xlabel("forward NFE (evaluations)")
            ax.set_ylabel("backward NFE (evaluations)")
            ax.set_title(KIND_TITLE[kind])
            legend_below(ax, note=coincidence_text(coinciding(drawn)))
        fig.suptitle("Backward against forward NFE (log-log)")
        return FigureResult(name, title, caption, save(fig, directory, name))


def _adaptive(frame: pd.DataFrame, *columns: str) -> pd.DataFrame:
    rows = measured(frame, *columns)
    return rows[rows["adaptive"]]


#: the axes a tolerance line is drawn along
_ALONG_TOLERANCE = ("rtol", "atol")


def _tolerance_lines(part: pd.DataFrame) -> tuple[list[str], list[str], pd.DataFrame]:
    """(keys, shown, rows): a tolerance line is every identity axis but the tolerances, and the
    relation of atol to rtol (``atol = rtol``, or a fixed atol), so that no line pools cells of
    different atol, outputs or any other axis; ``shown`` are the keys that vary among the lines."""
    part = part.assign(atol_line=tolerance_relation(part))
    keys = [k for k in line_keys(along=_ALONG_TOLERANCE) if k in part] + ["atol_line"]
    # only lines along the tolerance: a line of one tolerance is a point (its cell is in the other figures)
    tolerances = part.groupby(keys, dropna=False, sort=False)["rtol"].transform("nunique")
    part = part[tolerances >= 2]
    shown = [k for k in varying(part, keys=keys) if k not in ("method", "solver")]
    return keys, shown, part


def _merged_lines(part: pd.DataFrame, column: str):
    """(label, methods, series) per group of methods whose ``column`` against rtol is identical on one
    line of every other axis; the label names the solver and every other axis that varies."""
    keys, shown, part = _tolerance_lines(part)
    others = [k for k in keys if k != "method"]
    for values, cells in part.groupby(others, sort=True, dropna=False):
        line = dict(zip(others, values, strict=True))
        name = " · ".join(p for p in (line["solver"], axis_label(line, shown)) if p)
        series = {
            method: rows.groupby("rtol")[column].median().sort_index() for method, rows in cells.groupby("method")
        }
        groups: list[tuple[list[str], pd.Series]] = []
        for method, values_ in series.items():
            for members, reference in groups:
                if reference.index.equals(values_.index) and np.allclose(reference, values_, rtol=0.005):
                    members.append(method)
                    break
            else:
                groups.append(([method], values_))
        for members, series_ in groups:
            yield line["solver"], name, members, series_


def _panel_lines(part: pd.DataFrame, column: str):
    """:func:`_merged_lines`, with identical series of one solver merged across lines as well: lines
    that differ only in an axis that leaves the count unchanged (landing, for methods that always
    land) would otherwise be drawn exactly over each other. Where the merged lines' labels differ,
    the label keeps them: ``dopri5 · outputs=10 / outputs=50`` when every line holds the same
    methods, else each method with its line's (``own-adjoint (interpolated ...)``)."""
    merged: list[tuple[str, list[tuple[str, str]], pd.Series]] = []
    for solver, name, members, series in _merged_lines(part, column):
        for solver_, entries, reference in merged:
            same = reference.index.equals(series.index) and np.allclose(reference, series, rtol=0.005)
            if solver_ == solver and same:
                entries.extend((member, name) for member in members)
                break
        else:
            merged.append((solver, [(member, name) for member in members], series))
    for solver, entries, series in merged:
        by_line = {name: [member for member, name_ in entries if name_ == name] for _, name in entries}
        if len(by_line) == 1:
            yield solver, next(iter(by_line)), [member for member, _ in entries], series
            continue
        extra = {name: name.removeprefix(solver).removeprefix(" · ") or "-" for name in by_line}
        first = sorted(next(iter(by_line.values())))
        if all(sorted(members) == first for members in by_line.values()):  # the same methods on each line
            yield solver, f"{solver} · {_joined(extra.values())}", first, series
        else:
            yield solver, solver, [f"{member} ({extra[name]})" for member, name in entries], series


def _joined(labels) -> str:
    """Line labels joined by `` / ``, one per legend row once they would be long."""
    joined = " / ".join(labels)
    return joined if len(joined) <= 60 else " /\n".join(labels)


def _tolerance_panel(ax, part: pd.DataFrame, column: str, style: Style) -> None:
    for solver, name, members, values in _panel_lines(part, column):
        methods = set(part.loc[part["solver"] == solver, "method"])
        if len(members) == 1:
            color, label = style.color(members[0]), f"{members[0]} · {name}"
        else:
            every = f"every method ({len(members)})" if set(members) == methods else ", ".join(members)
            color, label = "0.2", f"{name} · {every} (identical)"
        ax.plot(
            values.index, values.to_numpy(), color=color, marker=style.marker(solver), linewidth=1.5, markersize=6,
            linestyle=style.linestyle(members[0]) if len(members) == 1 else "-", label=label,
        )  # fmt: skip
    log_axes(ax)
    ax.invert_xaxis()
    ax.set_xlabel("relative tolerance rtol (loose → tight)")


def tolerance_figure(frame: pd.DataFrame, directory: Path, style: Style) -> FigureResult:
    """Forward and backward NFE against tolerance for adaptive solvers (paper's Figure 3a), a row per horizon."""
    name, title = "tolerance_vs_nfe", "Tolerance against NFE, adaptive solvers (paper's Figure 3a)"
    caption = (
        "Forward (left) and backward (right) NFE of adaptive solvers against their relative tolerance rtol "
        "(log-log; atol as set per cell), one row per integration horizon with two or more tolerances. The "
        "paper's Figure 3a: tighter tolerance costs more evaluations. Methods whose counts are identical on a "
        "solver share one dark line that names them (the forward pass does not depend on the gradient method). "
        "Direct backpropagation has no backward evaluations and is absent on the right."
    )
    rows = _adaptive(frame, "rtol", "nfe_forward", "horizon")
    rows = rows[(rows["rtol"] > 0) & (rows["nfe_forward"] > 0)]
    horizons = [h for h, cells in rows.groupby("horizon") if cells["rtol"].nunique() > 1]
    if not horizons:
        return skip(name, title, caption, "no adaptive solver measured at two or more tolerances")
    with theme():
        fig = Figure(figsize=(12.0, 5.4 * len(horizons)), layout="constrained")
        axes = fig.subplots(len(horizons), 2, squeeze=False)
        for row, horizon in enumerate(horizons):
            part = rows[rows["horizon"] == horizon]
            forward, backward = axes[row]
            _tolerance_panel(forward, part, "nfe_forward", style)
            forward.set_ylabel("forward NFE (evaluations)")
            forward.set_title(f"forward pass, horizon t1 = {horizon:g}")
            legend_below(forward, fontsize="small")
            adjoint = part[part["nfe_backward"] > 0]
            if adjoint.empty:
                backward.set_axis_off()
                continue
            _tolerance_panel(backward, adjoint, "nfe_backward", style)
            backward.set_ylabel("backward NFE (evaluations)")
            backward.set_title(f"backward pass, horizon t1 = {horizon:g}")
            legend_below(backward, fontsize="small")
        fig.suptitle("NFE against tolerance, adaptive solvers")
        return FigureResult(name, title, caption, save(fig, directory, name))


def nfe_time_figure(frame: pd.DataFrame, directory: Path, style: Style) -> FigureResult:
    """Time against NFE for adaptive solvers (paper's Figure 3b): forward, and forward + backward."""
    name, title = "nfe_vs_time", "NFE against time, adaptive solvers (paper's Figure 3b)"
    caption = (
        "Left: median forward wall time (ms) against forward NFE. Right: forward + backward time against the NFE "
        "of both passes. One point per adaptive cell (log-log), coloured by method, marked by solver; bars span "
        "the minimum to the maximum over the timed repeats. The paper's Figure 3b: time grows with NFE, so NFE "
        "is the cost to watch."
    )
    panels = [
        ("nfe_forward", "time_forward_s", "forward NFE (evaluations)", "forward time (ms)", "forward pass"),
        ("nfe_total", "time_total_s", "forward + backward NFE (evaluations)", "forward + backward time (ms)", "both"),
    ]
    rows = _adaptive(frame, "nfe_forward")
    rows = rows.assign(nfe_total=rows["nfe_forward"] + rows["nfe_backward"])
    panels = [p for p in panels if not measured(rows, p[0], p[1]).empty]
    if not panels:
        return skip(name, title, caption, "no adaptive cell with both NFE and time measured")
    with theme():
        fig = Figure(figsize=(6.0 * len(panels), 6.0), layout="constrained")
        axes = fig.subplots(1, len(panels), squeeze=False)[0]
        for ax, (x, y, xlabel, ylabel, what) in zip(axes, panels, strict=True):
            part = measured(rows, x, y)
            part = part[(part[x] > 0) & (part[y] > 0)]
            drawn = {}
            for label, method, variant, cells in line_groups(part, frame):
                cells = cells.sort_values(x)
                _rings(ax, style, method, variant, label, cells[x], cells[y] * 1e3, spread(cells, y, 1e-3))
                drawn[label] = (cells[x].to_numpy(), cells[y].to_numpy())
            log_axes(ax)
            ax.set_xlabel(xlabel)
            ax.set_ylabel(ylabel)
            ax.set_title(f"{what}: time against NFE")
            legend_below(ax, note=coincidence_text(coinciding(drawn)))
        fig.suptitle("Wall time against NFE, adaptive solvers (log-log; bars: min–max over repeats)")
        return FigureResult(name, title, caption, save(fig, directory, name))


__all__ = ["nfe_figure", "nfe_time_figure", "tolerance_figure"]
