"""The lean core's adaptive solver: an embedded Runge-Kutta pair with its own step-size control.

It integrates a *tuple* of tensors, so the same code solves the plain ODE (a 1-tuple) and the
adjoint's augmented system. Components split in two kinds:

- dynamic components (the first ``dynamic`` ones) feed the vector field, so each stage needs
  their stage values;
- quadrature components (the rest) only accumulate what the vector field returns (the
  adjoint's dL/dtheta): no stage values are formed for them, only the final weighted sum.

Step-size control follows Hairer, Norsett & Wanner (Solving ODEs I, II.4), as torchdiffeq does:

- error ratio r = max over components of RMS(err / (atol + rtol * max(|y|, |y_new|)));
  a step is accepted when r <= 1;
- next step: dt * min(ifactor, max(safety * r^(-1/order), dfactor)), never shrinking after an
  accepted step;
- first step from the two-evaluation estimate of Hairer et al.;
- each interval ends exactly on its end time (the last step is shortened; no interpolation);
- failures raise the typed exceptions of :mod:`neural_ode.errors` (:class:`~neural_ode.errors.StepSizeUnderflow`,
  :class:`~neural_ode.errors.TooManySteps`, :class:`~neural_ode.errors.NonFiniteError`), whose
  status :func:`neural_ode.errors.classify` reads from the type.

Times and step sizes are Python floats (float64); the vector field receives 0-dim tensors of
the state's dtype, as with torchdiffeq.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import torch

from neural_ode.errors import NonFiniteError, StepSizeUnderflow, TooManySteps
from neural_ode.integrators.codegen import compiled, sum_lines
from neural_ode.integrators.tableaux import ButcherTableau, terms

State = tuple[torch.Tensor, ...]
VectorField = Callable[[torch.Tensor, State], State]

#: torchdiffeq options an adaptive solve understands
ADAPTIVE_OPTIONS = ("max_num_steps", "first_step", "safety", "ifactor", "dfactor")


def rms(tensor: torch.Tensor) -> float:
    """Root mean square of a tensor, as a Python float: its 2-norm over sqrt(numel), one reduction."""
    count = tensor.numel()
    return float(torch.linalg.vector_norm(tensor)) / math.sqrt(count) if count else 0.0


@dataclass
class AcceptedStep:
    """One accepted step: from ``t`` to ``t_next`` (``dt`` signed), starting at ``state``."""

    t: float
    t_next: float
    dt: float
    state: State


@dataclass
class AdaptiveStats:
    """What a solve did: accepted and rejected steps, and the accepted steps themselves if kept."""

    accepted: int = 0
    rejected: int = 0
    steps: list[AcceptedStep] = field(default_factory=list)


def _stages_source(rows, errors, components: int, dynamic: int) -> str:
    """Python source of one step's stages for a tableau and a state of ``components`` tensors.

    Straight-line code: per stage and dynamic component ``torch.add(y_m, k_j[m], alpha=a * dt)``
    then ``add_`` for the other terms (in place on a fresh tensor: autograd-safe), in the tableau's
    order, with Python-float alphas ``a * dt``; quadrature components enter the stages
    unchanged; the error estimate starts with ``k_j[m] * (e * dt)``, under no_grad.
    """
    last = len(rows) - 1

    def combine(target, start, terms, m):
        return sum_lines(target, start, f"k{{}}[{m}]", terms, "dt")

    lines = ["def stages(vf, times, y, k0, dt, error):"]
    for i in range(1, last):
        for m in range(dynamic):
            lines += combine(f"s{i}_{m}", f"y[{m}]", rows[i], m)
        state = ", ".join([f"s{i}_{m}" for m in range(dynamic)] + [f"y[{m}]" for m in range(dynamic, components)])
        lines.append(f"    k{i} = vf(times[{i - 1}], ({state},))")
    for m in range(components):
        lines += combine(f"n{m}", f"y[{m}]", rows[last], m)
    new = ", ".join(f"n{m}" for m in range(components))
    lines += ["    if not error:", f"        return ({new},), None, None"]
    lines.append(f"    k{last} = vf(times[{last - 1}], ({new},))")
    lines.append("    with torch.no_grad():")
    for m in range(components):
        lines += ["    " + line for line in combine(f"e{m}", None, errors, m)]
    lines.append(f"    return ({new},), k{last}, [{', '.join(f'e{m}' for m in range(components))}]")
    return "\n".join(lines) + "\n"


_GENERATED: dict[tuple, Callable] = {}


def _generate_stages(rows, errors, components: int, dynamic: int) -> Callable:
    """The function :func:`_stages_source` writes, compiled once per process for each set of arguments."""
    key = (tuple(rows), errors, components, dynamic)
    if key not in _GENERATED:
        _GENERATED[key] = compiled(_stages_source(rows, errors, components, dynamic), "<lean stages>", "stages")
    return _GENERATED[key]


class AdaptiveSolver:
    """Integrate ``d(state)/dt = vf(t, state)`` with an embedded pair (``tableau.e`` not None).

    Args:
        vf: the vector field on tuples, ``vf(t_tensor, state) -> derivatives``.
        tableau: an embedded, first-same-as-last tableau (one more stage than ``b``, whose
            ``a`` row equals ``b``), e.g. ``DOPRI5``.
        rtol, atol: tolerances of the error control.
        dynamic: how many leading components feed ``vf`` (the rest are quadratures).
        norm_components: which components the error control looks at (default: all).
        max_num_steps: cap on accepted + rejected steps over the whole solve.
        record: keep every accepted step (start time, step, start state) in ``stats.steps``.
    """

    def __init__(
        self,
        vf: VectorField,
        tableau: ButcherTableau,
        *,
        rtol: float,
        atol: float,
        dynamic: int = 1,
        norm_components: Sequence[int] | None = None,
        max_num_steps: int = 2**31 - 1,
        first_step: float | None = None,
        safety: float = 0.9,
        ifactor: float = 10.0,
        dfactor: float = 0.2,
        record: bool = False,
    ):
        if tableau.e is None or len(tableau.c) != len(tableau.b) + 1 or tuple(tableau.a[-1]) != tuple(tableau.b):
            raise ValueError(f"tableau {tableau.name} is not an embedded first-same-as-last pair")
        self.vf, self.tableau = vf, tableau
        self.rtol, self.atol = float(rtol), float(atol)
        self.dynamic = dynamic
        self.norm_components = norm_components
        self.max_num_steps = int(max_num_steps)
        self.first_step = first_step
        self.safety, self.ifactor, self.dfactor = safety, ifactor, dfactor
        self.record = record
        self.stats = AdaptiveStats()
        self.rows = [terms(row) for row in tableau.a]
        self.errors = terms(tableau.e)
        self._generated: dict[int, Callable] = {}
        if not all(self.rows[1:]) or not self.errors:
            raise ValueError(f"tableau {tableau.name}: every stage after the first needs a non-zero coefficient")

    # -- helpers ---------------------------------------------------------------------------
    def _time(self, t: float, like: torch.Tensor) -> torch.Tensor:
        return torch.tensor(t, dtype=like.dtype, device=like.device)

    def _norm(self, tensors: Sequence[torch.Tensor]) -> float:
        indices = range(len(tensors)) if self.norm_components is None else self.norm_components
        return max((rms(tensors[i]) for i in indices), default=0.0)

    def _error_ratio(self, error: Sequence[torch.Tensor], y: State, y_new: State) -> float:
        """max over components of RMS(err / (atol + rtol * max(|y|, |y_new|))), one float.

        Works in place on the error estimate (a fresh no-grad tensor) and its scale: per
        component abs, abs, maximum, then mul_, add_, div_ in place and one 2-norm (seven
        operators; :func:`rms`'s arithmetic).
        """
        indices = range(len(error)) if self.norm_components is None else self.norm_components
        worst = 0.0
        with torch.no_grad():
            for i in indices:
                e = error[i]
                if not e.numel():
                    continue
                scale = torch.maximum(y[i].abs(), y_new[i].abs()).mul_(self.rtol).add_(self.atol)
                value = rms(e.div_(scale))
                if math.isnan(value):
                    return value  # the caller raises NonFiniteError
                worst = max(worst, value)
        return worst

    def _stage_times(self, t: float, t_next: float, step: float, like: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """The time tensors of stages 1.. of a step: one tensor made, then 0-dim views of it.

        The values are the Python floats ``t + c_i * step`` (``t_next`` where ``c_i == 1``)
        rounded once to the state's dtype, as a tensor per stage would have them.
        """
        values = [t_next if c == 1.0 else t + c * step for c in self.tableau.c[1:]]
        return torch.tensor(values, dtype=like.dtype, device=like.device).unbind(0)

    def stages(self, t: float, t_next: float, step: float, y: State, f0: State, *, error: bool = True):
        """One step's stages from ``(t, y)`` with ``f0 = vf(t, y)``: the new state, and with
        ``error`` also f at the new state (first same as last) and the error estimate.

        The solution needs ``len(b) - 1`` evaluations beyond ``f0``; the error one more. Runs
        straight-line code generated once per tableau and number of components
        (:func:`_stages_source`).
        """
        stages = self._generated.get(len(y))
        if stages is None:  # once per solver and state length: no per-step key of the tableau
            stages = self._generated[len(y)] = _generate_stages(self.rows, self.errors, len(y), self.dynamic)
        return stages(self.vf, self._stage_times(t, t_next, step, y[0]), y, f0, step, error)

    def attempt(self, t: float, t_next: float, step: float, y: State, f0: State) -> tuple[State, State, float]:
        """One attempted step: the new state, f there, and the error ratio (accepted when <= 1).

        The error estimate is freed here, before the next attempt runs (the peak holds one
        attempt, not two). What a compiled step replaces (:mod:`~neural_ode.integrators.compiled`).
        """
        y_new, f_new, error = self.stages(t, t_next, step, y, f0)
        return y_new, f_new, self._error_ratio(error, y, y_new)

    def step_solution(self, t: float, t_next: float, step: float, y: State) -> State:
        """Re-run an accepted step's solution from ``y`` (``f0`` evaluated here, not reused):
        ``len(b)`` evaluations, the same arithmetic as the solve. What the adaptive checkpoint
        adjoint backpropagates through."""
        f0 = self.vf(self._time(t, y[0]), y)
        return self.stages(t, t_next, step, y, f0, error=False)[0]

    def initial_step(self, t0: float, y0: State, f0: State, direction: float) -> float:
        """Hairer, Norsett & Wanner's starting step (one extra evaluation of ``vf``)."""
        with torch.no_grad():
            scale = [self.atol + y.abs() * self.rtol for y in y0]
            d0 = self._norm([y / s for y, s in zip(y0, scale)])
            d1 = self._norm([f / s for f, s in zip(f0, scale)])
            h0 = 1e-6 if d0 < 1e-5 or d1 < 1e-5 else 0.01 * d0 / d1
        y1 = tuple(torch.add(y, f, alpha=direction * h0) for y, f in zip(y0[: self.dynamic], f0))
        f1 = self.vf(self._time(t0 + direction * h0, y0[0]), y1 + tuple(y0[self.dynamic :]))
        with torch.no_grad():
            d2 = self._norm([(b - a) / s for a, b, s in zip(f0, f1, scale)]) / h0
        if d1 <= 1e-15 and d2 <= 1e-15:
            h1 = max(1e-6, h0 * 1e-3)
        else:
            h1 = (0.01 / max(d1, d2)) ** (1.0 / self.tableau.order)
        return min(100 * h0, h1)

    # -- solving ---------------------------------------------------------------------------
    def solve(self, y0: State, times: Sequence[float]) -> list[State]:
        """The states at ``times`` (monotonic; ``times[0]`` is where ``y0`` holds)."""
        states = [tuple(y0)]
        f0 = dt = None
        for t_start, t_end in itertools.pairwise(times):
            y, f0, dt = self.solve_interval(states[-1], t_start, t_end, f0=f0, dt=dt)
            states.append(y)
        return states

    def solve_interval(
        self, y0: State, t0: float, t1: float, *, f0: State | None = None, dt: float | None = None
    ) -> tuple[State, State, float | None]:
        """Integrate from ``t0`` to ``t1`` (either direction); the end state, f there, next step."""
        if t1 == t0:
            return tuple(y0), f0 if f0 is not None else self.vf(self._time(t0, y0[0]), tuple(y0)), dt
        direction = 1.0 if t1 > t0 else -1.0
        y = tuple(y0)
        if f0 is None:
            f0 = self.vf(self._time(t0, y[0]), y)
        if dt is None:
            dt = self.first_step if self.first_step is not None else self.initial_step(t0, y, f0, direction)
        t = t0
        while direction * (t1 - t) > 0:
            if self.stats.accepted + self.stats.rejected >= self.max_num_steps:
                raise TooManySteps(
                    f"max_num_steps exceeded ({self.stats.accepted + self.stats.rejected}>={self.max_num_steps})"
                )
            if not math.isfinite(dt):
                raise NonFiniteError(f"non-finite step size {dt} at t={t}")
            remaining = abs(t1 - t)
            h = remaining if dt >= remaining * (1 - 1e-12) else dt  # land exactly on t1
            t_next = t1 if h == remaining else t + direction * h
            if t_next == t or h <= 0:
                raise StepSizeUnderflow(f"underflow in dt {h}")
            step = direction * h
            y_new, f_new, ratio = self.attempt(t, t_next, step, y, f0)
            if not math.isfinite(ratio):
                raise NonFiniteError(f"non-finite values in the state or its error estimate at t={t}")
            if ratio <= 1.0:
                if self.record:
                    self.stats.steps.append(AcceptedStep(t, t_next, step, y))
                self.stats.accepted += 1
                t, y, f0 = t_next, y_new, f_new
                shrink = 1.0
            else:
                self.stats.rejected += 1
                shrink = self.dfactor
            y_new = f_new = None  # a rejected attempt's state and stages go before the retry
            if ratio == 0.0:
                factor = self.ifactor
            else:
                factor = min(self.ifactor, max(self.safety * ratio ** (-1.0 / self.tableau.order), shrink))
            dt = h * factor
        return y, f0, dt
