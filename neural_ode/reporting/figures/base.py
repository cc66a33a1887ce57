"""What every figure of the report shares: the result type, styles, log axes, legends, spreads, notes.

Figures are drawn on :class:`matplotlib.figure.Figure` objects (no pyplot, no global backend
change) with seaborn's styles and palettes. Colour and line style name the gradient method, the
marker names the solver (and other keys that vary), the same in every figure. Legends sit outside
the axes. Lines or points of different methods that coincide are named under the panel (legend
title or axis label) and drawn with decreasing marker sizes, so they show as rings.
"""

from __future__ import annotations

import math
import textwrap
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import FuncFormatter, LogLocator, MaxNLocator, NullFormatter

from neural_ode.reporting.columns import LINE_KEYS, line_label, tolerance_relation, varying
from neural_ode.reporting.figures.style import figure_theme

DPI = 110
MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*", "<", ">", "h", "p")
LINESTYLES = ("-", "--", "-.", ":")
KIND_AXIS = {False: "depth L̃: fixed-grid steps", True: "depth L̃: forward NFE (adaptive solver)"}
KIND_TITLE = {False: "fixed-grid solvers", True: "adaptive solvers"}
#: two lines coincide when every point agrees within this relative difference on both axes
COINCIDE_RTOL = 0.03


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
        self.sizes = {m: max(9.0 - 1.3 * i, 3.5) for i, m in enumerate(methods)}
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

    def method_handles(self, methods) -> list[Line2D]:
        """Legend handles, one per method: its colour and line style."""
        order = sorted(set(methods), key=lambda m: self.ranks.get(m, len(self.ranks)))
        return [
            Line2D([], [], color=self.color(m), linestyle=self.linestyle(m), linewidth=1.6, label=str(m)) for m in order
        ]

    def variant_handles(self, variants) -> list[Line2D]:
        """Legend handles, one per variant (solver ...): its marker in grey."""
        return [
            Line2D([], [], color="0.35", marker=self.marker(v), linestyle="none", markersize=7, label=str(v))
            for v in dict.fromkeys(variants)
        ]


def theme():
    """The report's matplotlib style (seaborn whitegrid, notebook context slightly smaller): the
    project's one figure style, :func:`neural_ode.reporting.figures.style.figure_theme`."""
    return figure_theme()


def _plain(value: float, _pos=None) -> str:
    return f"{value:g}" if value > 0 and math.isfinite(value) else ""


_SUPERSCRIPTS = str.maketrans("-0123456789", "⁻⁰¹²³⁴⁵⁶⁷⁸⁹")


def _power(value: float, _pos=None) -> str:
    if value <= 0 or not math.isfinite(value):
        return ""
    exponent = math.floor(math.log10(value) + 1e-9)
    mantissa = value / 10**exponent
    power = "10" + str(exponent).translate(_SUPERSCRIPTS)  # plain text: figures never parse mathtext
    return power if math.isclose(mantissa, 1) else f"{mantissa:g}×{power}"


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
        if decades < 0.3:  # a few percent wide: at most four evenly spaced ticks that never collide
            axis.set_major_locator(MaxNLocator(nbins=3, steps=[1, 2, 2.5, 5, 10]))
        else:
            axis.set_major_locator(LogLocator(base=10, subs=subs))
        plain = finite and lo >= 0.01 and hi < 1e5
        axis.set_major_formatter(FuncFormatter(_plain if plain else _power))
        axis.set_minor_formatter(NullFormatter())


