"""Butcher tableaux of the explicit Runge-Kutta methods the lean core integrates with.

An explicit s-stage Runge-Kutta step from (t, y) with step dt is::

    k_i = f(t + c_i dt, y + dt * sum_{j<i} a_ij k_j)      i = 1..s
    y_next = y + dt * sum_i b_i k_i

and an embedded pair adds weights ``e`` (b minus the lower-order weights) whose combination
``dt * sum_i e_i k_i`` estimates the local error. The tableaux below reproduce torchdiffeq's
(``rk4`` is its 3/8 rule, ``rk4_alt_step_func``), so the same solver name gives the same NFE and,
up to rounding, the same numbers.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ButcherTableau:
    """An explicit Runge-Kutta method as data.

    Attributes:
        name: the solver name (as in ``neural_ode.solvers.SOLVERS``).
        order: order of accuracy of the solution weights ``b``.
        c: stage times as fractions of the step, ``c[0] == 0``.
        a: strictly lower-triangular stage coefficients, ``a[i]`` has ``i`` entries.
        b: solution weights.
        e: error-estimate weights (solution minus embedded solution, one per stage), or None
            for a fixed-grid method. Adaptive tableaux may have one stage more than ``b``
            (first-same-as-last: the extra stage is f at the new state).
    """

    name: str
    order: int
    c: tuple[float, ...]
    a: tuple[tuple[float, ...], ...]
    b: tuple[float, ...]
    e: tuple[float, ...] | None = None

    def __post_init__(self) -> None:
        if any(len(row) != i for i, row in enumerate(self.a)):
            raise ValueError(f"tableau {self.name}: row i of a must have i entries")
        if len(self.c) != len(self.a):
            raise ValueError(f"tableau {self.name}: c and a must have one entry per stage")

    @property
    def stages(self) -> int:
        """Vector-field evaluations a step needs to produce ``y_next`` (no error estimate)."""
        return len(self.b)


def terms(coefficients) -> tuple[tuple[int, float], ...]:
    """The non-zero ``(j, coefficient)`` pairs of a row of ``a``, of ``b`` or of ``e``: the terms a
    weighted sum of stages ``sum_j coefficient * k_j`` needs."""
    return tuple((j, coef) for j, coef in enumerate(coefficients) if coef != 0.0)


EULER = ButcherTableau("euler", 1, c=(0.0,), a=((),), b=(1.0,))

MIDPOINT = ButcherTableau("midpoint", 2, c=(0.0, 0.5), a=((), (0.5,)), b=(0.0, 1.0))

HEUN2 = ButcherTableau("heun2", 2, c=(0.0, 1.0), a=((), (1.0,)), b=(0.5, 0.5))

HEUN3 = ButcherTableau("heun3", 3, c=(0.0, 1 / 3, 2 / 3), a=((), (1 / 3,), (0.0, 2 / 3)), b=(1 / 4, 0.0, 3 / 4))

#: Kutta's 3/8 rule: torchdiffeq's ``rk4`` (``rk4_alt_step_func``)
RK4 = ButcherTableau(
    "rk4",
    4,
    c=(0.0, 1 / 3, 2 / 3, 1.0),
    a=((), (1 / 3,), (-1 / 3, 1.0), (1.0, -1.0, 1.0)),
    b=(1 / 8, 3 / 8, 3 / 8, 1 / 8),
)

#: Dormand-Prince 5(4) with its first-same-as-last seventh stage; torchdiffeq's ``dopri5``
DOPRI5 = ButcherTableau(
    "dopri5",
    5,
    c=(0.0, 1 / 5, 3 / 10, 4 / 5, 8 / 9, 1.0, 1.0),
    a=(
        (),
        (1 / 5,),
        (3 / 40, 9 / 40),
        (44 / 45, -56 / 15, 32 / 9),
        (19372 / 6561, -25360 / 2187, 64448 / 6561, -212 / 729),
        (9017 / 3168, -355 / 33, 46732 / 5247, 49 / 176, -5103 / 18656),
        (35 / 384, 0.0, 500 / 1113, 125 / 192, -2187 / 6784, 11 / 84),
    ),
    b=(35 / 384, 0.0, 500 / 1113, 125 / 192, -2187 / 6784, 11 / 84),
    e=(
        35 / 384 - 1951 / 21600,
        0.0,
        500 / 1113 - 22642 / 50085,
        125 / 192 - 451 / 720,
        -2187 / 6784 - -12231 / 42400,
        11 / 84 - 649 / 6300,
        -1 / 60,
    ),
)

#: the fixed-grid methods of ``neural_ode.solvers.SOLVERS`` that are Runge-Kutta tableaux
FIXED_TABLEAUX: dict[str, ButcherTableau] = {t.name: t for t in (EULER, MIDPOINT, HEUN2, HEUN3, RK4)}
#: the adaptive methods the lean core implements with its own step-size control
ADAPTIVE_TABLEAUX: dict[str, ButcherTableau] = {t.name: t for t in (DOPRI5,)}
