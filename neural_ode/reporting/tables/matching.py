"""Methods compared at equal accuracy and at equal settings.

*Equal settings*: two methods on identical cells (everything equal but the method), the ratio of
their costs; a method that is cheaper because it is less accurate looks better here.

*Equal accuracy*: each method's work-precision line is the Pareto front of its cells on one
problem (:func:`neural_ode.reporting.tables.choices.pareto_front`: over every solver, step count and
tolerance measured). Its cost at a gradient error ``e`` is interpolated linearly in log error
against log cost between the two front cells around ``e``; at an error looser than every front
cell it is the front's cheapest cell (which reaches ``e`` as measured); tighter than every cell it
is undefined. Two methods are compared at the targets of :data:`~neural_ode.reporting.tables.choices.TARGETS`
that both reach and no looser than the looser of their loosest errors, or, when no target falls
there, at the tighter error both reach.
"""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd

from neural_ode.reporting.columns import CONFIG_COLUMNS
from neural_ode.reporting.tables.choices import CRITERIA, TARGETS, candidates, pareto_front, problem_keys, problems

EQUAL_ACCURACY = "equal accuracy"
EQUAL_SETTINGS = "equal settings"


def method_order(methods) -> list[str]:
    """Methods with ``direct`` first, the rest sorted by name."""
    return sorted({str(m) for m in methods}, key=lambda m: (m != "direct", m))


