"""How deep each method can go within a memory budget: each line's affine memory fit extrapolated
(:func:`budget_table`), with the metric the advice reads memory by (:func:`advice_metric`)."""

from __future__ import annotations

import math

import pandas as pd

from neural_ode.axes import label as axis_label
from neural_ode.reporting.claims.growth import law_table
from neural_ode.reporting.claims.lines import line_verdict
from neural_ode.reporting.claims.paper import FLAT_FRACTION
from neural_ode.reporting.claims.verdicts import NOT_ENOUGH_EVIDENCE
from neural_ode.reporting.columns import (
    LINE_KEYS,
    MB,
    has_data,
    varying,
)

#: memory metrics in order of preference for advice: the peak that limits a run first
PEAK_PREFERENCE = ("cuda_peak_bytes", "cpu_peak_bytes", "saved_bytes", "rss_peak_bytes")
#: memory budgets for the budget table, in bytes
BUDGETS = {"1 GB": 1e9, "16 GB": 16e9, "80 GB": 80e9}


def advice_metric(frame: pd.DataFrame) -> str | None:
    """The memory metric the advice uses: the first of :data:`PEAK_PREFERENCE` with data."""
    return next((m for m in PEAK_PREFERENCE if has_data(frame, m)), None)


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
