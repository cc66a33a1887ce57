"""Counting vector-field evaluations (NFE) and enforcing a cell's time budget."""

from __future__ import annotations

import time

from torch import nn


class CellTimeout(Exception):
    """The cell ran past its ``timeout_s``."""


class Deadline:
    """A wall-clock deadline, ``timeout_s`` seconds from creation (None: never)."""

    def __init__(self, timeout_s: float | None):
        self.timeout_s = timeout_s
        self.at = None if timeout_s is None else time.monotonic() + timeout_s

    def check(self) -> None:
        """Raise :class:`CellTimeout` once the deadline has passed."""
        if self.at is not None and time.monotonic() > self.at:
            raise CellTimeout(f"cell exceeded its timeout of {self.timeout_s:g} s")


class CountingField(nn.Module):
    """Wraps a vector field and counts its evaluations in ``nfe``.

    The wrapped field's parameters are this module's parameters, so ``odeint_adjoint`` sees the
    same ``adjoint_params``. Each call also checks the deadline, so a runaway adaptive solve
    stops at the cell's timeout instead of hanging.
    """

    def __init__(self, field: nn.Module, deadline: Deadline | None = None):
        super().__init__()
        self.field = field
        self.nfe = 0
        self.deadline = deadline

    def forward(self, t, y):
        self.nfe += 1
        if self.deadline is not None:
            self.deadline.check()
        return self.field(t, y)
