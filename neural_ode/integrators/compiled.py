"""An optional ``torch.compile``-d fixed-grid step for the lean core (no-grad solves).

The eager step (:class:`~neural_ode.integrators.fixed_grid.Stepper`) takes the step size as a
Python float (the ``alpha`` of a fused ``add``). Under ``torch.compile`` a Python float is a
constant of the graph, so every distinct step size would compile anew; here the step sizes are
0-dim tensors (views of one tensor made before the loop) and the stage updates are plain tensor
arithmetic that the compiler fuses with the vector field into one graph per step.

Results agree with the eager core to rounding, not to the bit (the compiler reorders the
arithmetic); the gradient methods keep the eager core. Compilation happens on the first call
and is slow (tens of seconds on CPU): time it apart from the solve.

The adaptive solver has no compiled step: its step size changes every step and its error
control reads a Python float back per step, so a compiled step would either recompile per step
or need a different controller.
"""

from __future__ import annotations

import torch
from torch import nn

from neural_ode.integrators.fixed_grid import FixedGrid, Stepper


def tensor_step(stepper: Stepper):
    """``step(field, times, y, dt)`` with ``dt`` a 0-dim tensor: the stepper's arithmetic as tensor ops."""
    rows, weights = stepper.rows, stepper.weights

    def step(field, times, y, dt):
        k = []
        for i, row in enumerate(rows):
            stage = y
            if row:
                stage = y + dt * sum(coef * k[j] for j, coef in row)
            k.append(field(times[i], stage))
        return y + dt * sum(coef * k[j] for j, coef in weights)

    return step


def compile_step(stepper: Stepper, **compile_options):
    """:func:`tensor_step` under ``torch.compile`` (``dynamic=False`` unless given)."""
    compile_options.setdefault("dynamic", False)
    return torch.compile(tensor_step(stepper), **compile_options)


def integrate_compiled(field: nn.Module, y0: torch.Tensor, grid: FixedGrid, step) -> torch.Tensor:
    """Walk ``grid`` from ``y0`` with ``step`` (from :func:`compile_step`), no grad.

    Returns the states at the output times, shape ``(len(grid.outputs), *y0.shape)``, like
    :func:`~neural_ode.integrators.fixed_grid.integrate`.
    """
    dts = (grid.times[1:] - grid.times[:-1]).to(y0.dtype).unbind(0)
    outputs = set(grid.outputs)
    kept, y = [y0], y0
    with torch.no_grad():
        for n, ((times, _), dt) in enumerate(zip(grid.walk(), dts), start=1):
            y = step(field, times, y, dt)
            if n in outputs:
                kept.append(y)
    return torch.stack(kept)
