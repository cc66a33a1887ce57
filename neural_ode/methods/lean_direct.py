"""``lean-direct``: direct backpropagation through the project's own lean integrators.

The same gradient method as ``direct`` (autograd through every operation of the solve: memory
grows per evaluation), run on :mod:`neural_ode.integrators` instead of torchdiffeq, the core that
``aca``, ``checkpoint`` and ``own-adjoint`` use. With it, a head-to-head separates the method from
the implementation: ``aca`` against ``lean-direct`` compares methods on one core, ``direct``
against ``lean-direct`` compares implementations of one method, and ``aca`` against ``direct``
compares both at once. Like the rest of the core it always lands on the output times.

Step sizes of an adaptive solve are constants to the gradient (the error norm is taken under
no_grad, as torchdiffeq chooses its next step), so the gradient is the exact derivative of the
discrete solve, as torchdiffeq's ``direct`` is.
"""

from __future__ import annotations

from neural_ode.integrators import ADAPTIVE_TABLEAUX, FIXED_TABLEAUX, Stepper, fixed_grid, integrate, solve_adaptive
from neural_ode.methods.base import GradientMethod


class LeanDirectMethod(GradientMethod):
    """Backpropagation through the lean core's fixed-grid or adaptive solve."""

    name = "lean-direct"
    family = "direct"
    memory_unit = "evaluation"
    description = (
        "backpropagation through the solver on the project's lean core (neural_ode.integrators): direct's method, "
        "the own methods' implementation; memory O(NFE)"
    )
    supported_solvers = (*FIXED_TABLEAUX, *ADAPTIVE_TABLEAUX)

    def solve(self, field, y0, t, *, solver, rtol, atol, options):
        self.check_solver(solver)
        if solver in FIXED_TABLEAUX:
            stepper = Stepper(FIXED_TABLEAUX[solver])
            return integrate(field, y0, fixed_grid(field, y0, t, options, stepper), stepper)
        return solve_adaptive(field, y0, t, ADAPTIVE_TABLEAUX[solver], rtol=rtol, atol=atol, options=options)
