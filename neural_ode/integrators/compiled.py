"""Optional ``torch.compile``-d steps for the lean core (no-grad solves): fixed-grid and adaptive.

The eager step (:class:`~neural_ode.integrators.fixed_grid.Stepper`) takes the step size as a
Python float (the ``alpha`` of a fused ``add``). Under ``torch.compile`` a Python float is a
constant of the graph, so every distinct step size would compile anew; here the step sizes are
0-dim tensors (views of one tensor made before the loop) and the stage updates are plain tensor
arithmetic that the compiler fuses with the vector field into one graph per step.

Results agree with the eager core to rounding, not to the bit (the compiler reorders the
arithmetic); the gradient methods keep the eager core. Compilation happens on the first call
and is slow (tens of seconds on CPU): time it apart from the solve.

The adaptive solver's compiled step (:class:`CompiledAdaptiveSolver`) compiles one *attempt*:
the stages with the vector field, the new state, the error estimate and the error ratio, one
graph per tableau. Its time values (start, step, end) come in as one float64 tensor, so a new
step size is new data, not a new graph; the step-size control (accept or reject, the next step)
stays the eager solver's, in Python, and reads the ratio back once per attempt (on a GPU that is
one synchronisation per attempt, as in the eager solver).
"""

from __future__ import annotations

import torch
from torch import nn

from neural_ode.integrators.adaptive import AdaptiveSolver, State
from neural_ode.integrators.fixed_grid import FixedGrid, Stepper
from neural_ode.integrators.tableaux import ButcherTableau, terms


def weighted(k, terms):
    """``sum(coef * k[j])`` over a tableau row's non-zero ``terms`` (traced by the compiler)."""
    return sum(coef * k[j] for j, coef in terms)


def tensor_step(stepper: Stepper):
    """``step(field, times, y, dt)`` with ``dt`` a 0-dim tensor: the stepper's arithmetic as tensor ops."""
    rows, weights = stepper.rows, stepper.weights

    def step(field, times, y, dt):
        k = []
        for i, row in enumerate(rows):
            k.append(field(times[i], y + dt * weighted(k, row) if row else y))
        return y + dt * weighted(k, weights)

    return step


#: Inductor's options for the lean core's compiled steps: a C++ wrapper around the kernels (the
#: Python wrapper's per-kernel calls cost as much as a small field's evaluations: a compiled dopri5
#: attempt on the 2-50-2 MLP took 67 us with the C++ wrapper, 88 us with the Python one, and its
#: 6 evaluations 128 us eagerly; timeit, back to back, 1 thread)
INDUCTOR_OPTIONS = {"cpp_wrapper": True}


def compile_step(stepper: Stepper, **compile_options):
    """:func:`tensor_step` under ``torch.compile`` (``dynamic=False`` and :data:`INDUCTOR_OPTIONS`
    unless given)."""
    compile_options.setdefault("dynamic", False)
    compile_options.setdefault("options", dict(INDUCTOR_OPTIONS))
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


def tensor_attempt(tableau: ButcherTableau):
    """``attempt(field, times, y, k0, tolerances) -> (y_new, k_new, ratio)``: one attempted step
    of an embedded first-same-as-last pair as tensor operations (what :func:`compile_attempt`
    compiles).

    ``times`` = float64 ``[t, step, t_next]``; ``tolerances`` = float64 ``[rtol, atol]``; ``k0`` =
    ``field(t, y)``. Stage i's time is ``t + c_i * step`` in float64, then the state's dtype (as the
    eager solver rounds its Python floats), the last stage's is ``t_next``; ``ratio`` (0-dim) is
    RMS(error / (atol + rtol * max(|y|, |y_new|))), the eager solver's error ratio to rounding.
    """
    rows, errors = [terms(row) for row in tableau.a], terms(tableau.e)
    c, last = tableau.c, len(rows) - 1

    def attempt(field, times, y, k0, tolerances):
        dt = times[1].to(y.dtype)
        k = [k0]
        for i in range(1, last):
            k.append(field((times[0] + c[i] * times[1]).to(y.dtype), y + dt * weighted(k, rows[i])))
        y_new = y + dt * weighted(k, rows[last])
        k_new = field(times[2].to(y.dtype), y_new)
        k.append(k_new)
        error = dt * weighted(k, errors)
        tolerance = tolerances.to(y.dtype)
        scale = tolerance[1] + tolerance[0] * torch.maximum(y.abs(), y_new.abs())
        return y_new, k_new, (error / scale).square().mean().sqrt()

    return attempt


_ATTEMPTS: dict[str, object] = {}


def compile_attempt(tableau: ButcherTableau, **compile_options):
    """:func:`tensor_attempt` under ``torch.compile`` (``dynamic=False`` and :data:`INDUCTOR_OPTIONS`
    unless given), once per process and tableau (Dynamo recompiles for another field, shape or
    dtype on its own)."""
    defaults = {"dynamic": False, "options": dict(INDUCTOR_OPTIONS)}
    if compile_options:
        return torch.compile(tensor_attempt(tableau), **{**defaults, **compile_options})
    if tableau.name not in _ATTEMPTS:
        _ATTEMPTS[tableau.name] = torch.compile(tensor_attempt(tableau), **defaults)
    return _ATTEMPTS[tableau.name]


class CompiledAdaptiveSolver(AdaptiveSolver):
    """The eager :class:`~neural_ode.integrators.adaptive.AdaptiveSolver` on one tensor
    (``dy/dt = field(t, y)``), whose attempts run through ``attempt`` (default: the compiled
    :func:`tensor_attempt` of the tableau; pass ``tensor_attempt(tableau)`` to run the same
    arithmetic eagerly). The first step, the control and the landing on output times are the
    eager solver's; solve with ``solve((y0,), times)`` as there. No grad: a forward solve only.
    """

    def __init__(self, field: nn.Module, tableau: ButcherTableau, *, attempt=None, **options):
        super().__init__(lambda t, state: (field(t, state[0]),), tableau, **options)
        self.field = field
        self._attempt = attempt if attempt is not None else compile_attempt(tableau)
        self._tolerances = torch.tensor([self.rtol, self.atol], dtype=torch.float64)

    def attempt(self, t: float, t_next: float, step: float, y: State, f0: State) -> tuple[State, State, float]:
        (state,), (slope,) = y, f0
        times = torch.tensor([t, step, t_next], dtype=torch.float64, device=state.device)
        if self._tolerances.device != state.device:
            self._tolerances = self._tolerances.to(state.device)
        y_new, f_new, ratio = self._attempt(self.field, times, state, slope, self._tolerances)
        ratio = float(ratio)
        return (y_new,), (f_new,), ratio if state.numel() else 0.0
