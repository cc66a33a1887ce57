"""``stiff``: the Van der Pol oscillator at large mu, with learnable parameters.

    dx/dt = y,    dy/dt = mu (1 - x^2) y - omega x

with mu = 1000 and omega = 1 as learnable parameters (mu stored as log mu, so it stays positive).
On the slow branch of the limit cycle the Jacobian has an eigenvalue near -mu (x^2 - 1): an
explicit solver's step is bound by stability, not accuracy, so dopri5 takes on the order of
mu x horizon steps whatever the tolerance, and a coarse fixed grid blows up (a ``non_finite``
record, with the reason). The batch starts on the slow branch, x = 2 + 0.1 u (u uniform, from the
seed) and y = x / (mu (1 - x^2)), so there is no fast initial transient; the loss is the default
one with a zero target (the mean squared state, summed over the output times). Implicit solvers
are not in torchdiffeq's gradient paths here: which explicit solvers cope, and at what cost,
is what the cells record.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from neural_ode.workloads.base import Problem, Workload

MU = 1000.0


class VanDerPolField(nn.Module):
    """The Van der Pol field with learnable log mu and omega, on states of shape (batch, 2)."""

    def __init__(self, mu: float = MU, omega: float = 1.0):
        super().__init__()
        self.log_mu = nn.Parameter(torch.tensor(math.log(mu)))
        self.omega = nn.Parameter(torch.tensor(omega))

    def forward(self, t, state):
        x, y = state[:, 0], state[:, 1]
        mu = self.log_mu.exp()
        return torch.stack([y, mu * (1 - x * x) * y - self.omega * x], dim=1)


class StiffWorkload(Workload):
    stiff = True
    name = "stiff"
    description = (
        "Van der Pol at mu = 1000 (learnable log mu and omega), states near the slow branch; "
        "explicit solvers are stability-bound (thousands of evaluations per unit horizon at any tolerance), "
        "coarse grids fail; batch 16"
    )
    defaults = {"batch": 16, "width": 1, "dim": 2, "layers": 1, "outputs": 1}
    #: stiff: the float64 dopri8 adjoint's backward solve underflows its step; rk4 is stable below
    #: h ~ 2.8 / |lambda| ~ 9e-4 here, so the grid reference takes h = 5e-5 (its check 1e-4)
    reference_grid = 20000

    def build(self, config, dtype: torch.dtype | None = None, device: str | None = None) -> Problem:
        dtype = dtype or getattr(torch, config.dtype)
        device = device or config.device
        field = VanDerPolField().to(dtype=dtype, device=device)
        generator = torch.Generator().manual_seed(config.seed)
        x0 = 2.0 + 0.1 * torch.rand(config.batch, generator=generator)
        # on the slow manifold y ~ x / (mu (1 - x^2)): no fast initial transient
        y0 = x0 / (MU * (1 - x0 * x0))
        state = torch.stack([x0, y0], dim=1).to(dtype=dtype, device=device)
        return Problem(field=field, y0=state)
