"""The figures of an A/B between two revisions: paired timing ratios and exactly compared counts.

:func:`timing_rows` turns the timed runs of ``neural-ode-bench ab`` (one forward+backward of BASE
and one of NEW per cell and round, back to back) into per-round ratios NEW/BASE and summarises each
cell's forward, backward and total ratio by its median and the median's 95 % interval from order
statistics, widened where the rounds' ratios are autocorrelated
(:func:`neural_ode.measuring.intervals.honest_median_interval`). :func:`exact_rows` compares
the figures that do not depend on load (NFE, bytes, errors, instruction counts) as
``compare`` does (:func:`neural_ode.results.compare.compare_figure`, the one-pair form of
compare_frames). Both give pandas tables with
the columns of :data:`COLUMNS`.
"""

from __future__ import annotations

import math
import statistics

import numpy as np
import pandas as pd

from neural_ode.measuring.intervals import honest_median_interval
from neural_ode.results.compare import ERROR_METRICS, EXACT_METRICS, LABELS, Thresholds, compare_figure
from neural_ode.results.schema import METRICS

#: the columns of both tables: the cell's label and index, the figure, both sides' values, the
#: ratio NEW/BASE (timings: the median per-round ratio) with its interval, the verdict and how decided
COLUMNS = ["cell", "index", "metric", "label", "base", "new", "ratio", "low", "high", "change", "test"]
#: the timed figures: the worker's answer fields (seconds) and their labels
TIMED = {"forward_s": "time forward", "backward_s": "time backward", "total_s": "time forward+backward"}
#: the instruction counts (:mod:`neural_ode.measuring.instructions`)
INSTRUCTION_METRICS = tuple(name for name in METRICS if name.startswith("instructions_"))


def lag1_autocorrelation(values) -> float:
    """The lag-1 autocorrelation of ``values`` in the order given (NaN for fewer than 3 or no spread)."""
    x = np.asarray(values, dtype=float)
    if len(x) < 3 or not np.isfinite(x).all():
        return math.nan
    x = x - x.mean()
    denominator = float((x * x).sum())
    return float((x[1:] * x[:-1]).sum() / denominator) if denominator > 0 else math.nan


def paired_ratios(times: list[dict]) -> pd.DataFrame:
    """One row per cell and round: BASE's and NEW's forward, backward and total seconds, and their ratios NEW/BASE."""
    frame = pd.DataFrame(times)
    if frame.empty:
        return pd.DataFrame(columns=["cell", "round", *(f"{k}_ratio" for k in TIMED)])
    frame["total_s"] = frame["forward_s"] + frame["backward_s"]
    wide = frame.pivot_table(index=["cell", "round"], columns="side", values=list(TIMED), aggfunc="first")
    out = pd.DataFrame(index=wide.index)
    for key in TIMED:
        out[f"{key}_base"], out[f"{key}_new"] = wide[(key, "BASE")], wide[(key, "NEW")]
        out[f"{key}_ratio"] = out[f"{key}_new"] / out[f"{key}_base"]
    return out.reset_index().sort_values(["cell", "round"], kind="stable")


def timing_rows(labels: list[str], times: list[dict], threshold: float) -> pd.DataFrame:
    """Per cell and timed figure: median seconds of each side, the median per-round ratio NEW/BASE and
    its 95 % interval; ``regression`` when the interval lies above ``threshold``, ``improvement`` when
    below 1/``threshold``, ``same`` otherwise, ``not enough rounds`` without an interval (fewer than 6)."""
    ratios = paired_ratios(times)
    rows = []
    for index, group in ratios.groupby("cell", sort=True):
        for key, label in TIMED.items():
            values = group[f"{key}_ratio"].dropna().tolist()
            if not values:
                continue
            median = statistics.median(values)
            low, high = honest_median_interval(values)  # values in round order
            rho = lag1_autocorrelation(np.log(values))
            if not math.isfinite(low):
                change = "not enough rounds"
            elif low > threshold:
                change = "regression"
            elif high < 1 / threshold:
                change = "improvement"
            else:
                change = "same"
            test = (f"median of {len(values)} paired rounds, 95 % interval by order statistics vs {threshold:g}; "
                    f"lag-1 autocorrelation {rho:+.2f}")  # fmt: skip
            rows.append({"cell": labels[index], "index": index, "metric": key.replace("_s", "_time_s"),
                         "label": label, "base": statistics.median(group[f"{key}_base"]),
                         "new": statistics.median(group[f"{key}_new"]), "ratio": median, "low": low, "high": high,
                         "change": change, "test": test, "rho": rho, "rounds": len(values)})  # fmt: skip
    return pd.DataFrame(rows, columns=[*COLUMNS, "rho", "rounds"])


def exact_rows(labels: list[str], base: list[dict], new: list[dict], error_rtol: float) -> pd.DataFrame:
    """Per cell: its status, and every exact, error and instruction figure both sides have, compared as
    ``compare`` compares them (equal; errors within ``error_rtol``; counts within their declared tolerance)."""
    thresholds = Thresholds(error_rtol=error_rtol, timings="off")
    metrics = list(dict.fromkeys([*EXACT_METRICS, *INSTRUCTION_METRICS, *ERROR_METRICS]))
    rows = []
    for index, (label, base_row, new_row) in enumerate(zip(labels, base, new)):
        base_status, new_status = base_row.get("status") or "ok", new_row.get("status") or "ok"
        if base_status != new_status:
            change = "regression" if base_status == "ok" else "improvement" if new_status == "ok" else "changed"
            rows.append({"cell": label, "index": index, "metric": "status", "label": "status", "base": base_status,
                         "new": new_status, "change": change,
                         "test": str(new_row.get("error") or base_row.get("error") or "")[:120]})  # fmt: skip
        if base_status != "ok" or new_status != "ok":
            continue
        for metric in metrics:
            row = compare_figure(metric, base_row, new_row, thresholds)
            if row is not None:
                rows.append({"cell": label, "index": index, **row, "label": LABELS.get(metric, row["label"])})
    return pd.DataFrame(rows, columns=COLUMNS)
