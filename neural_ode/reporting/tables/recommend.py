"""Which gradient method to pick: advice derived from the measured numbers.

Three pieces, all computed from the run (nothing is assumed):

* :func:`head_to_head`: each adjoint method against direct backpropagation on the same cell
  (everything equal but the method), at the deepest depth measured for each solver: memory,
  time and gradient error side by side, with the ratios adjoint / direct.
* :func:`budget_table`: from each line's affine memory fit (value ≈ intercept + slope · L̃, slope
  with its 95 % interval), the deepest depth that stays within a few memory budgets, with its
  range and a flag when that lies far beyond the measured depths; an extrapolation for the
  measured workload and sizes only.
* :func:`advice`: plain sentences built from the two tables and from the equal-accuracy and
  equal-settings comparisons of :mod:`neural_ode.reporting.tables.matching`; each says which it uses.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from neural_ode import units
from neural_ode.reporting.claims.growth import growth_table
from neural_ode.reporting.claims.paper import FLAT_FRACTION, method_family
from neural_ode.reporting.columns import (
    MB,
    MEMORY_METRICS,
    PAIRING_COLUMNS,
    interval_text,
    intervals_apart,
    measured,
    resolution_text,
    trusted,
)
from neural_ode.reporting.tables.budgets import BUDGETS, FAR_BEYOND, PEAK_PREFERENCE, advice_metric, budget_table  # noqa: F401
from neural_ode.reporting.tables.headline import pick_text
from neural_ode.reporting.tables.matching import (
    EQUAL_ACCURACY,
    EQUAL_SETTINGS,
    equal_accuracy_table,
    equal_settings_table,
    method_order,
)
from neural_ode.reporting.tables.noise import NOISY_IQR, interval_sentence, interval_share, timing_noise  # noqa: F401
from neural_ode.reporting.tables.paired import difference_text, paired_time


def head_to_head(frame: pd.DataFrame) -> pd.DataFrame:
    """Adjoint methods against direct on identical cells, at the deepest depth per solver.

    Columns: the adjoint method, solver, the cell (steps, or horizon and rtol), depth, direct and
    adjoint memory (MB, the :func:`advice_metric`), their ratio, direct and adjoint total time
    (ms), their ratio, and the gradient errors of both.
    """
    metric = advice_metric(frame)
    rows = measured(frame)
    keys = [c for c in PAIRING_COLUMNS if c != "method"]
    direct = rows[rows["method"] == "direct"]
    out = []
    for method in sorted(m for m in rows["method"].dropna().unique() if method_family(m) == "adjoint"):
        other = rows[rows["method"] == method]
        pairs = direct.merge(other, on=keys, suffixes=("_direct", "_adjoint")).copy()  # one block: no fragmentation
        if pairs.empty:
            continue
        pairs["depth"] = pairs["depth_direct"].fillna(pairs["depth_adjoint"])
        for _solver, cells in pairs.groupby("solver", sort=True):
            cell = cells.sort_values(["depth", "horizon"]).iloc[-1]
            row = {"adjoint method": method, "solver": cell["solver"]}
            row["cell"] = (
                f"horizon {cell['horizon']:g}, rtol {units.tolerance(cell['rtol'])}"
                if cell["adaptive_direct"]
                else f"{int(cell['steps'])} steps"
            )
            row["depth L̃"] = cell["depth"]
            if metric:
                mem_d, mem_a = cell[f"{metric}_direct"], cell[f"{metric}_adjoint"]
                row["direct memory (MB)"] = mem_d / MB
                row["adjoint memory (MB)"] = mem_a / MB
                row["memory ratio adjoint/direct"] = mem_a / mem_d if mem_d > 0 else np.nan
            t_d, t_a = cell["time_total_s_direct"], cell["time_total_s_adjoint"]
            row["direct time (ms)"] = t_d * 1e3
            row["adjoint time (ms)"] = t_a * 1e3
            row["time ratio adjoint/direct"] = t_a / t_d if t_d > 0 else np.nan
            ends = [f"time_total_ci_{end}_s" for end in ("low", "high")]
            bounds = [cell[f"{end}_{side}"] for side in ("direct", "adjoint") for end in ends]
            row["direct time 95% CI (ms)"] = interval_text(*bounds[:2])
            row["adjoint time 95% CI (ms)"] = interval_text(*bounds[2:])
            paired = paired_time(cell, cell, "_direct", "_adjoint")
            row["time difference"] = (
                difference_text(paired) if paired is not None else resolution_text(intervals_apart(*bounds))
            )
            if paired is not None:
                row["time ratio adjoint/direct"] = paired.median
            row["direct grad error"] = cell["grad_rel_error_direct"]
            row["adjoint grad error"] = cell["grad_rel_error_adjoint"]
            out.append(row)
    table = pd.DataFrame(out)
    return table.loc[:, table.notna().any(axis=0)] if len(table) else table


#: a budget depth beyond this multiple of the deepest measured depth is flagged as far extrapolated
def _ratio_text(values: pd.Series) -> str:
    values = values.dropna()
    if values.empty:
        return "not measured"
    low, high = values.min(), values.max()
    return f"{low:.2g}×" if math.isclose(low, high, rel_tol=0.05) else f"{low:.2g}× to {high:.2g}×"


def _against_direct(table: pd.DataFrame, criterion: str) -> str:
    """``adjoint 2× (1.7× to 2.5×), aca 0.75×``: each method's median ratio to direct in ``table``."""
    rows = table[(table["criterion"] == criterion) & (table["method_a"] == "direct")]
    parts = []
    for method in method_order(rows["method_b"]):
        mine = rows[rows["method_b"] == method]
        ratios = mine["ratio"].dropna()
        if len(ratios):
            spread = _ratio_text(ratios)
            median = f"{ratios.median():.2g}×"
            what = [spread] if spread != median else []
            if "contest" in mine:  # what the head-to-head compares, and on which landing (like with like)
                what.append(f"{mine['contest'].iloc[0]}, {' and '.join(sorted(set(mine['landing'])))}")
            parts.append(f"{method} {median}" + (f" ({'; '.join(what)})" if what else ""))
    return ", ".join(parts)


