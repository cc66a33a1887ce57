"""The changed figures of a comparison as display text (``compare``'s table), regressions first."""

from __future__ import annotations

import math

import pandas as pd

from neural_ode.results.compare import (
    ERROR_METRICS,
    NOT_ENOUGH_SAMPLES,
    NOT_JUDGED,
    ONE_SIDE,
    ORDER,
    TIMED_METRICS,
    Comparison,
)


def _shown(metric: str, value) -> str:
    if isinstance(value, str):
        return value
    try:
        number = float(value)
    except (TypeError, ValueError):
        return "" if value is None else str(value)
    if math.isnan(number):
        return "not measured" if value is None else "nan"
    if math.isinf(number):
        return "inf" if number > 0 else "-inf"
    if metric in TIMED_METRICS:
        return f"{number * 1e3:.3g} ms"
    if metric.endswith("_bytes"):
        return f"{int(number):,}"
    if metric in ERROR_METRICS:
        return f"{number:.3g}"
    return f"{int(number)}" if number.is_integer() else f"{number:.4g}"


def changes_table(comparison: Comparison, every: bool = False) -> pd.DataFrame:
    """The changed figures as display text: cell, metric, base, new, change (%), verdict, test;
    regressions first. Without ``every``: no ``same`` and no :data:`ONE_SIDE` rows, and of the
    figures not judged or not tested only those whose evidence shows a change beyond the thresholds."""
    rows = comparison.table
    if not every:
        quiet = rows["change"].isin([NOT_JUDGED, NOT_ENOUGH_SAMPLES]) & ~rows["evident"].astype(bool)
        hidden = rows["change"].isin(["same", ONE_SIDE]) | quiet
        rows = rows[~hidden]
    rows = rows.assign(_order=rows["change"].map(ORDER)).sort_values(["_order", "cell", "metric"], kind="stable")
    percent = rows["ratio"].map(lambda r: "" if pd.isna(r) else "+inf" if math.isinf(r) else f"{(r - 1) * 100:+.1f} %")
    return pd.DataFrame(
        {
            "cell": rows["cell"],
            "metric": rows["metric"],
            "base": [_shown(m, v) for m, v in zip(rows["metric"], rows["base"])],
            "new": [_shown(m, v) for m, v in zip(rows["metric"], rows["new"])],
            "change": percent,
            "verdict": rows["change"],
            "test": rows["test"],
        }
    ).reset_index(drop=True)
