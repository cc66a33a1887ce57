"""``conv``: the paper's ODE-Net block on MNIST-shaped feature maps.

The block of the Neural ODE paper's MNIST model (and of torchdiffeq's ``odenet_mnist``):
group norm -> ReLU -> 3x3 conv with the time as an extra input channel -> group norm -> ReLU ->
3x3 conv with time -> group norm, on the 6x6 feature maps that the downsampling stem makes of
a 28x28 image. The state is synthetic (standard normal): measuring cost needs no data.
"""

from __future__ import annotations

from torch import nn

from neural_ode.fields.odenet import ConcatConv2d, ODEBlockField, group_norm  # noqa: F401 (re-exported)
from neural_ode.workloads.base import Workload

#: side of the feature maps after the paper's stem (28 -> 26 -> 13 -> 6)
FEATURE_SIDE = 6


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
