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
from neural_ode.axes import label as axis_label
from neural_ode.reporting.claims.growth import growth_table, law_table
from neural_ode.reporting.claims.lines import line_verdict
from neural_ode.reporting.claims.paper import FLAT_FRACTION, method_family
from neural_ode.reporting.claims.verdicts import NOT_ENOUGH_EVIDENCE
from neural_ode.reporting.columns import (
    LINE_KEYS,
    MB,
    MEMORY_METRICS,
    PAIRING_COLUMNS,
    REPORT_HALFWIDTH,
    has_data,
    interval_halfwidth,
    interval_text,
    intervals_apart,
    measured,
    resolution_text,
    trusted,
    varying,
)
from neural_ode.reporting.tables.headline import pick_text
from neural_ode.reporting.tables.matching import (
    EQUAL_ACCURACY,
    EQUAL_SETTINGS,
    equal_accuracy_table,
    equal_settings_table,
    method_order,
)
from neural_ode.reporting.tables.paired import difference_text, paired_time

#: memory metrics in order of preference for advice: the peak that limits a run first
PEAK_PREFERENCE = ("cuda_peak_bytes", "cpu_peak_bytes", "saved_bytes", "rss_peak_bytes")
#: memory budgets for the budget table, in bytes
BUDGETS = {"1 GB": 1e9, "16 GB": 16e9, "80 GB": 80e9}
#: a timing whose interquartile range exceeds this fraction of its median counts as noisy
NOISY_IQR = 0.10


def advice_metric(frame: pd.DataFrame) -> str | None:
    """The memory metric the advice uses: the first of :data:`PEAK_PREFERENCE` with data."""
    return next((m for m in PEAK_PREFERENCE if has_data(frame, m)), None)


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
FAR_BEYOND = 10.0


def _depth_text(depth: float) -> str:
    return "unbounded" if math.isinf(depth) else ("none" if depth < 1 else f"{depth:,.0f}")


def budget_table(frame: pd.DataFrame) -> pd.DataFrame:
    """The deepest depth each line fits within each of :data:`BUDGETS`, from its affine memory fit
    in the unit of its method's memory law (:func:`neural_ode.reporting.claims.growth.law_table`).

    Memory ≈ intercept + slope · u, u the law's unit (forward evaluations for direct, accepted steps
    for aca, segments or steps per segment for checkpoint; steps or forward NFE for the flat
    adjoints); the depth within a budget is ``(budget - intercept) / slope`` in that unit, given
    with the range the slope's 95 % interval allows (deeper bound from the lower slope), and for
    checkpoint also in steps (N = u², since u = ceil(sqrt N)). ``unbounded``: the slope cannot be
    told from zero, or the memory grows by under 5 % over the measured depths (the claims' "flat").
    No bound at all from a line the claims call ``not enough evidence`` (too few depths for a noisy
    figure, a poor straight line), nor from one that leaves its law. A depth more than
    :data:`FAR_BEYOND` times the deepest measured one is flagged in ``extrapolation``.
    """
    metric = advice_metric(frame)
    if metric is None:
        return pd.DataFrame()
    table = law_table(frame, metric)
    # every line axis that varies among the lines gets a column (workload, sizes, landing, ...)
    shown = [k for k in varying(table, keys=LINE_KEYS) if k not in ("method", "solver")]
    out = []
    for line in table.to_dict("records"):
        fit = line["fit"]
        row = {
            "method": line["method"],
            "solver": line["solver"],
            **{key: axis_label(line, [key]) for key in shown},
            "depth axis (the method's law)": line["depth_axis"],
            "measured depths": f"{fit.depth_min:g}–{fit.depth_max:g} ({fit.points} cells)",
            f"MB at depth 0 ({metric})": fit.intercept / MB,
            "MB per depth unit (95% CI)": (
                f"{fit.slope / MB:.4g} ({fit.slope_low / MB:.4g} to {fit.slope_high / MB:.4g})"
                if fit.points > 2
                else f"{fit.slope / MB:.4g} (2 cells: no interval)"
            ),
            f"MB at deepest ({metric})": line["value_at_max"] / MB,
        }
        # flat: the slope cannot be told from zero, or its growth over the measured depths is
        # under FLAT_FRACTION of the value (the claims' "flat"): no budget bound follows from it
        flat = not fit.growing or fit.flat_within(FLAT_FRACTION)
        verdict, why = line_verdict(fit, metric, cells=_line_cells(frame, line))
        if verdict == NOT_ENOUGH_EVIDENCE or line["leaves_law"]:
            for name in BUDGETS:
                row[f"max depth in {name}"] = "—"
            row["extrapolation"] = (
                f"no bound: the line leaves its method's law ({line['law_check']})"
                if line["leaves_law"]
                else f"no bound: {NOT_ENOUGH_EVIDENCE} ({why})"
            )
            out.append(row)
            continue
        farthest, per_step = 0.0, _in_steps(line, _line_cells(frame, line))
        for name, budget in BUDGETS.items():
            if flat:
                depth = fit.depth_within(budget, slope=0.0)
                row[f"max depth in {name}"] = _depth_text(depth)
                continue
            depth = fit.depth_within(budget)
            deep, shallow = fit.depth_within(budget, fit.slope_low), fit.depth_within(budget, fit.slope_high)
            text = _depth_text(depth)
            if not math.isclose(deep, shallow, rel_tol=0.005) and depth >= 1:
                text += f" ({_depth_text(shallow)}–{_depth_text(deep)})"
            if per_step is not None and depth >= 1 and math.isfinite(depth):
                text += f" ≈ {_depth_text(per_step(depth))} steps"
            row[f"max depth in {name}"] = text
            farthest = max(farthest, depth)
        if flat:
            row["extrapolation"] = "memory does not grow measurably with depth: no depth limit from this fit"
        elif farthest > FAR_BEYOND * fit.depth_max:
            row["extrapolation"] = (
                f"up to {farthest / fit.depth_max:,.0f}× the deepest measured depth: assumes the per-depth cost "
                "stays constant that far; measure near the depth you need"
            )
        else:
            row["extrapolation"] = "within 10× of the measured depths"
        out.append(row)
    return pd.DataFrame(out)


