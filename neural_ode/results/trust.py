"""Figures a cell measured without failure that still cannot be believed: the wrong-gradient flag.

A gradient from backpropagation is the exact derivative of the *discrete* solve. Where the solve
runs at an explicit solver's stability limit (a stiff field: per-step amplification near 1), error
control accepts steps by the state's error estimate and never looks at the sensitivities, which can
drift by orders of magnitude while the state stays accurate: on the stiff workload (Van der Pol,
mu 1000), direct dopri5 at rtol 1e-3 gives a gradient error of 1.4e4 with a state error of 2.7e-4.
Such a cell is measured correctly (status ``ok``): its cost is real, its gradient useless. It is
flagged ``gradient_wrong``, drawn apart, and left out of every pick, front and median.

The threshold (:func:`gradient_wrong`):

* ``grad_rel_error > 1`` (:data:`WRONG_ABOVE`): the error is larger than the gradient itself; no
  descent direction is trustworthy, whatever the solve's accuracy; or
* ``grad_rel_error > 1e-2`` (:data:`WRONG_FLOOR`) **and** more than 1e3 (:data:`BEYOND_SOLUTION`) times
  ``sol_rel_error``: a gradient error far beyond what the solution's error implies. In every
  committed healthy cell (quick, paper, digits, libraries, the non-stiff applications) the ratio
  of gradient to solution error is at most 540 (median 3-92): 1e3 is twice the largest ratio
  seen in a correct gradient, and the floor 1e-2 keeps tiny solution errors (1e-9, where a ratio
  of 1e3 is still an accurate gradient) from being flagged.
"""

from __future__ import annotations

import math

import numpy as np

#: a gradient error above this (relative L2) is wrong whatever the solution's error
WRONG_ABOVE = 1.0
#: a gradient error above this and ...
WRONG_FLOOR = 1e-2
#: ... more than this many times the solution error is beyond what the solve's accuracy implies
BEYOND_SOLUTION = 1e3

#: the rule in words, for reports and docs
RULE = f"gradient error > {WRONG_ABOVE:g}, or > {WRONG_FLOOR:g} and more than {BEYOND_SOLUTION:g}x the solution error"


def gradient_wrong(grad_rel_error, sol_rel_error) -> bool:
    """True when a measured gradient error is wrong by :data:`RULE` (False when it is unmeasured)."""
    grad = _number(grad_rel_error)
    if math.isnan(grad):
        return False
    if grad > WRONG_ABOVE:
        return True
    sol = _number(sol_rel_error)
    return bool(grad > WRONG_FLOOR and not math.isnan(sol) and grad > BEYOND_SOLUTION * sol)


def gradient_wrong_column(grad_rel_error, sol_rel_error) -> np.ndarray:
    """:func:`gradient_wrong` of two aligned columns (numbers or NaN), as a bool array."""
    grad = np.asarray(grad_rel_error, dtype=float)
    sol = np.asarray(sol_rel_error, dtype=float)
    with np.errstate(invalid="ignore"):
        beyond = (grad > WRONG_FLOOR) & np.isfinite(sol) & (grad > BEYOND_SOLUTION * sol)
        return (grad > WRONG_ABOVE) | beyond


def _number(value) -> float:
    try:
        return float("nan") if value is None else float(value)
    except (TypeError, ValueError):
        return float("nan")


__all__ = ["BEYOND_SOLUTION", "RULE", "WRONG_ABOVE", "WRONG_FLOOR", "gradient_wrong", "gradient_wrong_column"]
