"""How well a backward solve reconstructs the states an adjoint's backward pass starts from.

A backsolve adjoint (torchdiffeq's ``odeint_adjoint``, the lean core's ``own-adjoint``, torchode's
``BacksolveAdjoint``) does not store the forward trajectory: its backward pass integrates the
state backwards alongside the adjoint, re-seeded with the stored state at each output time. Where
that backward integration of the state is unstable (stiff fields, contracting dynamics run in
reverse, long horizons, ReLU kinks) the adjoint is evaluated along the wrong states and the
gradient is wrong however tight the tolerances.

:func:`reverse_state_error` measures it directly: from each output state y(t_k) it solves the field
backwards to t_{k-1} with the cell's solver, tolerances and step cap (torchdiffeq's ``odeint``,
no gradient), and returns the largest relative L2 error against the forward solve's y(t_{k-1}).
The adjoint's own backward solve chooses its steps on the augmented state (state, adjoint and
parameter adjoint), so this is the state part of what it integrates, not a copy of its steps.
"""

from __future__ import annotations

import torch
import torchdiffeq

from neural_ode.measuring.options import solver_options
from neural_ode.solvers import TORCHDIFFEQ_SOLVERS


def reverse_state_error(step) -> float | None:
    """The largest relative error of a state reconstructed by solving backwards over one output
    interval, over the intervals of ``step``'s last forward solve (a :class:`GradientPass` after
    :meth:`forward`); None for methods that are no adjoint or solvers torchdiffeq lacks."""
    config = step.config
    if step.method.family != "adjoint" or config.solver not in TORCHDIFFEQ_SOLVERS:
        return None
    with torch.no_grad():
        states = step.trajectory.detach()
        if step.skip:  # the first solve time (t = 0) is not an output: its state is the initial one
            states = torch.cat([step.problem.initial_state().detach().unsqueeze(0), states])
        times, worst = step.t, 0.0
        options = solver_options(config, times)
        options.pop("step_t", None)
        tolerances = {} if config.rtol is None else {"rtol": config.rtol, "atol": config.atol}
        for k in range(len(times) - 1, 0, -1):
            back = torchdiffeq.odeint(
                step.problem.field, states[k], times[k - 1 : k + 1].flip(0), method=config.solver,
                options=dict(options), **tolerances,
            )[-1]  # fmt: skip
            target = states[k - 1].to(torch.float64)
            error = float(torch.linalg.vector_norm(back.to(torch.float64) - target) / torch.linalg.vector_norm(target))
            worst = max(worst, error) if error == error else float("inf")  # NaN: the reverse solve blew up
    return worst
