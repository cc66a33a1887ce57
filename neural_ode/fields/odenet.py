"""The ODE-Net block of the paper's MNIST model, and the stem and head around it.

Below both :mod:`neural_ode.workloads` (the ``conv`` and ``digits`` workloads) and
:mod:`neural_ode.apps.training` (the Section 3 classifiers), so each imports it from here.
Layout (the paper's and torchdiffeq's ``odenet_mnist``): a downsampling stem, the ODE block's
vector field :class:`ODEBlockField`, then group norm -> ReLU -> global average pool -> linear head.
"""

from __future__ import annotations

import torch
from torch import nn

#: images this side or larger get the paper's two stride-2 convolutions
PAPER_STEM_MIN_SIDE = 16


def stem(side: int, channels: int) -> nn.Sequential:
    """The downsampling stem for ``side`` x ``side`` single-channel images (see module docstring)."""
    if side >= PAPER_STEM_MIN_SIDE:
        return nn.Sequential(
            nn.Conv2d(1, channels, 3, 1),
            group_norm(channels),
            nn.ReLU(inplace=True),
            nn.Conv2d(channels, channels, 4, 2, 1),
            group_norm(channels),
            nn.ReLU(inplace=True),
            nn.Conv2d(channels, channels, 4, 2, 1),
        )
    return nn.Sequential(
        nn.Conv2d(1, channels, 3, 1, padding=1),
        group_norm(channels),
        nn.ReLU(inplace=True),
        nn.Conv2d(channels, channels, 4, 2, 1),
    )


def feature_side(side: int) -> int:
    """Side of the feature maps the stem makes of a ``side`` x ``side`` image."""
    if side >= PAPER_STEM_MIN_SIDE:
        side = side - 2
        return ((side + 2 - 4) // 2 + 1 + 2 - 4) // 2 + 1
    return (side + 2 - 4) // 2 + 1


def head(channels: int, classes: int) -> nn.Sequential:
    """Group norm, ReLU, global average pool and the linear classifier."""
    return nn.Sequential(
        group_norm(channels),
        nn.ReLU(inplace=True),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(channels, classes),
    )


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