def _in_steps(line: dict, cells: pd.DataFrame):
    """How a depth in the unit of a fixed-grid line's law reads in steps (None where it is steps or NFE):
    evaluations / (evaluations per step); checkpoint's segments or steps per segment u: N = u²."""
    if line["adaptive"] or line["depth_axis"] in ("steps", "forward NFE"):
        return None
    if line["law"] == "checkpoint":
        return lambda u: u * u
    per_step = (cells["nfe_forward"] / cells["steps"]).median()
    return (lambda u: u / per_step) if per_step > 0 else None


def _line_cells(frame: pd.DataFrame, line: dict) -> pd.DataFrame:
    """The measured cells of one fitted line (its line keys and ``adaptive``)."""
    cells = frame
    for key in [*LINE_KEYS, "adaptive"]:
        value = line.get(key)
        cells = cells[cells[key].isna()] if pd.isna(value) else cells[cells[key] == value]
    return cells


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
            "deepest depth" if len(growing) else "Direct memory does not grow measurably with depth here"
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


def _cost_advice(frame: pd.DataFrame) -> list[tuple[str, str]]:
    """Time and memory of every method against direct, at equal accuracy and at equal settings."""
    accuracy, settings = equal_accuracy_table(frame), equal_settings_table(frame)
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


def advice(frame: pd.DataFrame, pairs: pd.DataFrame) -> list[tuple[str, str]]:
    """Plain sentences for a newcomer, as (topic, sentence): memory, time, accuracy, noise, the pick.

    Each comparison says whether it is at equal accuracy (:mod:`neural_ode.reporting.tables.matching`)
    or at equal settings (identical cells, ``pairs`` from :func:`head_to_head`).
    """
    if pairs.empty:
        return _not_comparable()
    sentences = _memory_advice(frame, pairs) + _cost_advice(frame)
    sentences += _accuracy_advice(frame) + _other_advice(frame)
    return [*sentences, _pick_advice(frame)]


def timing_noise(frame: pd.DataFrame) -> tuple[int, int] | None:
    """(cells whose forward or backward IQR exceeds :data:`NOISY_IQR` of the median, timed cells)."""
    rows = measured(frame, "time_forward_s", "time_forward_iqr_s", "time_backward_s", "time_backward_iqr_s")
    if rows.empty:
        return None
    forward = rows["time_forward_iqr_s"] > NOISY_IQR * rows["time_forward_s"]
    backward = rows["time_backward_iqr_s"] > NOISY_IQR * rows["time_backward_s"]
    return int((forward | backward).sum()), len(rows)


