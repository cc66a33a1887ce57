"""Counting vector-field evaluations (NFE) and enforcing a cell's time budget."""

from __future__ import annotations

import time

import torch
from torch import nn

from neural_ode.errors import CellTimeout as CellTimeout  # re-exported: the deadline raises it
from neural_ode.errors import StepSizeUnderflow


class Deadline:
    """A wall-clock deadline, ``timeout_s`` seconds from creation (None: never)."""

    def __init__(self, timeout_s: float | None):
        self.timeout_s = timeout_s
        self.at = None if timeout_s is None else time.monotonic() + timeout_s

    def check(self) -> None:
        """Raise :class:`CellTimeout` once the deadline has passed."""
        if self.at is not None and time.monotonic() > self.at:
            raise CellTimeout(f"cell exceeded its timeout of {self.timeout_s:g} s")


def _check_time_resolvable(t, dtype: torch.dtype) -> None:
    """Fail fast when an adaptive solver's step has shrunk into denormal numbers.

    torchdiffeq detects a step-size underflow as ``t0 + dt == t0``, which never happens at
    t0 = 0: there the step shrinks through the denormal range, where CPU arithmetic is ~100x
    slower, and the solve grinds for minutes. An evaluation time that is a nonzero denormal
    means the step size is below the dtype's smallest normal number: report the underflow.
    """
    # torchode passes one time per sample: the smallest nonzero magnitude is the one at risk
    times = t.detach().abs().reshape(-1) if isinstance(t, torch.Tensor) else torch.tensor([abs(float(t))])
    times = times[times != 0]
    time = float(times.min()) if len(times) else 0.0
    tiny = torch.finfo(dtype).tiny
    if time != 0.0 and abs(time) < tiny:
        raise StepSizeUnderflow(
            f"underflow in dt: the solver evaluated at t={time:.3g}, below the smallest normal {dtype} ({tiny:.3g})"
        )


def _all_finite(tensor: torch.Tensor) -> bool:
    """True when every entry of ``tensor`` is finite; records nothing in the autograd graph."""
    with torch.no_grad():
        return bool(torch.isfinite(tensor.detach()).all())


class CountingField(nn.Module):
    """Wraps a vector field and counts its evaluations in ``nfe``.

    The wrapped field's parameters are this module's parameters, so ``odeint_adjoint`` sees the
    same ``adjoint_params``. Each call also checks the deadline, so a runaway adaptive solve
    stops at the cell's timeout instead of hanging. With ``watch_finite`` it notes the first
    evaluation that returned NaN or infinity (``first_non_finite``), so that a solver failure
    it causes (a step size shrinking to nothing) can be blamed on its real cause, and stops a
    step size that has underflowed into denormal numbers.
    """

    def __init__(self, field: nn.Module, deadline: Deadline | None = None, watch_finite: bool = False):
        super().__init__()
        self.field = field
        self.nfe = 0
        self.deadline = deadline
        self.watch_finite = watch_finite
        self.first_non_finite: str | None = None

    def forward(self, t, y):
        self.nfe += 1
        if self.deadline is not None:
            self.deadline.check()
        # inside torch.func transforms (torchode's backsolve vmaps the field over samples) values
        # cannot be read: the watch is left to the evaluations outside them
        watch = self.watch_finite and not _transformed(y)
        if watch:
            _check_time_resolvable(t, y.dtype)
        out = self.field(t, y)
        # on a detached view under no_grad: the check must not save the output for backward
        if watch and self.first_non_finite is None and not _all_finite(out):
            first = float(t.detach().reshape(-1)[0]) if isinstance(t, torch.Tensor) else float(t)
            self.first_non_finite = f"evaluation {self.nfe} (t={first:.6g})"
        return out


def _transformed(tensor: torch.Tensor) -> bool:
    """True for a tensor seen inside ``torch.func.vmap``/``grad``/``vjp`` (its values are not readable)."""
    return torch._C._functorch.is_functorch_wrapped_tensor(tensor)


class StepCountingField(CountingField):
    """A :class:`CountingField` that also counts an adaptive torchdiffeq solve's accepted and rejected
    steps, apart for the forward solve and the adjoint's backward solve.

    torchdiffeq's adaptive solvers call the field's ``callback_accept_step`` / ``callback_reject_step``
    once per step of the forward solve, and their ``*_adjoint`` twins once per step of
    ``odeint_adjoint``'s backward solve (FURTHER_DOCUMENTATION.md). A separate class, because
    torchdiffeq warns when a solver that has no such steps (a fixed grid) is handed these callbacks.
    Counts (``accepted``, ``rejected``): dicts with keys ``"forward"`` and ``"backward"``.
    """

    def __init__(self, field: nn.Module, deadline: Deadline | None = None, watch_finite: bool = False):
        super().__init__(field, deadline, watch_finite)
        self.accepted = {"forward": 0, "backward": 0}
        self.rejected = {"forward": 0, "backward": 0}

    def callback_accept_step(self, t0, y0, dt):  # noqa: D102 - torchdiffeq's hook
        self.accepted["forward"] += 1

    def callback_reject_step(self, t0, y0, dt):  # noqa: D102
        self.rejected["forward"] += 1

    def callback_accept_step_adjoint(self, t0, y0, dt):  # noqa: D102
        self.accepted["backward"] += 1

    def callback_reject_step_adjoint(self, t0, y0, dt):  # noqa: D102
        self.rejected["backward"] += 1
