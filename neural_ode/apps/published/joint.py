"""Joint against per-sample step sizes on a batch of Van der Pol problems (torchode's paper).

Lienen and Günnemann (2022), "torchode: A Parallel ODE Solver for PyTorch": solving a batch
jointly (one step size for every sample, as torchdiffeq does) takes up to 4x the steps that solving
each sample with its own step size takes, on Van der Pol problems with spread-out stiffness mu.

:func:`step_counts` counts accepted steps, in float64, of the same batch three ways: torchode with
a step size per sample (the mean and maximum over samples), torchode holding the batch as one
sample (joint), and torchdiffeq's ``odeint`` (joint: one error norm over the batch). Counts, so any
machine gives the same figures.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torchdiffeq
from torch import nn

#: the spreads measured: mu in [1, MU_MAX], log-spaced over the batch
MU_MAX = (1.0, 3.0, 10.0, 30.0, 100.0)
BATCH, HORIZON, TOLERANCE = 16, 4.0, 1e-5


class VanDerPol(nn.Module):
    """dx/dt = v, dv/dt = mu (1 - x^2) v - x, with one mu per sample (state ``(batch, 2)``)."""

    def __init__(self, mu: torch.Tensor):
        super().__init__()
        self.register_buffer("mu", mu)
        self.accepted = 0

    def forward(self, t, y):
        x, v = y[..., 0], y[..., 1]
        return torch.stack([v, self.mu * (1 - x * x) * v - x], -1)

    def callback_accept_step(self, t, y, dt):  # torchdiffeq's hook: one call per accepted step
        self.accepted += 1


@dataclass(frozen=True)
class StepCounts:
    """Accepted steps of one batch: per sample (mean, max over samples), jointly (torchode, torchdiffeq)."""

    mu_max: float
    per_sample_mean: float
    per_sample_max: int
    torchode_joint: int
    torchdiffeq_joint: int

    @property
    def joint_over_per_sample(self) -> float:
        """torchode's joint steps over the mean of its per-sample steps (the paper's ratio)."""
        return self.torchode_joint / self.per_sample_mean


def _torchode_steps(field, y0: torch.Tensor, t_eval: torch.Tensor) -> torch.Tensor:
    import torchode

    term = torchode.ODETerm(field)
    controller = torchode.IntegralController(atol=TOLERANCE, rtol=TOLERANCE, term=term)
    solver = torchode.AutoDiffAdjoint(torchode.Dopri5(term=term), controller)
    solution = solver.solve(torchode.InitialValueProblem(y0=y0, t_eval=t_eval))
    return solution.stats["n_accepted"]


def step_counts(mu_max: float, batch: int = BATCH) -> StepCounts:
    """The accepted steps of dopri5 at rtol = atol = :data:`TOLERANCE` over [0, :data:`HORIZON`] from
    (2, 0), for a batch whose mu are log-spaced in [1, ``mu_max``]."""
    mu = torch.logspace(0.0, math.log10(mu_max), batch, dtype=torch.float64)
    y0 = torch.tensor([2.0, 0.0], dtype=torch.float64).repeat(batch, 1)
    t = torch.tensor([0.0, HORIZON], dtype=torch.float64)
    field = VanDerPol(mu)
    with torch.no_grad():
        per_sample = _torchode_steps(lambda t_, y: field(t_, y), y0, t.repeat(batch, 1)).to(torch.float64)
        joint = _torchode_steps(
            lambda t_, y: field(t_, y.reshape(batch, 2)).reshape(1, 2 * batch), y0.reshape(1, -1), t[None]
        )
        torchdiffeq.odeint(field, y0, t, method="dopri5", rtol=TOLERANCE, atol=TOLERANCE)
    return StepCounts(mu_max, float(per_sample.mean()), int(per_sample.max()), int(joint[0]), field.accepted)


def torchode_missing() -> str | None:
    """None when torchode is installed, else what to install."""
    try:
        import torchode  # noqa: F401
    except ImportError:
        return "torchode is not installed (pip install -c constraints.txt -e '.[torchode]')"
    return None
