"""One gradient pass of a cell: its problem wired to its gradient method and solver.

Below :mod:`neural_ode.measuring.cell` (which measures a pass) and the instruments that run a pass in
a process of their own (:mod:`neural_ode.measuring.instructions`), so none of them imports another.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from neural_ode.config import CellConfig
from neural_ode.measuring.options import solver_options
from neural_ode.methods import METHODS
from neural_ode.workloads import Problem, workload_of


@dataclass
class GradientPass:
    """One gradient pass (forward solve + loss + backward) of a cell's problem through its gradient method.

    The solve runs from t = 0 over the problem's output times (``outputs`` evenly spaced in
    (0, horizon], or the workload's own) and the loss takes the states at all of them.

    Attributes (after :meth:`forward`):
        trajectory: the states at the output times, shape ``(outputs, *state)``.
        final_state: the state at the last output time.
    """

    config: CellConfig
    problem: Problem

    def __post_init__(self) -> None:
        self.method = METHODS[self.config.method]
        dtype = getattr(torch, self.config.dtype)
        #: the solver's times (t = 0 first) and how many of them precede the first output
        self.t, self.skip = self.problem.solve_times(self.config, dtype, self.config.device)
        self.options = solver_options(self.config, self.t)
        self.trajectory = self.final_state = None

    def forward(self, field: torch.nn.Module | None = None) -> torch.Tensor:
        """The loss after solving with ``field`` (default: the problem's bare field)."""
        field = self.problem.field if field is None else field
        solution = self.method.solve(
            field,
            self.problem.initial_state(),
            self.t,
            solver=self.config.solver,
            rtol=self.config.rtol,
            atol=self.config.atol,
            options=dict(self.options),
        )
        self.trajectory = solution[self.skip :]
        self.final_state = solution[-1]
        return self.problem.loss(self.trajectory)

    def backward(self, loss: torch.Tensor) -> None:
        """Back-propagate ``loss`` into the parameters' ``.grad``."""
        loss.backward()

    def zero_grad(self) -> None:
        """Forget the gradients of the previous run."""
        for parameter in self.problem.parameters():
            parameter.grad = None

    def run(self) -> None:
        """One whole step, forward and backward, gradients reset first."""
        self.zero_grad()
        self.backward(self.forward())

    def release(self) -> None:
        """Drop the states the last forward kept (before a memory baseline)."""
        self.trajectory = self.final_state = None


def build_pass(config: CellConfig) -> GradientPass:
    """The problem of ``config`` (seeded) wired to its gradient method and solver."""
    problem = workload_of(config.workload).build(config)
    return GradientPass(config, problem)
