"""The workload registry: what is integrated, and the loss that is differentiated.

A workload builds a :class:`Problem` (vector field, initial state, loss) from a cell config.
Adding one is a module with a :class:`Workload` subclass and one entry in ``WORKLOADS``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch
from torch import nn


@dataclass
class Problem:
    """A differentiable ODE problem: dy/dt = field(t, y), y(0) = y0, loss(y(t1)).

    Attributes:
        field: the vector field, an ``nn.Module`` called as ``field(t, y)``.
        y0: the initial state (batch first).
        target: what the final state is compared with in :meth:`loss`.
    """

    field: nn.Module
    y0: torch.Tensor
    target: torch.Tensor

    def loss(self, y_final: torch.Tensor) -> torch.Tensor:
        """Mean squared distance of the final state from the target (a scalar)."""
        return (y_final - self.target).pow(2).mean()

    def parameters(self) -> list[torch.nn.Parameter]:
        """The parameters whose gradient is measured."""
        return [p for p in self.field.parameters() if p.requires_grad]


class Workload:
    """A family of problems; subclasses set the class attributes and :meth:`make_field`."""

    name: ClassVar[str]
    description: ClassVar[str]
    #: default sizes: ``batch``, ``width`` and ``dim`` (the meaning of each is the workload's)
    defaults: ClassVar[dict[str, int]]

    def make_field(self, width: int, dim: int) -> nn.Module:
        """The vector field with freshly initialised parameters."""
        raise NotImplementedError

    def state_shape(self, batch: int, width: int, dim: int) -> tuple[int, ...]:
        """Shape of the state y."""
        raise NotImplementedError

    def build(self, config, dtype: torch.dtype | None = None, device: str | None = None) -> Problem:
        """The problem of ``config``, seeded by ``config.seed``; dtype/device override the config's."""
        dtype = dtype or getattr(torch, config.dtype)
        device = device or config.device
        generator = torch.Generator().manual_seed(config.seed)
        torch.manual_seed(config.seed)  # parameter initialisation uses the global generator
        field = self.make_field(config.width, config.dim).to(dtype=dtype, device=device)
        shape = self.state_shape(config.batch, config.width, config.dim)
        # drawn in float32 whatever the dtype, so a float64 reference starts from the same values
        y0 = torch.randn(shape, generator=generator).to(dtype=dtype, device=device)
        target = torch.randn(shape, generator=generator).to(dtype=dtype, device=device)
        return Problem(field=field, y0=y0, target=target)


from neural_ode.workloads.conv import ConvWorkload
from neural_ode.workloads.mlp import MLPWorkload

WORKLOADS: dict[str, Workload] = {w.name: w for w in (MLPWorkload(), ConvWorkload())}