def _not_comparable() -> list[tuple[str, str]]:
    return [
        (
            "Not comparable",
            "this run has no cell measured with both direct backpropagation and an adjoint method on the same "
            "configuration, so it cannot compare them; run a sweep with both methods.",
        )
    ]


def _memory_advice(frame: pd.DataFrame, pairs: pd.DataFrame) -> list[tuple[str, str]]:
    metric = advice_metric(frame)
    if not metric or "memory ratio adjoint/direct" not in pairs:
        return []
    text = (
        f"at equal settings and the deepest depth measured, the adjoint methods used "
        f"{_ratio_text(pairs['memory ratio adjoint/direct'])} the {metric} of direct backpropagation."
    )
    table = growth_table(frame, metric)
    direct = table[table["method"] == "direct"]
    adjoint = table[table["method"].map(method_family) == "adjoint"]
    if len(direct) and len(adjoint):
        growing = direct[direct["growth"] == "grows"]
        flat = int((adjoint["growth"] == "flat").sum())
        direct_text = (
            f"Direct memory grows by {_slopes(growing)} per depth unit, {_shares(growing)} of its value at the "
            "deepest depth"
            if len(growing)
            else "Direct memory does not grow measurably with depth here"
        )
        adjoint_text = f"adjoint memory is flat on {flat} of {len(adjoint)} lines (growth under {FLAT_FRACTION:.0%})"
        grows = adjoint[adjoint["growth"] == "grows"]
        if len(grows):
            adjoint_text += f", grows by {_slopes(grows)} per depth unit on the others ({_shares(grows)} of the value)"
        text += (
            f" {direct_text}; {adjoint_text}. The budget table extrapolates how deep each method can go within a "
            "memory budget, each line in the unit of its method's memory law."
        )
    return [("Memory", text)]


def _cost_advice(frame: pd.DataFrame, matched: tuple | None = None) -> list[tuple[str, str]]:
    """Time and memory of every method against direct, at equal accuracy and at equal settings
    (``matched``: the frame's equal-accuracy and equal-settings tables, made here when None)."""
    accuracy, settings = matched if matched is not None else (equal_accuracy_table(frame), equal_settings_table(frame))
    # a matched error that float32 rounding decides is no evidence about the methods: left out
    accuracy = accuracy[~accuracy["decided_by_roundoff"].fillna(False).astype(bool)]
    out = []
    for criterion, topic, what in (
        ("time", "Time", "the forward + backward time"),
        ("memory", "Peak memory", "the peak memory"),
    ):
        matched, same = _against_direct(accuracy, criterion), _against_direct(settings, criterion)
        parts = []
        if matched:
            parts.append(
                f"at {EQUAL_ACCURACY} (each method's cost interpolated along its work-precision front to the same "
                f"gradient error, for every target both reach that float32 round-off does not decide) the methods "
                f"took {matched} {what} of direct backpropagation"
            )
        if same:
            parts.append(f"at {EQUAL_SETTINGS} (identical cells, whatever their gradient error): {same}")
        if parts:
            out.append(
                (
                    f"{topic} against direct",
                    "; ".join(parts) + ". Below 1× is cheaper than direct. Landed cells are compared with landed ones "
                    "only, interpolated with interpolated; each ratio says whether it compares methods (one library), "
                    "implementations (one method on two libraries, as lean-direct against direct) or both.",
                )
            )
    return out


def _accuracy_advice(frame: pd.DataFrame) -> list[tuple[str, str]]:
    """Median gradient error per solver and method: fixed-grid and adaptive solvers never share a
    median; a wrong gradient (``gradient_wrong``) is in none."""
    rows = trusted(frame, "grad_rel_error")
    parts = []
    for adaptive, kind in ((False, "fixed grid"), (True, "adaptive")):
        for solver, cells in rows[rows["adaptive"] == adaptive].groupby("solver", sort=True):
            medians = cells.groupby("method")["grad_rel_error"].median()
            text = ", ".join(f"{m} {units.error(medians[m])}" for m in method_order(medians.index))
            parts.append(f"{solver} ({kind}): {text}")
    if not parts:
        return []
    return [
        (
            "Gradient accuracy",
            "median relative error against the float64 reference over every measured cell, per solver "
            "(steps or tolerances pooled within a solver only): " + "; ".join(parts) + ".",
        )
    ]