def interval_share(frame: pd.DataFrame, halfwidth: float = REPORT_HALFWIDTH) -> dict | None:
    """How precisely the timed cells' medians are known, None without timed cells.

    ``wide``: cells whose forward or backward median's 95 % interval reaches beyond ±``halfwidth`` of
    it, or that have none (``no_interval``: fewer than 6 repeats, counted in ``wide``); ``timed``;
    ``share`` = wide / timed; ``repeats`` (median timed repeats) and ``stops`` (why the repeats stopped:
    ``time_stop`` counts, calibrated cells only)."""
    rows = measured(frame, "time_forward_s", "time_backward_s")
    if rows.empty:
        return None
    reach = np.fmax(interval_halfwidth(rows, "forward"), interval_halfwidth(rows, "backward"))
    missing = interval_halfwidth(rows, "forward").isna() | interval_halfwidth(rows, "backward").isna()
    wide = missing | (reach > halfwidth)
    stops = rows["time_stop"].dropna().value_counts().to_dict() if "time_stop" in rows else {}
    repeats = pd.to_numeric(rows["time_repeats"], errors="coerce").median() if "time_repeats" in rows else np.nan
    return {"wide": int(wide.sum()), "no_interval": int(missing.sum()), "timed": len(rows),
            "share": float(wide.mean()), "repeats": repeats, "stops": stops, "halfwidth": halfwidth}  # fmt: skip


def interval_sentence(frame: pd.DataFrame, halfwidth: float = REPORT_HALFWIDTH) -> str:
    """`` 12 of 76 timed cells (16 %) have a 95 % interval of the median wider than ±5 % ...``: the
    report's line of :func:`interval_share` (empty without timed cells)."""
    share = interval_share(frame, halfwidth)
    if share is None:
        return ""
    text = (
        f" {share['wide']} of {share['timed']} timed cells ({share['share']:.0%}) have a forward or backward 95 % "
        f"interval of the median wider than ±{halfwidth:.0%} of it"
    )
    if share["no_interval"]:
        text += f" or none ({share['no_interval']} with fewer than 6 repeats)"
    if np.isfinite(share["repeats"]):
        text += f"; median {share['repeats']:.0f} timed repeats a cell"
    if share["stops"]:
        text += " (stopped by " + ", ".join(f"{why}: {n}" for why, n in sorted(share["stops"].items())) + ")"
    text += ". " + _coverage_text(frame)
    return text + (
        " A time difference whose intervals overlap is not resolved; where two cells were timed together in rounds "
        "(the cells of one problem), the per-round ratio decides instead: a ratio whose 95 % interval contains 1 is "
        "a tie (the tables say which)."
    )


def _coverage_text(frame: pd.DataFrame) -> str:
    """What coverage the timed cells' 95 % intervals have, and how that was checked."""
    widened = "time_autocorrelation" in frame and pd.to_numeric(frame["time_autocorrelation"], errors="coerce").notna()
    if widened is False or not widened.any():
        return (
            "These intervals assume independent repeats (order statistics at binomial ranks, calibration stopped as "
            "soon as they were narrow enough): with consecutive repeats correlated as on a busy machine (AR(1), "
            "rho 0.5) they cover about 84 % instead of 95 % (tests/test_timing_intervals.py)."
        )
    return (
        "Intervals: order statistics at binomial ranks, widened for the repeats' lag-1 autocorrelation and "
        "withheld where the repeats are too few or too correlated to bound the median, over a count of repeats "
        "chosen by a pilot and then measured afresh (no stopping-rule bias); simulated with AR(1)-correlated "
        "lognormal repeats they cover about 96-97 % at rho 0.5 with 30 repeats (6 % withheld; the unwidened "
        "interval: 82-84 %), 95 % with 20 (a quarter withheld), 89 % with 10 (over half withheld), and 97 % with "
        "independent repeats; per-round ratios the same, rounds being the unit (tests/test_timing_intervals.py)."
    )


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
