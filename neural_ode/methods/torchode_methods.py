"""torchode's three gradient routes, measured by the same core as every other method.

torchode (Lienen & Günnemann 2022) solves a batch of independent problems in parallel, each
sample with its own step size, on states of shape ``(batch, features)``. Our problems' states
(``(batch, dim)`` for the mlp, ``(batch, channels, side, side)`` for the conv block) are
flattened to ``(batch, -1)`` and the vector field is wrapped (:class:`FlatField`) to see its own
shape again; the time torchode passes per sample (shape ``(batch,)``) reaches the field
broadcastable against the state, ``(batch, 1, ...)``.

* ``torchode``: backpropagation through the solve (``AutoDiffAdjoint``), like ``direct``;
* ``torchode-backsolve``: the adjoint by a backward solve of the augmented system
  (``BacksolveAdjoint``), one augmented state per sample (the parameter adjoint is batch x
  parameters, computed with ``torch.func.vmap`` over samples);
* ``torchode-joint-backsolve``: the same, with the whole batch solved as one joint problem
  (``JointBacksolveAdjoint``: one step size for the batch, as torchdiffeq).

Solvers: torchode's ``Dopri5`` (``dopri5``), ``Tsit5`` (``tsit5``, torchode only), ``Heun``
(``heun2`` on a fixed grid, ``adaptive_heun`` with error control: the same Heun-Euler pair) and
``Euler`` (``euler``). Adaptive solves use torchode's ``IntegralController`` (the classic
controller torchdiffeq uses, safety 0.9, factors 0.2..10); fixed grids walk exactly the
``linspace`` grid of the other methods (:class:`GridController`, torchode's fixed-step
controller pointed at the next grid point, so that no extra sliver step is taken).

Facts found when measuring (torchode 1.0.1, torch 2.13): torchode clamps its last step to land on
the end time, where torchdiffeq steps past it and returns its interpolant, so at equal tolerance and
equal NFE torchode's adaptive gradient error is lower; ``BacksolveAdjoint``'s augmented term does
not count its evaluations (its backward ``n_f_evals`` stay 0: the ``CountingField`` count is the
exact one); ``torch.jit.script`` of ``AutoDiffAdjoint`` fails with an internal assert, and the
README's ``torch.compile(solver)`` leaves ``.solve`` uncompiled (compiling ``solve`` itself works,
after minutes of compilation: ``scripts/compare_solver_speed.py --torchode-compile``), so no JIT
method is registered.

torchode is an optional extra (``pip install -e '.[torchode]'``): imported only when a method
solves, and without it the methods report themselves unavailable (:meth:`GradientMethod.unavailable`).
"""

from __future__ import annotations

import importlib

import torch
from torch import nn

from neural_ode.errors import NonFiniteError, StepSizeUnderflow, TooManySteps
from neural_ode.methods.base import GradientMethod

#: our solver name -> torchode's step method class name
SOLVER_CLASSES = {"dopri5": "Dopri5", "tsit5": "Tsit5", "adaptive_heun": "Heun", "heun2": "Heun", "euler": "Euler"}
INSTALL_LINE = "pip install -e '.[torchode]'"


def load_torchode():
    """The torchode module; ImportError (with the install line) when it is not installed."""
    try:
        return importlib.import_module("torchode")
    except ImportError as exc:
        raise ImportError(f"torchode is not installed: {INSTALL_LINE}") from exc


class FlatField(nn.Module):
    """``field`` seen by torchode: states ``(batch, features)``, times ``(batch,)`` or a scalar.

    Reshapes the flat state to ``(-1, *sample_shape)`` (inside ``vmap`` a single sample becomes a
    batch of one) and a per-sample time to ``(batch, 1, ...)``; the output goes back to the flat
    shape. Its parameters are the wrapped field's own.
    """

    def __init__(self, field: nn.Module, sample_shape: tuple[int, ...]):
        super().__init__()
        self.field = field
        self.sample_shape = tuple(sample_shape)

    def forward(self, t, y):
        if t.ndim > 0:
            t = t.reshape(-1, *(1,) * len(self.sample_shape))
        if torch._C._functorch.is_functorch_wrapped_tensor(y):
            # a vmapped sample is a column slice of the augmented state: kernels such as group_norm
            # need it dense, which only a copy in contiguous format makes under vmap
            y = y.clone(memory_format=torch.contiguous_format)
        return self.field(t, y.reshape(-1, *self.sample_shape)).reshape(y.shape)


def make_grid_controller(torchode, grid: torch.Tensor):
    """torchode's fixed-step controller stepping from grid point to grid point of ``grid`` (1-D).

    The next step is ``next grid point - t``, so ``t`` lands on the grid points exactly (the
    difference and the sum are exact in floating point for an evenly spaced grid), in either
    direction of time (the backsolve adjoints walk the grid backwards).
    """

    class GridController(torchode.FixedStepController):
        def __init__(self, grid: torch.Tensor):
            super().__init__()
            self.grid = grid

        def adapt_step_size(self, t0, dt, y0, step_result, state, stats):
            t = t0 + dt
            if bool((dt >= 0).all()):
                index = torch.searchsorted(self.grid, t, right=True).clamp(max=len(self.grid) - 1)
            else:
                index = (torch.searchsorted(self.grid, t, right=False) - 1).clamp(min=0)
            return state.accept_all, self.grid[index] - t, state, None

    return GridController(grid)


