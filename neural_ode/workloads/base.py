"""The base classes of the workloads registry (see :mod:`neural_ode.workloads`): what an entry implements."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from dataclasses import field as dataclass_field
from typing import ClassVar

import torch
from torch import nn


@dataclass
class Problem:
    """A differentiable ODE problem: dy/dt = field(t, y), y(0) = y0, loss(y(t_1), ..., y(t_N)).

    The protocol a user's factory returns (only ``field`` and ``y0`` are required).

    Attributes:
        field: the vector field, an ``nn.Module`` called as ``field(t, y)`` (t a 0-dim tensor).
        y0: the initial state (batch first), in the dtype and on the device of the field.
        target: what the default loss compares each output state with (None: zeros).
        times: output times, a 1-D increasing tensor in [0, horizon] (None: ``outputs`` evenly
            spaced times in (0, horizon], see the module docstring).
        loss_fn: ``loss_fn(trajectory) -> scalar`` with ``trajectory`` of shape
            ``(len(times), *y0.shape)`` (None: :meth:`loss`'s default).
        modules: further modules whose parameters are trained with the field (an encoder, a
            decoder); their gradients are measured too.
    """

    field: nn.Module
    y0: torch.Tensor
    target: torch.Tensor | None = None
    times: torch.Tensor | None = None
    loss_fn: Callable[[torch.Tensor], torch.Tensor] | None = None
    modules: tuple[nn.Module, ...] = dataclass_field(default_factory=tuple)

    def initial_state(self) -> torch.Tensor:
        """The state at t = 0 (a subclass may compute it differentiably, e.g. with an encoder)."""
        return self.y0

    def loss(self, trajectory: torch.Tensor) -> torch.Tensor:
        """The scalar loss of the states at the output times, ``trajectory[k] = y(times[k])``.

        Default: the sum over output times of the mean squared distance from ``target``; with
        one output time it is the mean squared distance of the final state.
        """
        if self.loss_fn is not None:
            return self.loss_fn(trajectory)
        target = torch.zeros_like(trajectory[0]) if self.target is None else self.target
        if len(trajectory) == 1:  # the final state alone: exactly the one-output loss
            return (trajectory[0] - target).pow(2).mean()
        return (trajectory - target).pow(2).flatten(1).mean(1).sum()

    def parameters(self) -> list[torch.nn.Parameter]:
        """The parameters whose gradient is measured: the field's, then the other modules'."""
        seen, parameters = set(), []
        for module in (self.field, *self.modules):
            for p in module.parameters():
                if p.requires_grad and id(p) not in seen:
                    seen.add(id(p))
                    parameters.append(p)
        return parameters

    def output_times(self, config, dtype: torch.dtype, device) -> torch.Tensor:
        """The N output times of the loss (the workload's own, else evenly spaced in (0, horizon])."""
        if self.times is not None:
            return self.times.to(dtype=dtype, device=device)
        count = config.outputs
        # k * horizon / count in float64, then cast: outputs=1 gives exactly [horizon]
        return torch.tensor([config.horizon * k / count for k in range(1, count + 1)], dtype=dtype, device=device)

    def solve_times(self, config, dtype: torch.dtype, device) -> tuple[torch.Tensor, int]:
        """The times handed to the solver (t = 0 first) and how many leading ones the loss skips."""
        times = self.output_times(config, dtype, device)
        if float(times[0]) == 0.0:
            return times, 0
        return torch.cat([torch.zeros(1, dtype=dtype, device=device), times]), 1


class Workload:
    """A family of problems; subclasses set the class attributes and :meth:`make_field`, or :meth:`build`."""

    name: ClassVar[str]
    description: ClassVar[str]
    #: default sizes: ``batch``, ``width``, ``dim``, ``layers`` and ``outputs`` (the meaning of
    #: each is the workload's; ``layers`` and ``outputs`` default to 1 when absent)
    defaults: ClassVar[dict[str, int]]
    #: steps per unit time of a float64 rk4 grid reference, for fields an adaptive float64 dopri8
    #: reference cannot solve: kinks (ReLU), stiffness; None: the adaptive reference (see
    #: :mod:`neural_ode.measuring.reference`)
    reference_grid: ClassVar[int | None] = None
    #: True when the field's parameters were fitted to data (the report says what claims were judged on)
    trained: ClassVar[bool] = False
    #: True for a stiff field, on which explicit solvers run at their stability limit (the report names
    #: that mechanism for a wrong backpropagated gradient only on such a field)
    stiff: ClassVar[bool] = False

    #: training stages beyond 0 (a field fitted once with snapshots along its training, see
    #: :mod:`neural_ode.workloads.stages`): the ``stage`` axis takes 0..stages; 0 for the others
    stages: ClassVar[int] = 0

    def parameters_key(self, width: int, layers: int, stage: int = 0) -> str:
        """What identifies the field's parameters beyond the cell's settings: a fitted field's fit
        (its version and iterations, and the training ``stage``), so that what is cached from them
        (the reference) is not reused after a refit; empty for fields initialised from the seed."""
        return ""

    def prepare(self, config, progress: bool = True) -> None:
        """Do once, in this process, what building ``config``'s problem needs first (a staged
        workload's fit, with its progress bar); nothing for the others."""

    def default(self, name: str) -> int:
        """The default of size ``name`` (``layers`` and ``outputs`` fall back to 1)."""
        return self.defaults.get(name, 1)

    def make_field(self, width: int, dim: int, layers: int) -> nn.Module:
        """The vector field with freshly initialised parameters (``layers`` hidden layers)."""
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
        field = self.make_field(config.width, config.dim, config.layers).to(dtype=dtype, device=device)
        shape = self.state_shape(config.batch, config.width, config.dim)
        # drawn in float32 whatever the dtype, so a float64 reference starts from the same values
        y0 = torch.randn(shape, generator=generator).to(dtype=dtype, device=device)
        target = torch.randn(shape, generator=generator).to(dtype=dtype, device=device)
        return Problem(field=field, y0=y0, target=target)

