"""``own-adjoint``: the adjoint sensitivity method written from scratch, to be read.

The problem
-----------
A Neural ODE maps y(t0) to y(t1) by solving dy/dt = f(t, y; theta); a loss L(y(t1)) follows.
We want dL/dtheta (and dL/dy(t0)) without storing the solver's intermediate states.

The adjoint
-----------
Define the adjoint a(t) = dL/dy(t), the sensitivity of the loss to the state at time t.
Chen et al. (2018, Neural Ordinary Differential Equations, eq. 4-5) show that it obeys an ODE
of its own, run backwards from a(t1) = dL/dy(t1)::

    da/dt      = - a(t)^T  df/dy (t, y(t))
    dL/dtheta  =   integral from t0 to t1 of  a(t)^T df/dtheta (t, y(t)) dt
    dL/dy(t0)  =   a(t0)

Both right-hand sides are vector-Jacobian products: one ``torch.autograd.grad`` of f(t, y)
with the cotangent a gives a^T df/dy and a^T df/dtheta at once, without forming a Jacobian.

The backward pass needs y(t) along the way, but nothing was stored: y is integrated backwards
too, from y(t1), alongside a. Put the three together in one augmented state and integrate from
t1 down to t0. Written in reverse time s = t1 - t (so every integration runs with a positive
step), with g(s) the running integral of the parameter sensitivity::

    dy/ds = - f(t, y)
    da/ds =   a^T df/dy (t, y)        a(s=0) = dL/dy(t1)
    dg/ds =   a^T df/dtheta (t, y)    g(s=0) = 0,   g(s=t1-t0) = dL/dtheta

g is a quadrature: it never feeds back into the right-hand side, so a Runge-Kutta step only
needs its final weighted sum, never its stage values.

What the code does
------------------
- forward (:class:`OwnAdjointFunction`.forward): integrate y with no graph at all; keep only
  the states at the output times (for one interval: y(t0) and y(t1)), t and the parameters.
  Memory does not grow with the number of steps.
- backward: integrate the augmented system above with the *same* scheme backwards: the
  same tableau over the same grid reversed (fixed-grid solvers), or the same adaptive pair with
  its own step-size control (``dopri5``, error norm over y, a and g together). Every stage costs
  one evaluation of f with the graph on and one vector-Jacobian product, so RK4 with N steps
  costs 4N evaluations forward and 4N backward.

What it is not
--------------
The backward pass discretises the *continuous* adjoint, so its gradient differs from the exact
gradient of the discretised forward solve (what ``direct``, ``checkpoint`` and ``aca`` return)
by the discretisation error; it converges to the true dL/dtheta as steps increase or tolerances
tighten. The backward re-solve of y can also drift from the forward trajectory (unstable
dynamics backwards). No gradient is returned for the times ``t``.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from neural_ode.integrators import (
    ADAPTIVE_TABLEAUX,
    FIXED_TABLEAUX,
    Stepper,
    adaptive_solver,
    fixed_grid,
    integrate,
    pullback,
    solve_adaptive,
    trainable_parameters,
)
from neural_ode.integrators.codegen import compiled, sum_lines
from neural_ode.integrators.fixed_grid import combine
from neural_ode.methods.base import GradientMethod


def vjp(field, t: torch.Tensor, y: torch.Tensor, cotangent: torch.Tensor, params: Sequence[torch.Tensor]):
    """f(t, y), and cotangent^T df/dy and cotangent^T df/dtheta: one forward, one backward.

    All inputs are differentiated in one ``torch.autograd.grad`` call; an input that f does not
    use gets zeros.
    """
    with torch.enable_grad():
        y = y.detach().requires_grad_(True)
        f = field(t, y)
        grads = pullback(f, (y, *params), cotangent)  # torch.autograd.grad without its Python checks
    grads = [torch.zeros_like(x) if g is None else g for g, x in zip(grads, (y, *params))]
    return f.detach(), grads[0], grads[1:]


def adjoint_step(field, stepper: Stepper, times, y, a, g: list[torch.Tensor], h: float, params):
    """One step of the augmented system, from t_{n+1} back to t_n = t_{n+1} - h.

    In reverse time (see the module docstring) stage i is evaluated at ``times[i]`` =
    t_{n+1} - c_i h with::

        Y_i = y - h * sum_j a_ij F_j          F_i = f(t_i, Y_i)
        A_i = a + h * sum_j a_ij V_j          V_i, W_i = A_i^T df/dy, A_i^T df/dtheta at (t_i, Y_i)

    and the step ends with y - h sum b_i F_i, a + h sum b_i V_i; g += h sum b_i W_i (in place).
    """
    F, V = [], []
    weights = dict(stepper.weights)
    for i, row in enumerate(stepper.rows):
        Y = combine(y, F, row, -h) if row else y
        A = combine(a, V, row, h) if row else a
        f, v, w = vjp(field, times[i], Y, A, params)
        F.append(f)
        V.append(v)
        if i in weights and g:
            torch._foreach_add_(g, w, alpha=h * weights[i])
    return combine(y, F, stepper.weights, -h), combine(a, V, stepper.weights, h)


def _adjoint_step_source(rows, weights) -> str:
    """Python source of :func:`adjoint_step` for one tableau, as straight-line code.

    The same calls in the same order as the loop (per stage ``combine`` of y with ``-h`` and of
    a with ``h``, one :func:`vjp`, a ``_foreach_add_`` into g where the stage has a weight; then
    the two weighted sums), so the result is bitwise that of :func:`adjoint_step`, without the
    loop's per-step lists, dict and calls.
    """
    weight = dict(weights)
    lines = ["def step(field, times, y, a, g, h, params):", "    mh = -h"]
    for i, row in enumerate(rows):
        if row:
            lines += sum_lines(f"Y{i}", "y", "F{}", row, "mh") + sum_lines(f"A{i}", "a", "V{}", row, "h")
        else:
            lines += [f"    Y{i} = y", f"    A{i} = a"]
        lines.append(f"    F{i}, V{i}, W{i} = vjp(field, times[{i}], Y{i}, A{i}, params)")
        if i in weight:
            lines.append(f"    if g:\n        torch._foreach_add_(g, W{i}, alpha=h * {weight[i]!r})")
    lines += sum_lines("y_new", "y", "F{}", weights, "mh") + sum_lines("a_new", "a", "V{}", weights, "h")
    lines.append("    return y_new, a_new")
    return "\n".join(lines) + "\n"


def generated_adjoint_step(stepper: Stepper):
    """:func:`adjoint_step` for ``stepper``'s tableau as generated straight-line code, made
    once per process: ``step(field, times, y, a, g, h, params) -> (y, a)``."""
    source = _adjoint_step_source(stepper.rows, stepper.weights)
    return compiled(source, f"<adjoint step {stepper.tableau.name}>", "step", vjp=vjp)


class OwnAdjointFunction(torch.autograd.Function):
    """The adjoint method as an autograd Function: ``apply(field, solver, rtol, atol, options, t, y0, *params)``.

    Returns the states at the times ``t``, shape ``(len(t), *y0.shape)``.
    """

    @staticmethod
    def forward(ctx, field, solver, rtol, atol, options, t, y0, *params):
        # autograd is off inside forward: the solve builds no graph
        ctx.field, ctx.solver = field, solver
        if solver in FIXED_TABLEAUX:
            stepper = Stepper(FIXED_TABLEAUX[solver])
            grid = fixed_grid(field, y0, t, options, stepper)
            ys = integrate(field, y0, grid, stepper)
            ctx.stepper, ctx.grid = stepper, grid
        else:
            ys = solve_adaptive(field, y0, t, ADAPTIVE_TABLEAUX[solver], rtol=rtol, atol=atol, options=options)
            ctx.rtol, ctx.atol, ctx.options = rtol, atol, options
        # only the output states, t and the parameters are kept (parameters cost no memory: they live anyway)
        ctx.save_for_backward(t, ys, *params)
        return ys

    @staticmethod
    def backward(ctx, grad_ys):
        t, ys, *params = ctx.saved_tensors
        if ctx.solver in FIXED_TABLEAUX:
            grad_y0, grad_params = _backward_fixed(ctx.field, ctx.stepper, ctx.grid, ys, grad_ys, params)
        else:
            grad_y0, grad_params = _backward_adaptive(ctx, t, ys, grad_ys, params)
        return (None, None, None, None, None, None, grad_y0, *grad_params)


def _backward_fixed(field, stepper: Stepper, grid, ys, grad_ys, params):
    """Walk the grid backwards with the augmented system; re-seed y and add dL/dy at outputs."""
    output_at = {index: k for k, index in enumerate(grid.outputs)}
    last = len(grid.outputs) - 1
    y, a = ys[last], grad_ys[last].clone()
    g = [torch.zeros_like(p) for p in params]
    step = generated_adjoint_step(stepper)  # adjoint_step, generated straight-line for this tableau
    for n in reversed(range(grid.steps)):
        k = output_at.get(n + 1)
        if k is not None and k != last:  # an output time: the loss also depends on y there
            y, a = ys[k], a + grad_ys[k]
        y, a = step(field, grid.reverse_stage_times(n), y, a, g, grid.dts[n], params)
    return a + grad_ys[0], g


def _backward_adaptive(ctx, t, ys, grad_ys, params):
    """Solve the augmented system from t[-1] down to t[0] with the adaptive pair.

    In real time t (the solver integrates backwards itself): d[y, a, g]/dt = [f, -a^T f_y,
    -a^T f_theta]; the cotangent -a gives both negated products from one ``autograd.grad``.
    """
    field = ctx.field

    def augmented(s, state):
        y, a = state[0], state[1]
        f, minus_v, minus_w = vjp(field, s, y, -a, params)
        return (f, minus_v, *minus_w)

    solver = adaptive_solver(
        augmented,
        ADAPTIVE_TABLEAUX[ctx.solver],
        rtol=ctx.rtol,
        atol=ctx.atol,
        options=ctx.options,
        dynamic=2,  # y and a feed the vector field; the parameter sensitivities are quadratures
    )
    times = t.tolist()
    a = grad_ys[-1]
    g = tuple(torch.zeros_like(p) for p in params)
    dt = None
    for k in reversed(range(1, len(times))):
        state, _, dt = solver.solve_interval((ys[k], a, *g), times[k], times[k - 1], dt=dt)
        a, g = state[1] + grad_ys[k - 1], state[2:]
    return a, list(g)


class OwnAdjointMethod(GradientMethod):
    name = "own-adjoint"
    family = "adjoint"
    description = (
        "adjoint method written from scratch (autograd.Function, backward solve of [y, a, dL/dtheta]); memory O(1)"
    )
    supported_solvers = (*FIXED_TABLEAUX, *ADAPTIVE_TABLEAUX)

    def solve(self, field, y0, t, *, solver, rtol, atol, options):
        self.check_solver(solver)
        return OwnAdjointFunction.apply(field, solver, rtol, atol, dict(options), t, y0, *trainable_parameters(field))