def _check_status(torchode, solution) -> None:
    """Raise the typed failure of :mod:`neural_ode.errors` when torchode stopped short (its status follows the type)."""
    status = solution.status
    if bool((status == torchode.Status.SUCCESS.value).all()):
        return
    code = int(status.max())
    if code == torchode.Status.REACHED_MAX_STEPS.value:
        raise TooManySteps("max_num_steps exceeded (torchode status REACHED_MAX_STEPS)")
    if code == torchode.Status.REACHED_DT_MIN.value:
        raise StepSizeUnderflow("underflow in dt (torchode status REACHED_DT_MIN)")
    raise NonFiniteError(f"torchode stopped with status {code}: non-finite error norm or general error")


class TorchodeMethod(GradientMethod):
    """Base of the torchode methods: builds the term, step method and controller of a cell.

    After each solve, ``last_stats`` holds torchode's own statistics (``n_f_evals``,
    ``n_steps``, ``n_accepted`` per sample; the backsolve adjoints append their backward
    solves' statistics under ``"backsolve"`` when the backward pass runs).
    """

    library = "torchode"
    requires = "torchode"
    install = INSTALL_LINE
    supported_solvers = tuple(SOLVER_CLASSES)

    def __init__(self):
        self.last_stats: dict | None = None

    def parts(self, field, y0, t, *, solver, rtol, atol, options):
        """(torchode module, term, step method, controller, dt0) of a solve."""
        from neural_ode.solvers import SOLVERS

        self.check_solver(solver)
        torchode = load_torchode()
        term = torchode.ODETerm(FlatField(field, y0.shape[1:]))
        step_method = getattr(torchode, SOLVER_CLASSES[solver])(term=term)
        if SOLVERS[solver].adaptive:
            controller = torchode.IntegralController(atol=atol, rtol=rtol, term=term)
            dt0 = None
        else:
            grid = options["grid_constructor"](field, y0, t)
            controller = make_grid_controller(torchode, grid)
            dt0 = (grid[1] - grid[0]).expand(y0.shape[0]).contiguous()
        return torchode, term, step_method, controller, dt0

    def problem(self, torchode, y0, t):
        """The batched initial value problem: flat states, every sample evaluated at ``t``."""
        return torchode.InitialValueProblem(y0.reshape(y0.shape[0], -1), t_eval=t.expand(y0.shape[0], -1))

    def finish(self, torchode, solution, y0, t) -> torch.Tensor:
        """torchode's ``(batch, len(t), features)`` as odeint's ``(len(t), *y0.shape)``."""
        _check_status(torchode, solution)
        self.last_stats = solution.stats
        return solution.ys.transpose(0, 1).reshape(len(t), *y0.shape)


class TorchodeAutoDiffMethod(TorchodeMethod):
    name = "torchode"
    family = "direct"  # backpropagation through the solve: memory grows per evaluation
    memory_unit = "evaluation"
    description = "backpropagation through its solve (AutoDiffAdjoint), per-sample step sizes; memory O(NFE)"

    def solve(self, field, y0, t, *, solver, rtol, atol, options):
        torchode, term, step_method, controller, dt0 = self.parts(
            field, y0, t, solver=solver, rtol=rtol, atol=atol, options=options
        )
        adjoint = torchode.AutoDiffAdjoint(step_method, controller, max_steps=options.get("max_num_steps"))
        solution = adjoint.solve(self.problem(torchode, y0, t), term=term, dt0=dt0)
        return self.finish(torchode, solution, y0, t)


class TorchodeBacksolveMethod(TorchodeMethod):
    name = "torchode-backsolve"
    family = "adjoint"  # a backward solve of the adjoint system: memory flat in depth
    description = (
        "adjoint by backward solve of the augmented system (BacksolveAdjoint), per-sample "
        "step sizes and parameter adjoints (batch x params); memory O(1) in depth"
    )
    adjoint_class = "BacksolveAdjoint"

    def solve(self, field, y0, t, *, solver, rtol, atol, options):
        torchode, term, step_method, controller, dt0 = self.parts(
            field, y0, t, solver=solver, rtol=rtol, atol=atol, options=options
        )
        adjoint = getattr(torchode, self.adjoint_class)(term, step_method, controller)
        solution = adjoint.solve(self.problem(torchode, y0, t), dt0=dt0)
        return self.finish(torchode, solution, y0, t)


class TorchodeJointBacksolveMethod(TorchodeBacksolveMethod):
    name = "torchode-joint-backsolve"
    description = (
        "adjoint by backward solve, the batch as one joint problem (JointBacksolveAdjoint, "
        "one step size as torchdiffeq); memory O(1) in depth"
    )
    adjoint_class = "JointBacksolveAdjoint"

    def parts(self, field, y0, t, **kwargs):
        torchode, term, step_method, controller, dt0 = super().parts(field, y0, t, **kwargs)
        # the joint problem is one instance: its initial step is one value
        return torchode, term, step_method, controller, None if dt0 is None else dt0[:1]
