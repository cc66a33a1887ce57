"""``mlp``: a tanh MLP vector field on a batch of flat states (``layers`` hidden layers of ``width``)."""

from __future__ import annotations

from torch import nn

from neural_ode.workloads.base import Workload


def tanh_mlp(dim_in: int, width: int, dim_out: int, layers: int = 1, activation=nn.Tanh) -> nn.Sequential:
    """``dim_in`` -> ``width`` (x ``layers`` hidden layers) -> ``dim_out``, ``activation`` between layers."""
    modules: list[nn.Module] = [nn.Linear(dim_in, width), activation()]
    for _ in range(layers - 1):
        modules += [nn.Linear(width, width), activation()]
    modules.append(nn.Linear(width, dim_out))
    return nn.Sequential(*modules)


class MLPField(nn.Module):
    """f(t, y) = W2 tanh(W1 y + b1) + b2, autonomous (with ``layers`` > 1, more tanh layers of ``width``)."""

    def __init__(self, dim: int, width: int, layers: int = 1):
        super().__init__()
        self.net = tanh_mlp(dim, width, dim, layers)

    def forward(self, t, y):
        return self.net(y)


class MLPWorkload(Workload):
    name = "mlp"
    description = (
        "MLP vector field dim->width->dim (tanh, --layers hidden layers) on a batch of random states; "
        "dim 64, width 256, batch 256"
    )
    defaults = {"batch": 256, "width": 256, "dim": 64, "layers": 1, "outputs": 1}

    def make_field(self, width: int, dim: int, layers: int = 1) -> nn.Module:
        return MLPField(dim, width, layers)

    def state_shape(self, batch: int, width: int, dim: int) -> tuple[int, ...]:
        return (batch, dim)
