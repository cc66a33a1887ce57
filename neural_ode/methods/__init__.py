"""The gradient-method registry: how the gradient of the loss reaches the parameters.

A gradient method is an object with one job: solve the ODE so that ``loss.backward()``
afterwards delivers dL/dtheta its own way (backpropagation through the solver, an adjoint
solve, checkpointing, ...). Adding one is a :class:`GradientMethod` subclass and one entry in
``METHODS``; every front end and the report pick it up.
"""

from __future__ import annotations

from typing import ClassVar

import torch
from torch import nn


class GradientMethod:
    """Solve dy/dt = field(t, y) from y0 over the times ``t``, differentiably.

    Subclasses set ``name`` and ``description`` and implement :meth:`solve`.
    """

    name: ClassVar[str]
    description: ClassVar[str]

    def solve(
        self,
        field: nn.Module,
        y0: torch.Tensor,
        t: torch.Tensor,
        *,
        solver: str,
        rtol: float | None,
        atol: float | None,
        options: dict,
    ) -> torch.Tensor:
        """The states at the times ``t`` (shape ``(len(t), *y0.shape)``), as ``odeint`` returns them.

        ``options`` are torchdiffeq solver options (a ``grid_constructor`` for fixed-grid
        solvers, ``max_num_steps`` for adaptive ones); ``rtol``/``atol`` are None for fixed grids.
        """
        raise NotImplementedError


from neural_ode.methods.torchdiffeq_methods import AdjointMethod, DirectMethod, SeminormAdjointMethod  # noqa: E402

METHODS: dict[str, GradientMethod] = {
    m.name: m for m in (DirectMethod(), AdjointMethod(), SeminormAdjointMethod())
}
