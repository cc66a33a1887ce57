"""The columns the report reads, and the ones it derives from them.

Rows come from this tool's ``results.jsonl`` (every column of
:meth:`neural_ode.results.record.CellRecord.to_dict`) or from other readers (pytest-benchmark, ASV) that
fill only some columns. :func:`prepare` gives every frame the same shape: missing columns are
added as NaN, numbers are made numeric, and the derived columns below are added.

Derived columns:
    ``adaptive``: the solver adapts its step size (from :data:`neural_ode.solvers.SOLVERS`).
    ``depth``: the depth L̃ of a cell. For fixed-grid solvers the number of steps; for adaptive
        solvers the number of forward vector-field evaluations (NFE forward), because their
        depth is chosen by the solver and the paper's O(L̃) is counted in evaluations.
    ``time_total_s``: forward + backward median wall time, in seconds.
    ``time_total_min_s``: forward + backward minimum wall time, in seconds.
    ``time_total_ci_low_s``, ``time_total_ci_high_s``: the sums of the forward and backward medians'
        95 % interval bounds: an interval of the total median time of at least 90 % (each part's
        is 95 %: Bonferroni), wide on purpose, so that two totals whose intervals are apart differ.
        The forward and backward bounds themselves are recomputed from the repeats' samples where
        a record has samples but no bounds (results from before calibrated timings).
    ``ok``: the cell was measured without failure (rows without a status count as measured).
    ``gradient_wrong``: an ok cell whose gradient is wrong by :data:`neural_ode.results.trust.RULE`
        (above 1; far beyond max(rtol, solution error); or not falling along a tolerance ladder),
        recomputed from the errors so that results from before the flag carry it too. :func:`trusted`
        leaves these out of picks, fronts and medians.
    ``gradient_cause``: why an ok cell's gradient error is what it is, where it needs explaining
        (:data:`neural_ode.results.trust.CAUSES`: stability limit, backsolve drift, loose backward
        tolerance, loose tolerance), else None; a loose-tolerance cell that is not wrong stays trusted.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from neural_ode.axes import AXES, config_axes, identity, line_keys
from neural_ode.axes import label as axis_label
from neural_ode.measuring.timing import median_interval
from neural_ode.methods import METHODS
from neural_ode.results.record import CONTEXT_FIELDS
from neural_ode.results.schema import METRICS, memory_metrics, spread_columns
from neural_ode.results.trust import judge
from neural_ode.solvers import SOLVERS
from neural_ode.units import MB as MB  # re-exported: bytes per megabyte, as the report prints memory
from neural_ode.workloads import WORKLOADS

#: memory metrics (the schema's metrics in bytes), in the order the report shows them (each is
#: plotted when it has data)
MEMORY_METRICS = tuple(memory_metrics())

#: time metrics against depth: column -> label
TIME_METRICS = {
    "time_forward_s": "forward",
    "time_backward_s": "backward",
    "time_total_s": "total (forward + backward)",
}

#: what makes a line of cells that differ only in depth: every identity axis but the depth axes
#: (:func:`neural_ode.axes.line_keys`; machine and commit included, so two hosts are two lines)
LINE_KEYS = line_keys()

#: the configuration axes of a cell's identity (what is measured, not where)
CONFIG_COLUMNS = tuple(a.name for a in config_axes() if a.identity)

#: what two cells must share to be compared side by side: every identity axis, machine and commit included
PAIRING_COLUMNS = identity()

TEXT_COLUMNS = (
    *(a.name for a in AXES.values() if a.kind is str),
    "status", "error", "source", "commit_date",
    *(name for name, kind in CONTEXT_FIELDS.items() if kind is str and name not in AXES),
)  # fmt: skip

NUMERIC_COLUMNS = (
    *(a.name for a in AXES.values() if a.kind in (int, float)),
    *(name for name, kind in CONTEXT_FIELDS.items() if kind in (int, float, bool) and name not in AXES),
    *spread_columns(),
    *METRICS,
)  # fmt: skip

#: flags (true/false axes): missing values are the axis's default (results from before the axis)
BOOLEAN_COLUMNS = tuple(a.name for a in AXES.values() if a.kind is bool)


def prepare(frame: pd.DataFrame | None) -> pd.DataFrame:
    """A copy of ``frame`` with every column the report reads, typed, plus the derived columns."""
    frame = pd.DataFrame() if frame is None else frame.copy()
    # a cell's phase seconds (a table per record, for scripts/phase_breakdown.py) are no report column
    frame = frame.drop(columns=["phase_s"], errors="ignore").reset_index(drop=True)
    for name in TEXT_COLUMNS:
        if name not in frame:
            frame[name] = None
        frame[name] = frame[name].astype(object).where(frame[name].notna(), None)
    for name in NUMERIC_COLUMNS:
        frame[name] = pd.to_numeric(frame[name], errors="coerce") if name in frame else np.nan
        frame[name] = frame[name].astype(float)
    frame["status"] = frame["status"].fillna("ok")
    frame["ok"] = frame["status"] == "ok"
    # results from before a flag axis, and readers without it, ran at its default (landing: interpolated)
    for name in BOOLEAN_COLUMNS:
        default = bool(AXES[name].default)
        flag = frame[name].astype(object) if name in frame else pd.Series(default, index=frame.index, dtype=object)
        frame[name] = flag.where(flag.notna(), default).map(_flag).astype(bool)
    frame["adaptive"] = frame["solver"].map(lambda s: bool(SOLVERS[s].adaptive) if s in SOLVERS else False)
    frame["adaptive"] = frame["adaptive"].astype(bool)
    frame["depth"] = np.where(frame["adaptive"], frame["nfe_forward"], frame["steps"]).astype(float)
    # after the flags: the rule compares cells along tolerance ladders, which share every other axis
    family = frame["method"].map(lambda m: getattr(METHODS.get(m), "family", None))
    stiff = frame["workload"].map(lambda w: bool(getattr(WORKLOADS.get(w), "stiff", False)))
    judged = judge(frame, family, stiff)
    frame["gradient_wrong"] = judged["gradient_wrong"] & frame["ok"]
    frame["gradient_cause"] = judged["gradient_cause"].where(frame["ok"], None)
    _intervals_from_samples(frame)
    # readers of whole-step timings (pytest-benchmark, ASV) give the totals themselves: keep them
    for total, parts in (
        ("time_total_s", ("time_forward_s", "time_backward_s")),
        ("time_total_min_s", ("time_forward_min_s", "time_backward_min_s")),
        ("time_total_ci_low_s", ("time_forward_ci_low_s", "time_backward_ci_low_s")),
        ("time_total_ci_high_s", ("time_forward_ci_high_s", "time_backward_ci_high_s")),
    ):
        summed = frame[parts[0]] + frame[parts[1]]
        if total in frame:
            frame[total] = pd.to_numeric(frame[total], errors="coerce").astype(float).fillna(summed)
        else:
            frame[total] = summed
    # one block per dtype, not one per column assigned above: every row selection of the tables
    # below then copies a few arrays instead of ~90 (3-10x faster on large frames)
    return frame.copy()


def _intervals_from_samples(frame: pd.DataFrame) -> None:
    """Fill the medians' 95 % interval bounds from the repeats' samples where a row has samples but no bounds.

    Rows with the same number of samples are done together: their samples sorted as one array and the
    two order statistics :func:`median_interval` picks for that number read off as columns (the same
    values, without one call per row: that was most of a 100,000-cell report's preparation).
    """
    for phase in ("forward", "backward"):
        samples, low, high = f"time_{phase}_samples_s", f"time_{phase}_ci_low_s", f"time_{phase}_ci_high_s"
        if samples not in frame:
            continue
        values = frame[samples].to_numpy(dtype=object)
        todo = [p for p in np.flatnonzero(frame[low].isna().to_numpy())
                if isinstance(values[p], list | tuple | np.ndarray) and len(values[p])]  # fmt: skip
        if not todo:
            continue
        lengths = np.array([len(values[p]) for p in todo])
        bounds = np.full((len(todo), 2), np.nan)
        for n in np.unique(lengths):
            # the interval of 0, 1, ..., n - 1 is the pair of (0-based) ranks it picks for n samples
            first, last = median_interval(np.arange(n, dtype=float))
            if np.isnan(first):
                continue
            mine = np.flatnonzero(lengths == n)
            block = np.sort(np.array([values[todo[i]] for i in mine], dtype=float), axis=1)
            bounds[mine, 0], bounds[mine, 1] = block[:, int(first)], block[:, int(last)]
        frame.loc[frame.index[todo], low] = bounds[:, 0]
        frame.loc[frame.index[todo], high] = bounds[:, 1]


#: the relative half-width a median's 95 % interval is judged against in the report (the issue's ±5 %)
REPORT_HALFWIDTH = 0.05


def interval_halfwidth(frame: pd.DataFrame, phase: str) -> pd.Series:
    """How far each row's 95 % interval of the ``phase`` (forward, backward, total) median reaches from
    the median, relative to it (NaN without an interval)."""
    median = frame[f"time_{phase}_s"]
    low, high = frame[f"time_{phase}_ci_low_s"], frame[f"time_{phase}_ci_high_s"]
    reach = np.maximum(median - low, high - median) / median.where(median > 0)
    return reach.astype(float)


def intervals_apart(low_a, high_a, low_b, high_b) -> bool | None:
    """True when two intervals do not overlap (the difference is resolved), False when they do,
    None when either is missing (fewer than 6 repeats, or no interval recorded)."""
    values = [float(v) if v is not None else np.nan for v in (low_a, high_a, low_b, high_b)]
    if not all(np.isfinite(values)):
        return None
    return bool(values[0] > values[3] or values[2] > values[1])


def resolution_text(apart: bool | None) -> str:
    """How the report says whether a time difference is resolved by the 95 % intervals."""
    if apart is None:
        return "no interval (fewer than 6 repeats)"
    return "resolved (95 % intervals apart)" if apart else "not resolved (95 % intervals overlap)"


def interval_text(low, high, scale: float = 1e-3) -> str | None:
    """``8.1–9.0``: an interval in the display unit (``scale`` seconds a unit: ms), None where there is none."""
    if low is None or high is None or not (np.isfinite(low) and np.isfinite(high)):
        return None
    return f"{low / scale:.3g}–{high / scale:.3g}"


def measured(frame: pd.DataFrame, *columns: str) -> pd.DataFrame:
    """The measured (``ok``) rows where every one of ``columns`` is a finite number."""
    rows = frame[frame["ok"]]
    for name in columns:
        values = pd.to_numeric(rows[name], errors="coerce")
        rows = rows[np.isfinite(values.astype(float))]
    return rows


def trusted(frame: pd.DataFrame, *columns: str) -> pd.DataFrame:
    """The :func:`measured` rows whose gradient can be believed (not ``gradient_wrong``): what picks,
    Pareto fronts, equal-accuracy comparisons and medians of gradient error are made from."""
    rows = measured(frame, *columns)
    return rows[~rows["gradient_wrong"].astype(bool)] if "gradient_wrong" in rows else rows


def wrong_gradients(frame: pd.DataFrame) -> pd.DataFrame:
    """The ok rows flagged ``gradient_wrong`` (status ok, gradient error beyond what the solve implies)."""
    if "gradient_wrong" not in frame:
        return frame.iloc[0:0]
    return frame[frame["ok"] & frame["gradient_wrong"].astype(bool)]


def has_data(frame: pd.DataFrame, column: str) -> bool:
    """True when some measured row has a finite value in ``column``."""
    return column in frame and len(measured(frame, column)) > 0


def varying(frame: pd.DataFrame, keys=LINE_KEYS, exclude=(), implied: bool = False) -> list[str]:
    """The keys among ``keys`` that take more than one value in ``frame`` (for labels).

    ``implied``: leave out a key whose value follows from an earlier one's in every cell of ``frame``
    (the batch size of each workload, when each workload ran at one size): naming the earlier
    key already tells the cells apart, and a legend stays readable.
    """
    shown = [k for k in keys if k not in exclude and k in frame and _distinct(frame, k) > 1]
    if not implied:
        return shown
    kept: list[str] = []
    for key in shown:
        follows = any(
            (frame.groupby(frame[earlier].astype(str), sort=False)[key].nunique(dropna=False) <= 1).all()
            for earlier in kept
            if earlier not in ("method", "solver")
        )
        if not follows:
            kept.append(key)
    return kept


def line_label(values: dict, keys) -> str:
    """A short label of a line: its values of ``keys`` as the axes show them, joined by a middle
    dot (:func:`neural_ode.axes.label`; a value a line does not have, like steps of an adaptive
    solve, is left out)."""
    return axis_label(values, keys)


def _distinct(frame: pd.DataFrame, key: str) -> int:
    """How many different values of ``key`` a label would show in ``frame``: flags as they read
    (a fixed grid reads "landed" whatever its ``land`` says), other columns as stored."""
    if key in BOOLEAN_COLUMNS:
        # a label reads the flag, the method and solver (lands anyway?) and the workload: label each
        # distinct combination once, not every row
        read = frame[[c for c in (key, "method", "solver", "workload") if c in frame]].drop_duplicates()
        return read.apply(lambda row: axis_label(row, [key]), axis=1).nunique() if len(read) else 0
    return frame[key].dropna().nunique()


def tolerance_relation(frame: pd.DataFrame) -> pd.Series:
    """How each cell's atol relates to its rtol, for lines drawn along the tolerance: ``atol = rtol``,
    or ``atol 1e-08`` for a fixed atol; None for fixed-grid cells. Cells of one line share it, so a
    line never pools tolerance sweeps of different atol."""
    rtol, atol = frame["rtol"].astype(float), frame["atol"].astype(float)
    text = atol.map(lambda a: None if pd.isna(a) else f"atol {a:g}").astype(object)
    return text.where(~np.isclose(atol, rtol), "atol = rtol").where(atol.notna(), None)


def _flag(value) -> bool:
    """A flag's value from JSON, CSV text or a number."""
    if isinstance(value, str):
        return value.strip().lower() in ("true", "1", "yes", "on")
    return bool(value)


def metric_label(name: str) -> str:
    """An axis label of a metric with its display unit (bytes shown as MB), from the schema."""
    if name == "time_total_s":
        return "time forward + backward (s)"
    metric = METRICS.get(name)
    return name if metric is None else metric.axis_label
