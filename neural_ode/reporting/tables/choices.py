"""Decisions from the Pareto front: the cheapest measured configuration that reaches an accuracy.

A *problem* is what the user is given (workload, horizon, sizes, device; :data:`PROBLEM_KEYS`);
a *configuration* is what they choose (method, solver, steps or tolerances, dtype). For every
problem and each *criterion* of :data:`CRITERIA`, every measured (``ok``) cell with a gradient
error costs:

* ``time``: the median forward + backward wall time, ``time_forward_s + time_backward_s`` (s);
* ``memory``: the cell's peak, ``cuda_peak_bytes`` on CUDA, ``cpu_peak_bytes`` otherwise (bytes).

:func:`pareto_front` keeps the cells no other cell beats on both cost and gradient error;
:func:`choices_table` answers, for each gradient-error target of :data:`TARGETS` that some cell
reaches, which cell is cheapest among those whose ``grad_rel_error`` is at most the target. That
table is ``choices.csv`` beside ``results.csv``. Every value is measured; nothing is interpolated
here (the equal-accuracy comparisons in :mod:`neural_ode.reporting.tables.matching` interpolate).

A pick is *decided by round-off* (:func:`decided_by_roundoff`) when float32 rounding alone takes at
least half of the target: the picked cell's round-off floor (``grad_roundoff_floor``, the distance of
its gradient from the same solve in float64) is at least :data:`ROUNDOFF_SHARE` x the target, i.e.
the target is below twice the floor. Then whether a cell meets the target depends on rounding as much
as on the method, steps or tolerance chosen: on the quick mlp, direct rk4 gradient errors are 7.4e-7,
1.3e-7, 1.6e-7, 2.3e-7 at 4-32 steps while their floors are 1.0e-7, 1.2e-7, 1.6e-7, 2.2e-7 — more
steps, more rounding — and the 1e-7 target is met or missed by rounding. Such picks stay in the
table (they were measured), flagged, and the report says so.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from neural_ode import axes
from neural_ode.reporting.columns import trusted

#: gradient-error targets, loosest first (relative L2 error of dL/dθ against the float64 reference)
TARGETS = (1e-1, 1e-2, 1e-3, 1e-4, 1e-5, 1e-6, 1e-7, 1e-8)

#: a pick is decided by round-off when its round-off floor is at least this share of the target
ROUNDOFF_SHARE = 0.5

#: criterion -> (what it costs, unit of ``value``)
CRITERIA = {"time": ("forward + backward median wall time", "s"), "memory": ("peak memory", "bytes")}

#: what makes a problem: cells that differ only in other columns are alternatives to each other
#: (every identity axis that is not a user's choice: :func:`neural_ode.axes.problem_keys`)
PROBLEM_KEYS = axes.problem_keys()

#: what is chosen, the configuration columns of ``choices.csv`` after the problem's, in order
CHOICE_COLUMNS = axes.choice_keys()

#: configuration columns written as integers (the prepared frame holds them as floats)
INTEGER_COLUMNS = tuple(a.name for a in axes.AXES.values() if a.kind is int)


def cost(frame: pd.DataFrame, criterion: str) -> pd.Series:
    """The cost of every row of a prepared ``frame`` under ``criterion`` (seconds or bytes; NaN if unmeasured)."""
    if criterion == "time":
        return frame["time_forward_s"] + frame["time_backward_s"]
    if criterion == "memory":
        return frame["cuda_peak_bytes"].where(frame["cuda_peak_bytes"].notna(), frame["cpu_peak_bytes"])
    raise ValueError(f"criterion {criterion!r}: allowed are {', '.join(CRITERIA)}")


def candidates(frame: pd.DataFrame, criterion: str) -> pd.DataFrame:
    """The ok rows with a finite gradient error and a positive finite cost, as column ``value``;
    a cell flagged ``gradient_wrong`` is no candidate (:func:`neural_ode.reporting.columns.trusted`)."""
    rows = trusted(frame, "grad_rel_error")
    rows = rows.assign(value=cost(rows, criterion).astype(float))
    return rows[np.isfinite(rows["value"]) & (rows["value"] > 0) & (rows["grad_rel_error"] >= 0)]


def problem_keys(frame: pd.DataFrame) -> list[str]:
    """The :data:`PROBLEM_KEYS` the frame has (a problem is one combination of their values)."""
    return [k for k in PROBLEM_KEYS if k in frame]


def problems(frame: pd.DataFrame):
    """``(problem, rows)`` per problem of ``frame``: the problem as a dict of its key values."""
    keys = problem_keys(frame)
    for values, rows in frame.groupby(keys, dropna=False, sort=True):
        yield dict(zip(keys, values, strict=True)), rows


def pareto_front(cells: pd.DataFrame, value: str = "value") -> pd.DataFrame:
    """The cells of ``cells`` that no other cell beats on both ``value`` and ``grad_rel_error``.

    Sorted by cost ascending (so gradient error strictly descending). Of cells with equal cost
    and error the first in frame order is kept.
    """
    if cells.empty:
        return cells
    ordered = cells.sort_values([value, "grad_rel_error"], kind="stable")
    best = np.minimum.accumulate(ordered["grad_rel_error"].to_numpy())
    previous = np.concatenate([[np.inf], best[:-1]])
    return ordered[ordered["grad_rel_error"].to_numpy() < previous]


def cheapest(cells: pd.DataFrame, target: float) -> pd.Series | None:
    """The cheapest of ``cells`` (with ``value``) whose gradient error is at most ``target``; None if none."""
    reaching = cells[cells["grad_rel_error"] <= target]
    if reaching.empty:
        return None
    return reaching.sort_values(["value", "grad_rel_error"], kind="stable").iloc[0]


def decided_by_roundoff(target: float, floor) -> bool:
    """True when a pick at gradient-error ``target`` is decided by float32 rounding: the picked
    cell's round-off ``floor`` (``grad_roundoff_floor``) is at least :data:`ROUNDOFF_SHARE` x ``target``
    (False where no floor was measured: float64 cells, older results)."""
    try:
        floor = float(floor)
    except (TypeError, ValueError):
        return False
    return bool(np.isfinite(floor) and floor >= ROUNDOFF_SHARE * target)


def roundoff_decides(target: float, floors: pd.Series) -> pd.Series:
    """:func:`decided_by_roundoff` of every floor in ``floors`` at once (False where none was measured)."""
    floors = pd.to_numeric(floors, errors="coerce").astype(float)
    return pd.Series(np.isfinite(floors) & (floors >= ROUNDOFF_SHARE * target), index=floors.index, dtype=bool)


def _columns(frame: pd.DataFrame) -> list[str]:
    problem = [c for c in PROBLEM_KEYS if c in frame and c != "workload"]
    config = [c for c in CHOICE_COLUMNS if c in frame]
    return ["workload", "target_grad_rel_error", "criterion", *config, *problem, "value", "grad_rel_error",
            "grad_roundoff_floor", "decided_by_roundoff"]  # fmt: skip


def choices_table(frame: pd.DataFrame) -> pd.DataFrame:
    """The cheapest measured configuration per problem, gradient-error target and criterion.

    Columns: ``workload, target_grad_rel_error, criterion``, the choice (:data:`CHOICE_COLUMNS`), the
    rest of the problem (:data:`PROBLEM_KEYS`) present in ``frame``, ``value`` (seconds for ``time``,
    bytes for ``memory``), the chosen cell's ``grad_rel_error`` and ``grad_roundoff_floor``, and
    ``decided_by_roundoff`` (:func:`decided_by_roundoff`). Only targets that some ok cell of the
    problem reaches appear.
    """
    columns = _columns(frame)
    out = []
    for criterion in CRITERIA:
        rows = candidates(frame, criterion)
        if rows.empty:
            continue
        # one sort and one grouping per target over every problem at once (not one filter per problem):
        # the first row of a problem in cost order among those reaching the target is :func:`cheapest`'s pick
        rows = rows[[c for c in rows if c in columns]]  # only the columns kept: each filter below copies them
        ordered = rows.sort_values(["value", "grad_rel_error"], kind="stable")
        keys = problem_keys(ordered)
        for target in TARGETS:
            reaching = ordered[ordered["grad_rel_error"].to_numpy() <= target]
            picks = reaching.groupby(keys, dropna=False, sort=False).head(1) if keys else reaching.head(1)
            if picks.empty:
                continue
            floors = picks["grad_roundoff_floor"] if "grad_roundoff_floor" in picks else pd.Series(np.nan, picks.index)
            out.append(picks.assign(target_grad_rel_error=target, criterion=criterion,
                                    decided_by_roundoff=roundoff_decides(target, floors)))  # fmt: skip
    if not out:
        return pd.DataFrame(columns=columns)
    table = pd.concat(out, ignore_index=True).reindex(columns=columns)
    for column in INTEGER_COLUMNS:
        if column in table:
            table[column] = pd.to_numeric(table[column]).round().astype("Int64")
    # per workload: time before memory, then each problem (horizon, sizes) with its targets loosest first
    order = ["workload", "criterion", *[k for k in problem_keys(table) if k != "workload"], "target_grad_rel_error"]
    ascending = [True, False, *[True] * (len(order) - 3), False]
    return table.sort_values(order, ascending=ascending, kind="stable").reset_index(drop=True)


def fronts_table(frame: pd.DataFrame) -> pd.DataFrame:
    """Every problem's time–error and memory–error Pareto fronts: configuration, cost and error per cell."""
    columns = [c for c in ("criterion", *problem_keys(frame), *CHOICE_COLUMNS) if c in frame or c == "criterion"]
    out = []
    for criterion in CRITERIA:
        rows = candidates(frame, criterion)
        for _problem, cells in problems(rows):
            front = pareto_front(cells).assign(criterion=criterion)
            out.append(front[[*dict.fromkeys(columns), "value", "grad_rel_error"]])
    if not out:
        return pd.DataFrame(columns=[*dict.fromkeys(columns), "value", "grad_rel_error"])
    return pd.concat(out, ignore_index=True)


def write_choices(frame: pd.DataFrame, path) -> pd.DataFrame:
    """Write :func:`choices_table` of a prepared ``frame`` to ``path`` (``choices.csv``); returns the table."""
    table = choices_table(frame)
    from neural_ode.storage.writer import write_table

    write_table(table, path)
    return table


__all__ = [
    "CHOICE_COLUMNS",
    "CRITERIA",
    "PROBLEM_KEYS",
    "ROUNDOFF_SHARE",
    "TARGETS",
    "candidates",
    "cheapest",
    "choices_table",
    "cost",
    "decided_by_roundoff",
    "fronts_table",
    "pareto_front",
    "problems",
    "write_choices",
]
