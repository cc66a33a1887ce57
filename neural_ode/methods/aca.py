"""``aca``: the adaptive checkpoint adjoint (Zhuang et al., ICML 2020).

Forward: solve with no graph and keep only the accepted steps: their start times, step sizes
and start states (for a fixed grid, every grid state). Backward: walk the steps in reverse;
for each, re-run that one step from its stored state with the graph on and backpropagate the
adjoint a = dL/dy through it::

    y_{n+1} = Phi(t_n, y_n, dt_n; theta)       (one solver step, re-run)
    a_n     = a_{n+1}^T dPhi/dy_n,     dL/dtheta += a_{n+1}^T dPhi/dtheta

This is the chain rule through the accepted steps, so the gradient is exactly direct
backpropagation's through the same solve (step sizes are constants, as in torchdiffeq), with no
error from re-solving anything backwards. Memory: the stored states, O(steps x state), plus one
step's graph, instead of direct backpropagation's O(steps x graph of a step).

Backward evaluations: one step's solution needs ``len(b)`` evaluations, so the backward NFE
equals the evaluations the forward's accepted steps needed for their solutions: 4 per step for
RK4 (= the forward NFE); 6 per accepted step for dopri5, whose forward also paid 2 start-up
evaluations, the first-same-as-last stage folded into those 6, and 6 per rejected step.
"""

from __future__ import annotations

import itertools

import torch

from neural_ode.integrators import (
    ADAPTIVE_TABLEAUX,
    FIXED_TABLEAUX,
    Stepper,
    adaptive_solver,
    fixed_grid,
    integrate,
    pullback,
    trainable_parameters,
)
from neural_ode.methods.base import GradientMethod


def _backprop_step(step, y: torch.Tensor, a: torch.Tensor, g: list[torch.Tensor], params) -> torch.Tensor:
    """Re-run ``step(y)`` with the graph on and pull ``a`` back through it; adds into ``g``."""
    with torch.enable_grad():
        y = y.detach().requires_grad_(True)
        y_next = step(y)
        grads = pullback(y_next, (y, *params), a)  # torch.autograd.grad without its Python checks
    for total, grad in zip(g, grads[1:]):
        if grad is not None:
            total.add_(grad)
    return grads[0] if grads[0] is not None else torch.zeros_like(a)


class ACAFunction(torch.autograd.Function):
    """``apply(field, solver, rtol, atol, options, t, y0, *params)`` -> states at ``t``."""

    @staticmethod
    def forward(ctx, field, solver, rtol, atol, options, t, y0, *params):
        ctx.field, ctx.solver = field, solver
        if solver in FIXED_TABLEAUX:
            stepper = Stepper(FIXED_TABLEAUX[solver])
            grid = fixed_grid(field, y0, t, options, stepper)
            states = integrate(field, y0, grid, stepper, keep="all")  # every grid state, no graph
            ctx.stepper, ctx.grid = stepper, grid
            ctx.save_for_backward(states, *params)
            return states[grid.outputs]
        solver_ = adaptive_solver(
            lambda s, state: (field(s, state[0]),),
            ADAPTIVE_TABLEAUX[solver],
            rtol=rtol,
            atol=atol,
            options=options,
            record=True,
        )
        times = t.tolist()
        ys, ends = [y0], [0]  # ends[k]: accepted steps taken when output k was reached
        f0 = dt = None
        for t_start, t_end in itertools.pairwise(times):
            (y,), f0, dt = solver_.solve_interval((ys[-1],), t_start, t_end, f0=f0, dt=dt)
            ys.append(y)
            ends.append(solver_.stats.accepted)
        ctx.solver_, ctx.ends = solver_, ends
        ctx.steps = [(s.t, s.t_next, s.dt) for s in solver_.stats.steps]
        ctx.n_states = len(ctx.steps)
        ctx.save_for_backward(*(s.state[0] for s in solver_.stats.steps), *params)
        solver_.stats.steps = []  # the states live on in ctx's saved tensors only
        return torch.stack(ys)

    @staticmethod
    def backward(ctx, grad_ys):
        saved = ctx.saved_tensors
        g = None
        if ctx.solver in FIXED_TABLEAUX:
            states, *params = saved
            g = [torch.zeros_like(p) for p in params]
            grid, stepper, field = ctx.grid, ctx.stepper, ctx.field
            output_at = {index: k for k, index in enumerate(grid.outputs)}
            a = grad_ys[-1]
            for n in reversed(range(grid.steps)):
                k = output_at.get(n + 1)
                if k is not None and k != len(grid.outputs) - 1:
                    a = a + grad_ys[k]
                a = _backprop_step(
                    lambda y, n=n: stepper.step(field, grid.stage_times(n), y, grid.dts[n]), saved[0][n], a, g, params
                )
        else:
            states, params = saved[: ctx.n_states], saved[ctx.n_states :]
            g = [torch.zeros_like(p) for p in params]
            solver_ = ctx.solver_
            output_at = {end: k for k, end in enumerate(ctx.ends)}
            a = grad_ys[-1]
            for n in reversed(range(ctx.n_states)):
                k = output_at.get(n + 1)
                if k is not None and k != len(ctx.ends) - 1:
                    a = a + grad_ys[k]
                t, t_next, dt = ctx.steps[n]
                a = _backprop_step(
                    lambda y, t=t, t_next=t_next, dt=dt: solver_.step_solution(t, t_next, dt, (y,))[0],
                    states[n],
                    a,
                    g,
                    params,
                )
        return (None, None, None, None, None, None, a + grad_ys[0], *g)


class ACAMethod(GradientMethod):
    name = "aca"
    family = "checkpointing"
    memory_unit = "step"
    description = (
        "adaptive checkpoint adjoint (Zhuang et al. 2020): stored accepted states, "
        "each step re-run and backpropagated; memory O(steps x state)"
    )
    supported_solvers = (*FIXED_TABLEAUX, *ADAPTIVE_TABLEAUX)

    def solve(self, field, y0, t, *, solver, rtol, atol, options):
        self.check_solver(solver)
        return ACAFunction.apply(field, solver, rtol, atol, dict(options), t, y0, *trainable_parameters(field))