def _other_advice(frame: pd.DataFrame) -> list[tuple[str, str]]:
    out = []
    noise = timing_noise(frame)
    if noise is not None:
        noisy, timed = noise
        out.append(
            (
                "Timing noise",
                f"{noisy} of {timed} timed cells have a forward or backward IQR above {NOISY_IQR:.0%} of the median "
                "(pyperf's warning threshold)"
                + ("; read time ratios and time exponents as rough." if noisy else ".")
                + interval_sentence(frame),
            )
        )
    seminorm = seminorm_saving(frame)
    if seminorm is not None:
        median, count, best, where = seminorm
        best_text = "" if count < 2 else f"; the most it saved: {best:.2f}× on {where}"
        out.append(
            (
                "Seminorm adjoint",
                f"adjoint-seminorm took a median {median:.2f}× the backward NFE of the plain adjoint over {count} "
                f"adaptive cell{'s' if count != 1 else ''}{best_text} (it can only save where the parameter "
                "adjoints drive the backward step size: Kidger et al. 2021 report about 0.6× on trained models).",
            )
        )
    return out


def _pick_advice(frame: pd.DataFrame) -> tuple[str, str]:
    """The pick, from the same picks as the first section (:func:`neural_ode.reporting.tables.headline.pick_text`):
    the advice cannot contradict them, and no pick decided by round-off counts."""
    return (
        "Pick",
        pick_text(frame)
        + " Where a method's memory at your depth does not fit your budget, the budget table says how deep each "
        "method goes; the first section names the cheapest measured configuration for each accuracy.",
    )


def advice(frame: pd.DataFrame, pairs: pd.DataFrame, matched: tuple | None = None) -> list[tuple[str, str]]:
    """Plain sentences for a newcomer, as (topic, sentence): memory, time, accuracy, noise, the pick.

    Each comparison says whether it is at equal accuracy (:mod:`neural_ode.reporting.tables.matching`)
    or at equal settings (identical cells, ``pairs`` from :func:`head_to_head`). ``matched``: the frame's
    :func:`neural_ode.reporting.tables.matching.matched_tables`, where the caller has them already.
    """
    if pairs.empty:
        return _not_comparable()
    sentences = _memory_advice(frame, pairs) + _cost_advice(frame, matched)
    sentences += _accuracy_advice(frame) + _other_advice(frame)
    return [*sentences, _pick_advice(frame)]


def seminorm_saving(frame: pd.DataFrame) -> tuple[float, int, float, str] | None:
    """Backward NFE of ``adjoint-seminorm`` over ``adjoint`` on identical adaptive cells:
    (median ratio, pairs, lowest ratio, the cell where it is lowest), None without a pair."""
    rows = measured(frame, "nfe_backward")
    rows = rows[rows["adaptive"]]
    keys = [c for c in PAIRING_COLUMNS if c != "method"]
    pairs = rows[rows["method"] == "adjoint"].merge(rows[rows["method"] == "adjoint-seminorm"], on=keys)
    pairs = pairs[pairs["nfe_backward_x"] > 0]
    if pairs.empty:
        return None
    ratios = pairs["nfe_backward_y"] / pairs["nfe_backward_x"]
    best = pairs.loc[ratios.idxmin()]
    where = (
        f"{best['workload']} {best['solver']} rtol {best['rtol']:g} atol {best['atol']:g} t1 {best['horizon']:g} "
        f"({int(best['nfe_backward_x'])} → {int(best['nfe_backward_y'])} backward NFE)"
    )
    return float(ratios.median()), len(pairs), float(ratios.min()), where


def _slopes(lines: pd.DataFrame) -> str:
    """The fitted slopes of ``lines`` in bytes, with the span of their 95 % intervals: ``1.6e+05 B (1.6e+05 to
    1.7e+05)`` or ``1e+04 to 1.6e+05 B (intervals 9e+03 to 1.7e+05)``."""
    low, high = lines["slope"].min(), lines["slope"].max()
    bounds = f"{lines['slope_low'].min():.2g} to {lines['slope_high'].max():.2g}"
    if math.isclose(low, high, rel_tol=0.05):
        return f"{low:.2g} B (95 % interval {bounds})"
    return f"{low:.2g} to {high:.2g} B (95 % intervals {bounds})"


def _shares(lines: pd.DataFrame) -> str:
    """The span of the lines' slope shares at their deepest depth, in percent."""
    low, high = lines["share"].min(), lines["share"].max()
    return f"{low:.0%}" if round(100 * low) == round(100 * high) else f"{low:.0%} to {high:.0%}"


__all__ = [
    "BUDGETS", "MEMORY_METRICS", "advice", "advice_metric", "budget_table", "head_to_head", "interval_sentence",
    "interval_share",
]  # fmt: skip
