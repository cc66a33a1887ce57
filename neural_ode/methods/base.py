"""The base classes of the methods registry (see :mod:`neural_ode.methods`): what an entry implements."""

from __future__ import annotations

import importlib
from typing import ClassVar

import torch
from torch import nn


class GradientMethod:
    """Solve dy/dt = field(t, y) from y0 over the times ``t``, differentiably.

    Subclasses set ``name`` and ``description`` and implement :meth:`solve`; a method that
    works with some solvers only lists them in ``supported_solvers`` (None: every solver), and
    ``CellConfig`` then refuses the other combinations before anything runs.
    """

    name: ClassVar[str]
    description: ClassVar[str]
    supported_solvers: ClassVar[tuple[str, ...] | None] = None
    #: how the method gets its gradient: ``direct`` (backpropagation through the solver's
    #: operations: memory grows per evaluation), ``adjoint`` (a backward solve: memory flat in
    #: depth), ``checkpointing`` (stored states, steps re-run: memory grows per stored state);
    #: None: a method the paper's claims do not cover
    family: ClassVar[str | None] = None
    #: the unit of depth in which the method's memory grows: ``evaluation``, ``step``,
    #: ``checkpoint``, or None for methods whose memory should not grow
    memory_unit: ClassVar[str | None] = None
    #: True when an adaptive solve returns an interpolated value at the output times unless told
    #: to land on them (torchdiffeq's solvers; ``CellConfig.land`` passes ``step_t``)
    interpolates_outputs: ClassVar[bool] = False
    #: whose solver runs the method: ``torchdiffeq``, ``torchode`` or ``neural-ode-bench`` (the lean core)
    library: ClassVar[str] = "neural-ode-bench"
    #: the optional package the method imports (None: nothing beyond the core dependencies)
    requires: ClassVar[str | None] = None
    #: how to install ``requires``
    install: ClassVar[str | None] = None

    def unavailable(self) -> str | None:
        """None when the method can run here, else one line saying what to install."""
        if self.requires is None:
            return None
        try:
            importlib.import_module(self.requires)
        except ImportError:
            return f"needs {self.requires}, not installed: {self.install}"
        return None

    def supports(self, solver: str) -> bool:
        """True when this method can solve with ``solver``."""
        return self.supported_solvers is None or solver in self.supported_solvers

    def check_solver(self, solver: str) -> None:
        """Raise :class:`~neural_ode.config.ConfigError` (a ``ValueError``) naming the supported
        solvers when ``solver`` is not one of them."""
        if not self.supports(solver):
            from neural_ode.errors import ConfigError

            supported = ", ".join(self.supported_solvers)
            raise ConfigError(f"method {self.name!r} supports solvers {supported}; got {solver!r}")

    def solve(
        self,
        field: nn.Module,
        y0: torch.Tensor,
        t: torch.Tensor,
        *,
        solver: str,
        rtol: float | None,
        atol: float | None,
        options: dict,
    ) -> torch.Tensor:
        """The states at the times ``t`` (shape ``(len(t), *y0.shape)``), as ``odeint`` returns them.

        ``options`` are torchdiffeq solver options (a ``grid_constructor`` for fixed-grid
        solvers, ``max_num_steps`` for adaptive ones); ``rtol``/``atol`` are None for fixed grids.
        """
        raise NotImplementedError
