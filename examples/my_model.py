"""An example of measuring your own model: ``--workload examples.my_model:make_problem``.

The protocol (see ``neural_ode/workloads/user.py``): a function that takes the cell's config and
returns a :class:`neural_ode.workloads.Problem` -- the vector field (an ``nn.Module`` called as
``field(t, y)``), the initial state, optionally its own output times and its own loss of the
trajectory. Every method, solver, axis, figure and claim then works on it unchanged.

Run from the repository root::

    neural-ode-bench run --workload examples.my_model:make_problem --method direct,adjoint \\
        --solver rk4 --steps 8,16 --outputs 1,10 --out reports/my_model

Here: a damped pendulum whose unknown part is a small MLP (a "universal differential equation"),
fitted to observations at ``config.outputs`` evenly spaced times.
"""

from __future__ import annotations

import torch
from torch import nn

from neural_ode.workloads import Problem


class PendulumWithCorrection(nn.Module):
    """d(theta, omega)/dt = (omega, -sin(theta) - damping * omega + mlp(theta, omega))."""

    def __init__(self, width: int, layers: int):
        super().__init__()
        modules: list[nn.Module] = [nn.Linear(2, width), nn.Tanh()]
        for _ in range(layers - 1):
            modules += [nn.Linear(width, width), nn.Tanh()]
        modules.append(nn.Linear(width, 1))
        self.correction = nn.Sequential(*modules)
        self.damping = nn.Parameter(torch.tensor(0.1))

    def forward(self, t, y):
        theta, omega = y[:, :1], y[:, 1:]
        accel = -torch.sin(theta) - self.damping * omega + self.correction(y)
        return torch.cat([omega, accel], dim=1)


def make_problem(config) -> Problem:
    """The cell's problem: sizes, seed, dtype and device come from ``config``."""
    dtype, device = getattr(torch, config.dtype), config.device
    generator = torch.Generator().manual_seed(config.seed)
    torch.manual_seed(config.seed)  # the MLP's initialisation
    field = PendulumWithCorrection(config.width, config.layers).to(dtype=dtype, device=device)
    y0 = (torch.rand(config.batch, 2, generator=generator) * 2 - 1).to(dtype=dtype, device=device)
    # synthetic observations of the state at each output time
    target = (0.5 * torch.randn(config.outputs, config.batch, 2, generator=generator)).to(dtype=dtype, device=device)

    def loss(trajectory: torch.Tensor) -> torch.Tensor:
        # trajectory: the states at the output times, shape (outputs, batch, 2)
        return (trajectory - target).pow(2).mean(dim=(1, 2)).sum()

    return Problem(field=field, y0=y0, loss_fn=loss)