def save(fig: Figure, directory: Path, name: str) -> Path:
    """Write ``fig`` as ``<directory>/<name>.png``; returns the path."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{name}.png"
    from neural_ode.storage.writer import write_figure

    write_figure(fig, path, dpi=DPI)
    return path


def skip(name: str, title: str, caption: str, why: str) -> FigureResult:
    """A figure not drawn, with the reason."""
    return FigureResult(name=name, title=title, caption=caption, path=None, note=why)


def line_groups(rows: pd.DataFrame, frame: pd.DataFrame, extra=()):
    """Lines of ``rows``: (label, method, variant, cells) with the label naming what varies in ``frame``."""
    # a line along the tolerance keeps one relation of atol to rtol (a fixed atol is another line)
    rows = rows.assign(atol_line=tolerance_relation(rows))
    frame = frame.assign(atol_line=tolerance_relation(frame))
    keys = [*LINE_KEYS, "atol_line", *extra]
    shown = ["method", "solver", *varying(frame, keys=keys, exclude=("method", "solver"), implied=True)]
    for values, cells in rows.groupby(keys, dropna=False, sort=True):
        line = dict(zip(keys, values, strict=True))
        variant = line_label(line, [k for k in shown if k != "method"])
        yield line_label(line, shown), line["method"], variant, cells


def draw_line(ax, style: Style, method, variant, label, x, y, connect: bool = True, yerr=None) -> None:
    """One line (or set of points) in the method's colour and line style and the variant's marker.

    ``yerr``: optional (below, above) distances for error bars (the timing spread).
    """
    kwargs = dict(
        color=style.color(method),
        marker=style.marker(variant),
        linestyle=style.linestyle(method) if connect else "none",
        markersize=style.size(method),
        zorder=style.zorder(method),
        linewidth=1.4,
        label=label,
    )
    if yerr is None:
        ax.plot(x, y, **kwargs)
    else:
        ax.errorbar(x, y, yerr=yerr, elinewidth=0.9, capsize=2.5, alpha=0.95, **kwargs)


#: how a cell flagged ``gradient_wrong`` is drawn: apart from every method's colour and marker
WRONG_GRADIENT = dict(color="#d62728", marker="X", markersize=9, markeredgecolor="black", linestyle="none", zorder=6)


def wrong_gradient_handle() -> Line2D:
    """The legend entry of the cells flagged ``gradient_wrong``."""
    return Line2D([], [], label="gradient wrong (left out of picks and fronts)", **WRONG_GRADIENT)


def draw_wrong_gradients(ax, x, y) -> None:
    """The cells flagged ``gradient_wrong`` at (x, y): a red cross, never joined to a method's line."""
    ax.plot(x, y, **WRONG_GRADIENT)


def spread(cells: pd.DataFrame, column: str, scale: float = 1.0):
    """(below, above) distances from the median ``column`` to the minimum and maximum over repeats.

    For ``time_total_s`` the bounds are the sums of the forward and backward minima and maxima.
    None when the cells lack them. Divided by ``scale`` like the plotted value.
    """
    if column == "time_total_s":
        low = cells["time_forward_min_s"] + cells["time_backward_min_s"]
        high = cells["time_forward_max_s"] + cells["time_backward_max_s"]
    elif column in ("time_forward_s", "time_backward_s"):
        stem = column.removesuffix("_s")
        low, high = cells[f"{stem}_min_s"], cells[f"{stem}_max_s"]
    else:
        return None
    if low.isna().all() or high.isna().all():
        return None
    value = cells[column]
    below = (value - low).clip(lower=0).fillna(0) / scale
    above = (high - value).clip(lower=0).fillna(0) / scale
    return np.vstack([below.to_numpy(float), above.to_numpy(float)])


