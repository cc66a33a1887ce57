"""The report's first section: which configuration to run for a gradient accuracy, in sentences.

Built from the same picks as ``choices.csv`` (:mod:`neural_ode.reporting.tables.choices`): for each
problem and gradient-error target, the fastest measured configuration that reaches the target,
the one with the least peak memory, and the fastest direct-backpropagation configuration for
comparison. Consecutive targets with the same picks share one sentence. All figures are
measured values of one cell (no interpolation).

Where the cells of a problem were timed together in rounds, "fastest" is checked against every
other cell that reaches the target: one whose per-round time ratio to the pick has a 95 % interval
containing 1 is *tied* with it, and the sentence says so (``tied with direct · rk4 · 8 steps: 1.02×
[0.98–1.05]``: that cell's time over the pick's, per round;
:mod:`neural_ode.reporting.tables.paired`).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from neural_ode import units
from neural_ode.axes import AXES, choice_keys, shown
from neural_ode.axes import text as axis_text
from neural_ode.reporting.columns import trusted, varying
from neural_ode.reporting.tables.choices import (
    ROUNDOFF_SHARE,
    TARGETS,
    cheapest,
    cost,
    decided_by_roundoff,
    problem_keys,
    problems,
)
from neural_ode.reporting.tables.paired import paired_time, ratio_text, resolved
from neural_ode.solvers import SOLVERS


def configuration(cell) -> str:
    """A cell's configuration in words: ``adjoint · dopri5 · rtol 1e-05`` or ``direct · rk4 · 8 steps``."""
    parts = [str(cell["method"]), str(cell["solver"])]
    solver = SOLVERS.get(str(cell["solver"]))
    adaptive = bool(solver.adaptive) if solver is not None else pd.isna(cell.get("steps"))
    if adaptive and pd.notna(cell.get("rtol")):
        atol = cell.get("atol")
        tol = f"rtol {units.tolerance(cell['rtol'])}"
        if pd.notna(atol) and not np.isclose(atol, cell["rtol"]):
            tol += f", atol {units.tolerance(atol)}"
        parts.append(tol)
    elif pd.notna(cell.get("steps")):
        parts.append(f"{int(cell['steps'])} steps")
    # every other choice (dtype, landing, any axis declared later) where it is not the default
    for key in choice_keys():
        if key in ("method", "solver", "steps", "rtol", "atol") or key not in cell:
            continue
        value = cell.get(key)
        if value is None or (isinstance(value, float) and np.isnan(value)) or value == AXES[key].default:
            continue
        parts.append(axis_text(key, value))
    return " · ".join(parts)


def problem_text(problem: dict, frame: pd.DataFrame, keys: list[str] | None = None) -> str:
    """``mlp (t1=1, batch=128)``: the workload and every problem axis that varies in ``frame``
    (``keys``: those axes, when the caller names many problems of one frame and found them once)."""
    details = []
    # the problem axes that vary, less those implied by the workload (each workload's sizes)
    for key in problem_axes(frame) if keys is None else keys:
        value = problem[key]
        if key == "workload" or value is None or (isinstance(value, float) and np.isnan(value)):
            continue
        if not shown(key, problem):  # e.g. no "stage 0" beside a stage-less (perhaps fitted) field
            continue
        details.append(axis_text(key, value))
    text = str(problem["workload"])
    return f"{text} ({', '.join(details)})" if details else text


def problem_axes(frame: pd.DataFrame) -> list[str]:
    """The problem axes :func:`problem_text` names: those that vary in ``frame``, less those implied
    by the workload (each workload's sizes)."""
    return varying(frame, keys=problem_keys(frame), implied=True)


def _costed(frame: pd.DataFrame) -> pd.DataFrame:
    rows = trusted(frame, "grad_rel_error")
    rows = rows.assign(time=cost(rows, "time"), memory=cost(rows, "memory"))
    return rows[(rows["grad_rel_error"] >= 0)]


def _pick(cells: pd.DataFrame, criterion: str, target: float):
    part = cells[np.isfinite(cells[criterion]) & (cells[criterion] > 0)].assign(value=lambda c: c[criterion])
    return cheapest(part, target)


def _cell_text(cell, first: str) -> str:
    second = "memory" if first == "time" else "time"
    return (
        f"{configuration(cell)} — {units.cost(first, cell[first])} "
        f"({units.cost(second, cell[second])}, gradient error {units.error(cell['grad_rel_error'])})"
    )


def _ties(cells: pd.DataFrame, fast, target: float) -> list[tuple]:
    """The cells reaching ``target`` whose per-round time ratio to the pick ``fast`` has a 95 % interval
    containing 1: (cell, ratio statistics), fastest first; empty without rounds (or without intervals)."""
    if fast is None:
        return []
    reaching = cells[(cells["grad_rel_error"] <= target) & np.isfinite(cells["time"])].sort_values("time")
    ties = []
    for name, cell in reaching.iterrows():
        if name == fast.name:
            continue
        stats = paired_time(fast, cell)
        if stats is not None and resolved(stats.low, stats.high) is False:
            ties.append((cell, stats))
    return ties