def precision_line(cells: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """(gradient errors ascending, costs) of the Pareto front of ``cells`` (columns ``value``, ``grad_rel_error``)."""
    front = pareto_front(cells).sort_values("grad_rel_error")
    return front["grad_rel_error"].to_numpy(float), front["value"].to_numpy(float)


def cost_at(line: tuple[np.ndarray, np.ndarray], error: float) -> float:
    """The cost of a :func:`precision_line` at gradient error ``error`` (see the module docstring); NaN if tighter."""
    errors, costs = line
    if errors.size == 0 or error < errors[0]:
        return float("nan")
    if error >= errors[-1]:
        return float(costs[-1])
    positive = errors > 0
    if not positive.all():  # an exact cell (error 0) reaches every error at its cost
        if error <= errors[positive][0]:
            return float(costs[~positive].min())
        errors, costs = errors[positive], costs[positive]
    return float(np.exp(np.interp(np.log(error), np.log(errors), np.log(costs))))


def matched_errors(line_a, line_b) -> list[float]:
    """The gradient errors two lines are compared at (module docstring)."""
    if line_a[0].size == 0 or line_b[0].size == 0:
        return []
    tightest = max(line_a[0][0], line_b[0][0])
    loosest = max(line_a[0][-1], line_b[0][-1])
    targets = [t for t in TARGETS if tightest <= t <= loosest]
    return targets or [float(tightest)]


def equal_accuracy_table(frame: pd.DataFrame) -> pd.DataFrame:
    """Every pair of methods on every problem at each matched gradient error, per criterion.

    Columns: the problem keys, ``criterion``, ``method_a``, ``method_b``, ``grad_rel_error`` (the
    matched error), ``value_a``, ``value_b`` (interpolated costs: seconds or bytes) and ``ratio``
    (``value_b / value_a``).
    """
    out = []
    for criterion in CRITERIA:
        rows = candidates(frame, criterion)
        for problem, cells in problems(rows):
            lines = {m: precision_line(c) for m, c in cells.groupby("method")}
            for a, b in itertools.combinations(method_order(lines), 2):
                for error in matched_errors(lines[a], lines[b]):
                    value_a, value_b = cost_at(lines[a], error), cost_at(lines[b], error)
                    out.append(
                        {**problem, "criterion": criterion, "method_a": a, "method_b": b, "grad_rel_error": error,
                         "value_a": value_a, "value_b": value_b, "ratio": value_b / value_a}
                    )  # fmt: skip
    columns = [*problem_keys(frame), "criterion", "method_a", "method_b", "grad_rel_error", "value_a", "value_b"]
    return pd.DataFrame(out, columns=[*columns, "ratio"])


def equal_settings_table(frame: pd.DataFrame) -> pd.DataFrame:
    """Every pair of methods on identical cells, per criterion: one row per cell pair.

    Columns: ``criterion``, ``method_a``, ``method_b``, ``solver``, ``value_a``, ``value_b``,
    ``ratio`` (``value_b / value_a``), ``error_a``, ``error_b`` (their gradient errors).
    """
    keys = [c for c in CONFIG_COLUMNS if c != "method" and c in frame]
    out = []
    for criterion in CRITERIA:
        rows = candidates(frame, criterion)
        by_method = {m: c for m, c in rows.groupby("method")}
        for a, b in itertools.combinations(method_order(by_method), 2):
            pairs = by_method[a].merge(by_method[b], on=keys, suffixes=("_a", "_b"))
            if pairs.empty:
                continue
            out.append(
                pd.DataFrame(
                    {
                        "criterion": criterion,
                        "method_a": a,
                        "method_b": b,
                        "solver": pairs["solver"],
                        "value_a": pairs["value_a"],
                        "value_b": pairs["value_b"],
                        "ratio": pairs["value_b"] / pairs["value_a"],
                        "error_a": pairs["grad_rel_error_a"],
                        "error_b": pairs["grad_rel_error_b"],
                    }
                )  # fmt: skip
            )
    columns = ["criterion", "method_a", "method_b", "solver", "value_a", "value_b", "ratio", "error_a", "error_b"]
    return pd.concat(out, ignore_index=True) if out else pd.DataFrame(columns=columns)


def _span(ratios: pd.Series) -> str:
    ratios = ratios.dropna()
    if ratios.empty:
        return "—"
    low, high, median = ratios.min(), ratios.max(), ratios.median()
    if np.isclose(low, high, rtol=0.05):
        return f"{median:.2g}×"
    return f"{median:.2g}× ({low:.2g}–{high:.2g}×)"


def _pair(table: pd.DataFrame, a: str, b: str, criterion: str) -> pd.DataFrame:
    return table[(table["method_a"] == a) & (table["method_b"] == b) & (table["criterion"] == criterion)]


def pairs_table(frame: pd.DataFrame) -> pd.DataFrame:
    """Every pair of methods: cost ratios B/A at equal accuracy and at equal settings, time and memory.

    Each ratio reads ``median (min–max)`` over the matched errors of every problem (equal
    accuracy) or over identical cells (equal settings); below 1 means method B is cheaper.
    """
    accuracy = equal_accuracy_table(frame)
    settings = equal_settings_table(frame)
    methods = method_order(frame.loc[frame["ok"], "method"].dropna())
    out = []
    for a, b in itertools.combinations(methods, 2):
        row = {"method A": a, "method B": b}
        for criterion in CRITERIA:
            acc = accuracy[
                (accuracy["method_a"] == a) & (accuracy["method_b"] == b) & (accuracy["criterion"] == criterion)
            ]
            same = settings[
                (settings["method_a"] == a) & (settings["method_b"] == b) & (settings["criterion"] == criterion)
            ]
            row[f"{criterion} B/A at {EQUAL_ACCURACY}"] = _span(acc["ratio"])
            row[f"{criterion} B/A at {EQUAL_SETTINGS}"] = _span(same["ratio"])
            if criterion == "time":
                errors = acc["grad_rel_error"]
                row["matched errors"] = (
                    "—" if errors.empty else f"{errors.min():.0e}–{errors.max():.0e}".replace("e-0", "e-")
                )
                row["cells at equal settings"] = len(same)
        out.append(row)
    return pd.DataFrame(out)


__all__ = [
    "EQUAL_ACCURACY",
    "EQUAL_SETTINGS",
    "cost_at",
    "equal_accuracy_table",
    "equal_settings_table",
    "matched_errors",
    "method_order",
    "pairs_table",
    "precision_line",
]
