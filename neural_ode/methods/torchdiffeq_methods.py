"""torchdiffeq's two gradient routes: ``odeint`` (direct) and ``odeint_adjoint`` (adjoint)."""

from __future__ import annotations

import torchdiffeq

from neural_ode.methods.base import GradientMethod
from neural_ode.solvers import SOLVERS, TORCHDIFFEQ_SOLVERS


def _tolerances(rtol, atol) -> dict:
    return {} if rtol is None else {"rtol": rtol, "atol": atol}


class TorchdiffeqMethod(GradientMethod):
    """Base of torchdiffeq's routes: every solver torchdiffeq implements."""

    library = "torchdiffeq"
    supported_solvers = tuple(TORCHDIFFEQ_SOLVERS)


class DirectMethod(TorchdiffeqMethod):
    name = "direct"
    family = "direct"
    memory_unit = "evaluation"
    interpolates_outputs = True
    description = "backpropagation through the solver's operations (torchdiffeq odeint); memory O(NFE)"

    def solve(self, field, y0, t, *, solver, rtol, atol, options):
        return torchdiffeq.odeint(field, y0, t, method=solver, options=options, **_tolerances(rtol, atol))


class AdjointMethod(TorchdiffeqMethod):
    name = "adjoint"
    family = "adjoint"
    interpolates_outputs = True
    description = "adjoint sensitivity method, backward solve of the augmented ODE (odeint_adjoint); memory O(1)"
    adjoint_options: dict | None = None

    def solve(self, field, y0, t, *, solver, rtol, atol, options):
        extra = {}
        if self.adjoint_options is not None:
            # torchdiffeq copies `options` into the backward solve unless adjoint_options is given
            extra["adjoint_options"] = {**options, **self.adjoint_options}
        return torchdiffeq.odeint_adjoint(
            field,
            y0,
            t,
            method=solver,
            options=options,
            adjoint_params=tuple(field.parameters()),
            **_tolerances(rtol, atol),
            **extra,
        )


class SeminormAdjointMethod(AdjointMethod):
    name = "adjoint-seminorm"
    description = "adjoint with the seminorm on the backward solve's error control (Kidger et al. 2021)"
    adjoint_options = {"norm": "seminorm"}
    #: adaptive solvers only: the seminorm changes the backward solve's error control, and a fixed grid has none
    #: (with a fixed-grid solver it would be measured as a method while doing exactly what ``adjoint`` does)
    supported_solvers = tuple(name for name in TORCHDIFFEQ_SOLVERS if SOLVERS[name].adaptive)
