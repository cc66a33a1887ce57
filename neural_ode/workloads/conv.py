"""``conv``: the paper's ODE-Net block on MNIST-shaped feature maps.

The block of the Neural ODE paper's MNIST model (and of torchdiffeq's ``odenet_mnist``):
group norm -> ReLU -> 3x3 conv with the time as an extra input channel -> group norm -> ReLU ->
3x3 conv with time -> group norm, on the 6x6 feature maps that the downsampling stem makes of
a 28x28 image. The state is synthetic (standard normal): measuring cost needs no data.
"""

from __future__ import annotations

import torch
from torch import nn

from neural_ode.workloads import Workload

#: side of the feature maps after the paper's stem (28 -> 26 -> 13 -> 6)
FEATURE_SIDE = 6


def group_norm(channels: int) -> nn.GroupNorm:
    """The paper's normalisation: min(32, channels) groups."""
    return nn.GroupNorm(min(32, channels), channels)


class ConcatConv2d(nn.Module):
    """A 3x3 convolution that sees the time t as one more constant input channel."""

    def __init__(self, channels_in: int, channels_out: int):
        super().__init__()
        self.conv = nn.Conv2d(channels_in + 1, channels_out, kernel_size=3, padding=1)

    def forward(self, t, x):
        tt = torch.ones_like(x[:, :1]) * t
        return self.conv(torch.cat([tt, x], dim=1))


class ODEBlockField(nn.Module):
    """The ODE-Net vector field f(t, h) of the paper's MNIST model (``layers`` = 2 convolutions).

    ``layers`` norm -> ReLU -> conv stages (``norm1``, ``conv1``, ...), then a last group norm.
    """

    def __init__(self, channels: int, layers: int = 2):
        super().__init__()
        self.layers = layers
        for i in range(1, layers + 1):
            self.add_module(f"norm{i}", group_norm(channels))
            self.add_module(f"conv{i}", ConcatConv2d(channels, channels))
        self.add_module(f"norm{layers + 1}", group_norm(channels))
        self.relu = nn.ReLU()

    def forward(self, t, x):
        out = x
        for i in range(1, self.layers + 1):
            out = getattr(self, f"conv{i}")(t, self.relu(getattr(self, f"norm{i}")(out)))
        return getattr(self, f"norm{self.layers + 1}")(out)


class ConvWorkload(Workload):
    name = "conv"
    description = (
        "the paper's ODE-Net block (64-channel concat-time convs, group norm; --layers convs, 2) on 6x6 maps; batch 32"
    )
    defaults = {"batch": 32, "width": 64, "dim": FEATURE_SIDE, "layers": 2, "outputs": 1}
    reference_grid = 256  # ReLU kinks: a float64 rk4 grid, h = 1/256 (gradient error ~5.6e-4 at t1 = 1)

    def make_field(self, width: int, dim: int, layers: int = 2) -> nn.Module:
        return ODEBlockField(width, layers)

    def state_shape(self, batch: int, width: int, dim: int) -> tuple[int, ...]:
        return (batch, width, dim, dim)
