"""The lean integration core behind the project's own gradient methods.

``own-adjoint``, ``checkpoint`` and ``aca`` (``neural_ode.methods``) integrate with this core,
not with torchdiffeq, so that what happens per step is plain, short and visible:

- :mod:`~neural_ode.integrators.tableaux`: Butcher tableaux (``euler``, ``midpoint``, ``heun2``,
  ``heun3``, ``rk4`` as torchdiffeq's 3/8 rule, and the ``dopri5`` pair);
- :mod:`~neural_ode.integrators.fixed_grid`: explicit Runge-Kutta along a fixed grid, a plain
  loop with everything step-independent computed once;
- :mod:`~neural_ode.integrators.adaptive`: an embedded pair with its own step-size control,
  on tuples of tensors (the plain ODE and the adjoint's augmented system alike).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from neural_ode.integrators.adaptive import ADAPTIVE_OPTIONS, AdaptiveSolver
from neural_ode.integrators.fixed_grid import FixedGrid, Stepper, grid_points, integrate, make_grid
from neural_ode.integrators.tableaux import ADAPTIVE_TABLEAUX, FIXED_TABLEAUX, ButcherTableau

__all__ = [
    "ADAPTIVE_TABLEAUX",
    "FIXED_TABLEAUX",
    "AdaptiveSolver",
    "ButcherTableau",
    "FixedGrid",
    "Stepper",
    "adaptive_solver",
    "fixed_grid",
    "grid_points",
    "integrate",
    "make_grid",
    "pullback",
    "solve_adaptive",
    "trainable_parameters",
]


def pullback(output: torch.Tensor, inputs: Sequence[torch.Tensor], cotangent: torch.Tensor):
    """``torch.autograd.grad(output, inputs, cotangent, allow_unused=True)``, minus its Python checks.

    Calls the autograd engine as ``torch.autograd.grad`` does after validating its arguments
    (same engine call, same gradients to the bit); it skips that validation (about a tenth of a
    small field's vector-Jacobian product) when the cotangent matches the output in shape, dtype
    and device and the output has a graph, and falls back to ``torch.autograd.grad`` otherwise.
    """
    engine = getattr(torch.autograd.graph, "_engine_run_backward", None)
    if (
        engine is None
        or output.grad_fn is None
        or cotangent.shape != output.shape
        or cotangent.dtype != output.dtype
        or cotangent.device != output.device
    ):
        return torch.autograd.grad(output, tuple(inputs), cotangent, allow_unused=True)
    return engine((output,), (cotangent,), False, False, tuple(inputs), True, accumulate_grad=False)


def trainable_parameters(field: nn.Module) -> tuple[torch.Tensor, ...]:
    """The parameters of ``field`` that require a gradient (what dL/dtheta is taken for)."""
    return tuple(p for p in field.parameters() if p.requires_grad)


def fixed_grid(field: nn.Module, y0: torch.Tensor, t: torch.Tensor, options: dict, stepper: Stepper) -> FixedGrid:
    """The grid torchdiffeq would walk for ``options``, prepared for ``stepper``."""
    return make_grid(grid_points(field, y0, t, options), t, stepper.c)


def adaptive_solver(vf, tableau: ButcherTableau, *, rtol, atol, options: dict, **kwargs) -> AdaptiveSolver:
    """An :class:`AdaptiveSolver` configured from torchdiffeq-style ``options``."""
    unknown = sorted(set(options) - set(ADAPTIVE_OPTIONS))
    if unknown:
        raise ValueError(f"unknown adaptive-solver options {unknown}; allowed: {', '.join(ADAPTIVE_OPTIONS)}")
    if rtol is None or atol is None:
        raise ValueError(f"adaptive solver {tableau.name} needs rtol and atol")
    return AdaptiveSolver(vf, tableau, rtol=rtol, atol=atol, **options, **kwargs)


def solve_adaptive(field, y0: torch.Tensor, t: torch.Tensor, tableau: ButcherTableau, *, rtol, atol, options: dict):
    """The states of ``dy/dt = field(t, y)`` at the times ``t``, shape ``(len(t), *y0.shape)``:
    the adaptive pair ``tableau`` on the one-component state, landing on every output time
    (differentiable when autograd is on: backpropagation through the solve)."""
    solver = adaptive_solver(lambda s, state: (field(s, state[0]),), tableau, rtol=rtol, atol=atol, options=options)
    return torch.stack([state[0] for state in solver.solve((y0,), t.tolist())])