def tie_text(ties: list[tuple]) -> str:
    """``tied with direct · rk4 · 8 steps: 1.02× [0.98–1.05]``: each tied cell and its per-round ratio."""
    return ", ".join(f"tied with {configuration(cell)}: {ratio_text(stats)}" for cell, stats in ties)


def _sentence(fast, small, direct, ties=()) -> str:
    parts = []
    if fast is not None:
        parts.append(f"fastest is {_cell_text(fast, 'time')}")
        if ties:
            parts[-1] += f" ({tie_text(ties)}: its time over this one's, per round)"
    if small is not None:
        if fast is not None and small.name == fast.name:
            parts.append("it also needs the least memory")
        else:
            text = f"least memory is {_cell_text(small, 'memory')}"
            if fast is not None and fast["memory"] > 0 and fast["time"] > 0:
                text += (
                    f": {units.ratio(small['memory'] / fast['memory'])} the memory at "
                    f"{units.ratio(small['time'] / fast['time'])} the time"
                )
            parts.append(text)
    if direct is not None and fast is not None and direct.name not in (fast.name, getattr(small, "name", None)):
        faster = fast["time"] / direct["time"]
        parts.append(
            f"the fastest direct backpropagation, {_cell_text(direct, 'time')}, takes "
            f"{units.ratio(direct['time'] / fast['time'])} the time of the fastest"
            + (" (it is faster)" if faster > 1 else "")
        )
    return "; ".join(parts) + "."


def _roundoff_note(cells: list) -> str:
    """`` Decided by round-off: ...`` for picks whose round-off floor is at least half the target (empty if none)."""
    if not cells:
        return ""
    floors = ", ".join(f"{units.error(c['grad_roundoff_floor'])} ({configuration(c)})" for c in cells)
    return (
        f" Decided by round-off: float32 rounding alone moves the gradient by {floors} against the same solve "
        f"in float64, at least {ROUNDOFF_SHARE:.0%} of the target: whether a cell meets it depends on rounding as "
        "much as on the method, steps or tolerance (measure in float64 to rank them)."
    )


def _target_span(targets: list[float]) -> str:
    if len(targets) == 1:
        return units.tolerance(targets[0])
    return f"{units.tolerance(targets[0])} … {units.tolerance(targets[-1])}"


def picks(frame: pd.DataFrame):
    """Every problem's picks, target by target: dicts with ``problem``, ``where`` (its
    :func:`problem_text`), ``cells`` (its costed cells),
    ``target``, ``fast`` and ``small`` (the fastest and least-memory cells reaching it), ``direct``
    (the fastest direct backpropagation reaching it), ``ties`` (:func:`_ties` of ``fast``) and
    ``rounded`` (the picks decided by round-off). The same picks as ``choices.csv``; a target no
    cell reaches is left out."""
    rows = _costed(frame)
    axes = problem_axes(frame)  # once: finding them scans the whole frame
    for problem, cells in problems(rows):
        where = problem_text(problem, frame, axes)
        for target in TARGETS:
            fast, small = _pick(cells, "time", target), _pick(cells, "memory", target)
            if fast is None and small is None:
                continue
            direct = _pick(cells[cells["method"] == "direct"], "time", target)
            picked = {c.name: c for c in (fast, small) if c is not None}  # one cell may be both
            rounded = [c for c in picked.values() if decided_by_roundoff(target, c.get("grad_roundoff_floor"))]
            yield {"problem": problem, "where": where, "cells": cells, "target": target, "fast": fast, "small": small,
                   "direct": direct, "ties": _ties(cells, fast, target), "rounded": rounded}  # fmt: skip


def decision_sentences(frame: pd.DataFrame) -> list[tuple[str, str]]:
    """(heading, sentence) per problem and run of gradient-error targets with the same picks.

    The heading reads ``gradient error ≤ 1e-1 … 1e-5 on mlp (t1 = 1)``; the sentence names the
    fastest configuration reaching the targets, the one with the least peak memory, and the fastest
    direct backpropagation, with their measured time, memory and gradient error.
    """
    out = []
    runs: list[tuple[tuple, list[float], str, str]] = []
    for pick in picks(frame):
        fast, small, direct, ties, rounded = (pick[k] for k in ("fast", "small", "direct", "ties", "rounded"))
        where = pick["where"]
        key = (str(pick["problem"]), *(getattr(c, "name", None) for c in (fast, small, direct)), bool(rounded))
        key += tuple(cell.name for cell, _ in ties)
        if runs and runs[-1][0] == key:
            runs[-1][1].append(pick["target"])
        else:
            runs.append((key, [pick["target"]], _sentence(fast, small, direct, ties) + _roundoff_note(rounded), where))
    out += [(f"gradient error ≤ {_target_span(targets)} on {where}", text) for _key, targets, text, where in runs]
    return out


__all__ = ["configuration", "decision_sentences", "picks", "problem_text", "tie_text"]