def legend_below(ax, fontsize: str = "x-small", note: str | None = None) -> None:
    """The legend of ``ax``, merged into one legend for the whole figure below its panels (never
    over the data, never cut off: constrained layout reserves its room), in as many columns as fit.

    ``note`` (lines that coincide, :func:`coincidence_text`) is the legend's title.
    """
    handles, labels = ax.get_legend_handles_labels()
    if not handles:
        return
    fig = ax.figure
    known: dict[str, object] = getattr(fig, "_merged_legend", {})
    for handle, label in zip(handles, labels, strict=True):
        known.setdefault(label, handle)
    fig._merged_legend = known
    notes: list[str] = getattr(fig, "_merged_notes", [])
    if note and note not in notes:
        notes.append(note)
    fig._merged_notes = notes
    for old in list(fig.legends):
        old.remove()
    columns = legend_columns(fig, list(known.values()))
    # the figure grows by the legend's height, so the panels keep their size and nothing is cut off
    base = getattr(fig, "_base_height", fig.get_figheight())
    fig._base_height = base
    lines = -(-len(known) // columns) + sum(note.count("\n") + 1 for note in notes)
    fig.set_figheight(base + 0.17 * lines + 0.3)
    fig.legend(
        handles=list(known.values()), labels=list(known), loc="outside lower center", ncol=columns,
        fontsize=fontsize, frameon=False, title="\n".join(notes) or None, title_fontsize=fontsize,
    )  # fmt: skip


def figure_legend(fig: Figure, style: Style, methods, variants, title_variants: str = "markers", extra=()) -> None:
    """One short legend for the whole figure, below the panels: colours name methods, markers name solvers.

    ``extra``: further handles (reference lines) appended at the end.
    """
    handles = style.method_handles(methods)
    variant_handles = style.variant_handles(variants)
    if len(variant_handles) > 1 or not handles:
        handles += [Line2D([], [], linestyle="none", label=f"{title_variants}:")] + variant_handles
    handles += list(extra)
    if handles:
        fig.legend(
            handles=handles, loc="outside lower center", ncol=legend_columns(fig, handles), fontsize="small",
            frameon=False,
        )  # fmt: skip


def legend_columns(fig: Figure, handles) -> int:
    """As many legend columns as fit the figure's width, judged from the longest label (about
    0.075 inch a character at the legend's small font, plus the marker): never wider than the figure."""
    longest = max((len(str(h.get_label())) for h in handles), default=1)
    per_column = 0.075 * longest + 0.6
    return max(1, min(len(handles), 6, int(fig.get_figwidth() // per_column)))


def coinciding(lines: dict[str, tuple]) -> list[list[str]]:
    """Groups of labels whose (x, y) points coincide within :data:`COINCIDE_RTOL` (each group ≥ 2)."""
    groups: list[list[str]] = []
    keys = list(lines)
    used: set[str] = set()
    for i, a in enumerate(keys):
        if a in used:
            continue
        group = [a]
        xa, ya = (np.asarray(v, float) for v in lines[a])
        for b in keys[i + 1 :]:
            xb, yb = (np.asarray(v, float) for v in lines[b])
            if (
                xa.shape == xb.shape
                and np.allclose(xa, xb, rtol=COINCIDE_RTOL)
                and np.allclose(ya, yb, rtol=COINCIDE_RTOL)
            ):
                group.append(b)
                used.add(b)
        if len(group) > 1:
            groups.append(group)
    return groups


def coincidence_text(groups: list[list[str]], width: int = 64) -> str | None:
    """``coincide: adjoint · rk4 = adjoint-seminorm · rk4`` for the groups of :func:`coinciding`, or None.

    One group per line, wrapped at ``width`` characters, so a legend title stays narrow.
    """
    if not groups:
        return None
    lines = [textwrap.fill(" = ".join(g), width, subsequent_indent="   ", break_on_hyphens=False) for g in groups]
    return "coincide: " + "\n".join(lines) if len(lines) == 1 else "coincide:\n" + "\n".join(lines)


def label_points(ax, x, y, texts, placed: list, color="0.25", min_distance: float = 0.035) -> None:
    """Write ``texts`` beside the points (x, y) unless a label already sits within ``min_distance``.

    Distances are in axes fractions after the axes' scales are set (call after :func:`log_axes`
    and after every point is drawn); ``placed`` collects positions across calls on one panel.
    """
    to_axes = ax.transAxes.inverted()
    for xi, yi, text in zip(x, y, texts, strict=True):
        if not (np.isfinite(xi) and np.isfinite(yi)):
            continue
        px, py = to_axes.transform(ax.transData.transform((xi, yi)))
        if any(abs(px - qx) < min_distance * 2.5 and abs(py - qy) < min_distance for qx, qy in placed):
            continue
        placed.append((px, py))
        ax.annotate(
            text, (xi, yi), xytext=(5, 4), textcoords="offset points", fontsize=7, color=color, zorder=9,
        )  # fmt: skip


def kinds(rows: pd.DataFrame) -> list[bool]:
    """The solver kinds present: False (fixed grid), True (adaptive)."""
    return [kind for kind in (False, True) if (rows["adaptive"] == kind).any()]


def knob_text(cell) -> str:
    """The setting of a cell: ``1e-5`` (rtol) for an adaptive solver, ``8`` (steps) for a fixed grid."""
    from neural_ode.units import tolerance

    if cell["adaptive"]:
        return tolerance(cell["rtol"])
    return "" if pd.isna(cell["steps"]) else f"{int(cell['steps'])}"
