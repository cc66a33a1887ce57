"""Figures a cell measured without failure that still cannot be believed: the wrong-gradient flag,
and the cause of every gradient error a report has to explain.

A gradient error has two kinds of origin, and only one of them makes a gradient wrong:

* a **loose tolerance**: an adjoint's backward solve runs at the cell's own rtol/atol, and its
  error sets the gradient's; it falls as the tolerance tightens. The quick report's mlp adjoint
  with bosh3 has gradient error 0.062 at rtol 1e-3 (solution error 2.7e-5, 2,276x it), 9.2e-3 at
  1e-4, 5.8e-4 at 1e-5, and 8.9e-5 with its backward solve at 1e-7 (MEASURING.md, round 4): an
  honest cost/accuracy trade, kept in picks and medians and labelled with its cause;
* a **broken gradient**, for one of two mechanisms:

  - *stability limit* (backpropagation through the solve): the gradient is the exact derivative of
    the discrete solve; where an explicit solver runs at its stability limit (a stiff field:
    per-step amplification near 1), error control accepts steps by the state's error estimate and
    never sees the sensitivities, which drift by orders of magnitude while the state stays
    accurate: on the stiff workload (Van der Pol, mu 1000) direct dopri5 at rtol 1e-3 gives
    gradient error 1.4e4 with state error 2.7e-4;
  - *backsolve drift* (an adjoint that re-solves the state backwards): the backward re-solve leaves
    the forward trajectory, so the adjoint is integrated along the wrong states (the cell's
    ``reverse_state_error``, the state reconstructed over one output interval, non-finite or more
    than :data:`DRIFT_BEYOND` times max(rtol, solution error) off).

The rule (:func:`gradient_wrong`, :func:`judge`): a gradient is wrong when

* its error is above :data:`WRONG_ABOVE` (1): larger than the gradient itself, whatever the solve's
  accuracy; or
* its error is above :data:`WRONG_FLOOR` (1e-2) **and** above :data:`BEYOND_TOLERANCE` (1e4) times
  max(rtol, solution error): beyond what either the tolerance or the solve's accuracy can explain
  (fixed grids: times the solution error alone). Every broken stiff cell in the committed reports
  is above 1, or above 2e6 x its rtol; healthy cells reach about 5,000 x rtol (the loose adjoint
  above: 62x its rtol); or
* its error is above :data:`WRONG_FLOOR` on a **tolerance ladder** (cells differing only in
  rtol/atol) along which the gradient error does not fall: the error at the ladder's tightest
  tolerance is not below the error at its loosest. A tolerance effect falls as the tolerance
  tightens; an error that does not is no tolerance effect.

The rule reads only recorded errors and tolerances (and the method's family for the cause), so
any committed results file can be judged again: ``tests/test_wrong_gradients.py`` applies it to
every ``reports/*/results.jsonl`` against a committed list of what it flags.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from neural_ode.axes import identity

#: a gradient error above this (relative L2) is wrong whatever the solution's error
WRONG_ABOVE = 1.0
#: a gradient error above this and ...
WRONG_FLOOR = 1e-2
#: ... more than this many times max(rtol, solution error) is beyond what the tolerance and the solve imply
BEYOND_TOLERANCE = 1e4
#: a gradient error above :data:`WRONG_FLOOR` and this many times the solution error is explained in the
#: report (a loose backward tolerance, or a wrong gradient's mechanism); below it nothing needs explaining
EXPLAIN_BEYOND = 1e3
#: an adjoint cell whose state reconstructed backwards over one output interval is further than this
#: many times max(rtol, solution error) from the forward solve's has drifted (backsolve drift)
DRIFT_BEYOND = 1e2

#: the rule in words, for reports and docs
RULE = (
    f"gradient error > {WRONG_ABOVE:g}; or > {WRONG_FLOOR:g} and more than {BEYOND_TOLERANCE:g}x "
    f"max(rtol, solution error); or > {WRONG_FLOOR:g} on a tolerance ladder along which it does not fall"
)

#: the causes a judged gradient error is labelled with
STABILITY_LIMIT = "stability limit"
BACKSOLVE_DRIFT = "backsolve drift"
LOOSE_BACKWARD = "loose backward tolerance"
LOOSE_TOLERANCE = "loose tolerance"
UNEXPLAINED = "unexplained"
#: what each cause means, for reports
CAUSES = {
    STABILITY_LIMIT: "backpropagation differentiates the discrete solve; at an explicit solver's stability limit "
    "its sensitivities drift while error control watches only the state",
    BACKSOLVE_DRIFT: f"the adjoint's backward re-solve of the state leaves the forward trajectory (the state "
    f"reconstructed over one output interval non-finite or more than {DRIFT_BEYOND:g}x max(rtol, solution error) "
    "off)",
    LOOSE_BACKWARD: "the adjoint's backward solve runs at the cell's tolerance, and the gradient is as loose as "
    "it (the reconstructed state stays within the tolerance); kept in picks and medians unless the rule flags it",
    UNEXPLAINED: "backpropagation through the solve gives a wrong derivative with an accurate state on a field not "
    "declared stiff: no mechanism identified here; left out as wrong",
    LOOSE_TOLERANCE: "the solve's tolerance or grid is loose, and the gradient is as loose as it; kept in picks "
    "and medians",
}

#: the columns a tolerance ladder varies in: the cells of a ladder share every other identity axis
LADDER_VARIES = ("rtol", "atol")


def gradient_wrong(grad_rel_error, sol_rel_error, rtol=None) -> bool:
    """True when a measured gradient error is wrong by the first two parts of :data:`RULE` (the
    ladder part needs the other cells: :func:`judge`); False when it is unmeasured."""
    return bool(gradient_wrong_column([_number(grad_rel_error)], [_number(sol_rel_error)], [_number(rtol)])[0])


def gradient_wrong_column(grad_rel_error, sol_rel_error, rtol=None) -> np.ndarray:
    """:func:`gradient_wrong` of aligned columns (numbers or NaN; ``rtol`` NaN or absent for fixed grids)."""
    grad = np.asarray(grad_rel_error, dtype=float)
    sol = np.asarray(sol_rel_error, dtype=float)
    tol = np.full_like(grad, np.nan) if rtol is None else np.asarray(rtol, dtype=float)
    with np.errstate(invalid="ignore"):
        scale = np.fmax(np.where(np.isfinite(tol), tol, np.nan), sol)  # fmax: the other where one is NaN
        beyond = (grad > WRONG_FLOOR) & np.isfinite(scale) & (grad > BEYOND_TOLERANCE * scale)
        return (grad > WRONG_ABOVE) | beyond


def not_falling(frame: pd.DataFrame) -> pd.Series:
    """True for the cells above :data:`WRONG_FLOOR` on a tolerance ladder (two or more tolerances, every
    other identity axis equal) whose gradient error at the tightest rtol is not below the one at the loosest."""
    flags = pd.Series(False, index=frame.index)
    needed = {"grad_rel_error", "rtol"}
    if frame.empty or not needed <= set(frame):
        return flags
    rows = frame[np.isfinite(pd.to_numeric(frame["grad_rel_error"], errors="coerce").astype(float))
                 & np.isfinite(pd.to_numeric(frame["rtol"], errors="coerce").astype(float))]  # fmt: skip
    keys = [k for k in identity() if k in rows and k not in LADDER_VARIES]
    if rows.empty:
        return flags
    # every ladder at once (grouped sums, no loop over ladders): its tightest and loosest rtol, the
    # smallest error at the tightest and the largest at the loosest
    ladder = rows.groupby([rows[k].astype(str) for k in keys], sort=False, dropna=False).ngroup().to_numpy()
    rtol = pd.to_numeric(rows["rtol"], errors="coerce").astype(float).to_numpy()
    grad = pd.to_numeric(rows["grad_rel_error"], errors="coerce").astype(float).to_numpy()
    by = pd.DataFrame({"ladder": ladder, "rtol": rtol, "grad": grad}).groupby("ladder")
    tight, loose = by["rtol"].transform("min").to_numpy(), by["rtol"].transform("max").to_numpy()
    tightest = pd.Series(np.where(rtol == tight, grad, np.inf)).groupby(ladder).min()
    loosest = pd.Series(np.where(rtol == loose, grad, -np.inf)).groupby(ladder).max()
    falling_not = (by["rtol"].nunique() >= 2) & (tightest >= loosest)
    flagged = falling_not.reindex(ladder).to_numpy() & (grad > WRONG_FLOOR)
    flags[rows.index[flagged]] = True
    return flags


def drifted(frame: pd.DataFrame) -> np.ndarray:
    """True where an adjoint cell's state reconstructed backwards (``reverse_state_error``) is non-finite
    or more than :data:`DRIFT_BEYOND` times max(rtol, solution error) off: beyond what the tolerance
    explains (False where it was not measured)."""
    if "reverse_state_error" not in frame:
        return np.zeros(len(frame), dtype=bool)
    reverse = pd.to_numeric(frame["reverse_state_error"], errors="coerce").astype(float).to_numpy()
    sol = pd.to_numeric(frame["sol_rel_error"], errors="coerce").astype(float).to_numpy()
    rtol = pd.to_numeric(frame["rtol"], errors="coerce").astype(float).to_numpy() if "rtol" in frame else sol * np.nan
    with np.errstate(invalid="ignore"):
        scale = np.fmax(rtol, sol)
        return np.isinf(reverse) | (np.isfinite(scale) & (reverse > DRIFT_BEYOND * scale))


def judge(frame: pd.DataFrame, family: pd.Series, stiff: pd.Series | None = None) -> pd.DataFrame:
    """Every row's ``gradient_wrong`` (bool, :data:`RULE`) and ``gradient_cause`` (one of :data:`CAUSES`,
    or None where the error needs no explaining: below :data:`WRONG_FLOOR` or within
    :data:`EXPLAIN_BEYOND` times the solution error, and not wrong).

    ``frame`` holds ``grad_rel_error``, ``sol_rel_error``, ``rtol`` and the identity axes (and
    ``reverse_state_error`` where measured); ``family`` is each row's method family (``direct``,
    ``checkpointing``, ``adjoint``) by which a wrong gradient's mechanism is told, ``stiff`` whether its
    field is declared stiff (a wrong backpropagated gradient is put down to the stability limit only there)."""
    grad = pd.to_numeric(frame["grad_rel_error"], errors="coerce").astype(float)
    sol = pd.to_numeric(frame["sol_rel_error"], errors="coerce").astype(float)
    rtol = pd.to_numeric(frame["rtol"], errors="coerce").astype(float) if "rtol" in frame else None
    wrong = pd.Series(gradient_wrong_column(grad, sol, rtol), index=frame.index) | not_falling(frame)
    explain = wrong.to_numpy() | ((grad > WRONG_FLOOR) & (grad > EXPLAIN_BEYOND * sol)).to_numpy()
    adjoint = (family == "adjoint").to_numpy()
    stiff = np.zeros(len(frame), dtype=bool) if stiff is None else stiff.fillna(False).astype(bool).to_numpy()
    backprop = np.where(wrong.to_numpy(), np.where(stiff, STABILITY_LIMIT, UNEXPLAINED), LOOSE_TOLERANCE)
    cause = np.where(adjoint, np.where(drifted(frame), BACKSOLVE_DRIFT, LOOSE_BACKWARD), backprop)
    return pd.DataFrame({"gradient_wrong": wrong.astype(bool),
                         "gradient_cause": pd.Series(np.where(explain, cause, None), index=frame.index,
                                                     dtype=object)}, index=frame.index)  # fmt: skip


def _number(value) -> float:
    try:
        return float("nan") if value is None else float(value)
    except (TypeError, ValueError):
        return float("nan")


__all__ = [
    "BACKSOLVE_DRIFT",
    "BEYOND_TOLERANCE",
    "CAUSES",
    "DRIFT_BEYOND",
    "drifted",
    "EXPLAIN_BEYOND",
    "LOOSE_BACKWARD",
    "LOOSE_TOLERANCE",
    "RULE",
    "STABILITY_LIMIT",
    "UNEXPLAINED",
    "WRONG_ABOVE",
    "WRONG_FLOOR",
    "gradient_wrong",
    "gradient_wrong_column",
    "judge",
    "not_falling",
]
