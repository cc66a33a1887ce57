"""A cell's solver options: the fixed grid through the output times, or the adaptive step cap.

Below :mod:`neural_ode.measuring.cell` so that the training models (which solve with the same
options) import it without the measuring core.
"""

from __future__ import annotations

import torch

from neural_ode.methods import METHODS
from neural_ode.solvers import SOLVERS


def fixed_grid_points(steps: int, t: torch.Tensor) -> torch.Tensor:
    """The grid of a fixed-grid solve over the times ``t``: ``steps`` equal steps over [t[0], t[-1]],
    plus every output time that is not already a grid point (so the solver steps onto each output
    time, never interpolates; a point within rounding of an output time becomes that time).

    With outputs on the equal-step grid (e.g. ``steps`` a multiple of ``outputs``, or one output)
    this is exactly ``steps`` steps: NFE = steps x evaluations per step; otherwise each output off the
    grid adds one step.
    """
    # linspace rather than step_size: t1/N rounded can give N+1 steps
    base = torch.linspace(float(t[0]), float(t[-1]), steps + 1, dtype=t.dtype, device=t.device)
    if len(t) == 2:
        return base
    scale = max(1.0, float(t.abs().max()))
    tolerance = 64 * torch.finfo(t.dtype).eps * scale
    distance = (base[:, None] - t[None, :]).abs()
    keep = distance.min(dim=1).values > tolerance  # base points not on an output time
    return torch.sort(torch.cat([base[keep], t])).values


def solver_options(config, t: torch.Tensor | None = None) -> dict:
    """torchdiffeq options of the cell: a fixed grid through the output times, or the adaptive step cap.

    The grid is made once for the solve times ``t`` (see :func:`fixed_grid_points`); asked for a
    part of it (torchdiffeq's adjoint solves backwards output interval by output interval, from
    t_k+1 to t_k), the constructor returns the same grid's points in that interval, in the asked
    direction, so the backward pass walks the forward grid.
    """
    if SOLVERS[config.solver].adaptive:
        if getattr(config, "land", False) and getattr(METHODS.get(config.method), "interpolates_outputs", False):
            # torchdiffeq then ends a step exactly on t1 instead of interpolating there
            return {"max_num_steps": config.max_num_steps, "step_t": [float(config.horizon)]}
        return {"max_num_steps": config.max_num_steps}
    steps = config.steps
    whole = None if t is None or len(t) == 2 else fixed_grid_points(steps, t)

    def grid(func, y0, t):
        if whole is None:
            # linspace rather than step_size: t1/N rounded can give N+1 steps
            return fixed_grid_points(steps, t)
        lo, hi = sorted((float(t[0]), float(t[-1])))
        tolerance = 64 * torch.finfo(t.dtype).eps * max(1.0, abs(hi))
        points = whole.to(t.device)
        inside = points[(points > lo + tolerance) & (points < hi - tolerance)]
        if float(t[0]) > float(t[-1]):
            inside = inside.flip(0)
        return torch.cat([t[:1], inside, t[-1:]])

    return {"grid_constructor": grid}


