"""Counts of one gradient pass in a published setting: evaluations and steps, forward and backward.

The published rows (:mod:`neural_ode.apps.published.table`) are judged in the setting each source used,
beside ours. Some of those settings are not cells of a sweep: the seminorm at atol = rtol/1000, or
a seminorm that also leaves out the time adjoint. :func:`count_pass` runs one forward and backward
pass of a cell's problem (built exactly as a sweep builds it: :func:`neural_ode.measuring.cell.build_pass`)
through torchdiffeq's adjoint with the given backward norm, and counts what the solver did: vector-
field evaluations and accepted and rejected steps, each apart for the forward and the backward solve
(torchdiffeq's ``callback_accept_step`` / ``callback_reject_step`` and their ``_adjoint`` twins).
Counts, so any machine gives the same figures.

Backward norms (:data:`NORMS`), what the backward solve's error control measures:

* ``full``: torchdiffeq's default: the state, its adjoint, the time adjoint and the parameter adjoint;
* ``seminorm``: torchdiffeq's ``adjoint_options=dict(norm="seminorm")`` (Kidger, Chen and Lyons 2021):
  the parameter adjoint left out; torchdiffeq keeps the *time* adjoint in it (its
  ``adjoint_seminorm`` returns ``max(t.abs(), state_norm(y), state_norm(adj_y))``, where ``t`` is the
  integral of a^T df/dt, non-zero for a time-dependent field because torchdiffeq always evaluates the
  field with a ``t`` that requires grad);
* ``seminorm-no-time``: the paper's seminorm, state and its adjoint only, given to torchdiffeq as a
  custom norm (its documented ``adjoint_options=dict(norm=callable)``; for a tensor state the callable
  receives ``(time adjoint, y, adj_y, *parameter adjoints)``).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from neural_ode import build_pass
from neural_ode.config import CellConfig
from neural_ode.measuring import StepCountingField
from neural_ode.methods import AdjointMethod


def _rms(tensor: torch.Tensor) -> torch.Tensor:
    """torchdiffeq's default state norm (root mean square)."""
    return tensor.abs().pow(2).mean().sqrt()


def seminorm_without_time(tensors) -> torch.Tensor:
    """The backward solve's error norm over the state and its adjoint only (no time, no parameter adjoint)."""
    _time_adjoint, state, state_adjoint, *_parameter_adjoints = tensors
    return torch.maximum(_rms(state), _rms(state_adjoint))


#: backward norm name -> torchdiffeq's ``adjoint_options["norm"]`` (None: its default, every channel)
NORMS = {"full": None, "seminorm": "seminorm", "seminorm-no-time": seminorm_without_time}


class _NormAdjoint(AdjointMethod):
    """torchdiffeq's adjoint with a chosen backward norm (only for counting here, not a registered method)."""

    def __init__(self, norm):
        self.adjoint_options = None if norm is None else {"norm": norm}


@dataclass(frozen=True)
class PassCounts:
    """Evaluations and steps of one gradient pass (forward solve + adjoint backward solve)."""

    nfe_forward: int
    nfe_backward: int
    accepted_forward: int
    rejected_forward: int
    accepted_backward: int
    rejected_backward: int

    @property
    def backward_over_forward(self) -> float:
        """Backward over forward evaluations."""
        return self.nfe_backward / self.nfe_forward


def count_pass(config: CellConfig, norm: str = "full") -> PassCounts:
    """Count one forward + backward pass of ``config``'s problem through torchdiffeq's adjoint whose
    backward solve uses the ``norm`` of :data:`NORMS` (``config.method`` is ignored)."""
    if norm not in NORMS:
        raise ValueError(f"unknown backward norm {norm!r}; allowed: {', '.join(NORMS)}")
    step = build_pass(config.replace(method="adjoint"))
    step.method = _NormAdjoint(NORMS[norm])
    if not isinstance(step.problem.initial_state(), torch.Tensor):
        raise ValueError(f"{config.workload}: a custom backward norm needs a tensor state")
    counter = StepCountingField(step.problem.field)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # deterministic reductions, and no competition with a neighbour's cores
    try:
        step.zero_grad()
        loss = step.forward(counter)
        forward = counter.nfe
        step.backward(loss)
    finally:
        torch.set_num_threads(threads)
    return PassCounts(forward, counter.nfe - forward, counter.accepted["forward"], counter.rejected["forward"],
                      counter.accepted["backward"], counter.rejected["backward"])  # fmt: skip


__all__ = ["NORMS", "PassCounts", "count_pass", "seminorm_without_time"]
