"""``mlp``: a two-layer tanh MLP vector field on a batch of flat states."""

from __future__ import annotations

from torch import nn

from neural_ode.workloads import Workload


class MLPField(nn.Module):
    """f(t, y) = W2 tanh(W1 y + b1) + b2, autonomous. ``dim`` -> ``width`` -> ``dim``."""

    def __init__(self, dim: int, width: int):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(dim, width), nn.Tanh(), nn.Linear(width, dim))

    def forward(self, t, y):
        return self.net(y)


class MLPWorkload(Workload):
    name = "mlp"
    description = "MLP vector field dim->width->dim (tanh) on a batch of states; dim 64, width 256, batch 256"
    defaults = {"batch": 256, "width": 256, "dim": 64}

    def make_field(self, width: int, dim: int) -> nn.Module:
        return MLPField(dim, width)

    def state_shape(self, batch: int, width: int, dim: int) -> tuple[int, ...]:
        return (batch, dim)
