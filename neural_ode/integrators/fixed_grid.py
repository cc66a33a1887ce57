"""The lean fixed-grid core: explicit Runge-Kutta steps on a given time grid, a plain loop.

Everything that does not change from step to step is computed once before the loop: the
non-zero tableau coefficients, the step sizes (as Python floats, so they enter the state update
as the ``alpha`` of one fused ``add`` instead of a tensor multiplication), and the stage times
(one vectorised computation, then views). Per step there remain the vector-field evaluations
and one ``add`` per non-zero tableau coefficient; no torchdiffeq machinery runs.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import nn

from neural_ode.integrators.codegen import compiled, sum_lines
from neural_ode.integrators.tableaux import ButcherTableau, terms

#: torchdiffeq options a fixed-grid solve understands
FIXED_GRID_OPTIONS = ("grid_constructor", "step_size")


def combine(y: torch.Tensor, k: Sequence[torch.Tensor], terms: Sequence[tuple[int, float]], dt: float, out=None):
    """``y + dt * sum(coef * k[j] for j, coef in terms)``: one fused add per term.

    ``out`` (no-grad use only) receives the result in place of a new tensor.
    """
    j, coef = terms[0]
    result = torch.add(y, k[j], alpha=coef * dt, out=out) if out is not None else torch.add(y, k[j], alpha=coef * dt)
    for j, coef in terms[1:]:
        result.add_(k[j], alpha=coef * dt)
    return result


def _step_source(rows, weights) -> str:
    """Python source of one straight-line step for a tableau (no loops, no lists, no lookups).

    The arithmetic is exactly :func:`combine`'s (:func:`~neural_ode.integrators.codegen.sum_lines`):
    per stage ``torch.add(y, k_j, alpha=coef * dt)`` then ``add_`` for the remaining terms (same
    operations, same order, same Python-float alphas ``coef * dt``), so results, NFE and autograd
    graphs are those of the loop it replaces.
    """
    lines = ["def step(field, times, y, dt, out=None):"]
    for i, row in enumerate(rows):
        if row:
            lines += sum_lines(f"s{i}", "y", "k{}", row, "dt")
            lines.append(f"    k{i} = field(times[{i}], s{i})")
        else:
            lines.append(f"    k{i} = field(times[{i}], y)")
    lines.append("    if out is None:")
    lines += ["    " + line for line in sum_lines("r", "y", "k{}", weights, "dt")]
    lines.append("    else:")
    lines += ["    " + line for line in sum_lines("r", "y", "k{}", weights, "dt", ", out=out")]
    lines.append("    return r")
    return "\n".join(lines) + "\n"


class Stepper:
    """A Butcher tableau compiled for stepping: its non-zero coefficients, and a generated step.

    :meth:`step` takes one step of the method; it works with and without autograd (the graph
    of a step is exactly the one direct backpropagation through the same arithmetic builds).
    It is generated once per tableau as straight-line Python (see :func:`_step_source`): per
    step only the vector-field calls and one fused ``add``/``add_`` per non-zero coefficient run,
    with no Python loop, list or generator around them.
    """

    def __init__(self, tableau: ButcherTableau):
        self.tableau = tableau
        self.c = tableau.c[: tableau.stages]
        self.rows = [terms(row) for row in tableau.a[: tableau.stages]]
        self.weights = terms(tableau.b)
        self.source = _step_source(self.rows, self.weights)
        #: ``step(field, times, y, dt, out=None)``: one step from ``y`` at ``times[0]`` over ``dt``
        #: (``times[i]`` is stage i's time tensor); ``out`` (no-grad use only) receives the result
        self.step = compiled(self.source, f"<lean step {tableau.name}>", "step")

    @property
    def evals_per_step(self) -> int:
        """Vector-field evaluations per step."""
        return len(self.rows)


class FixedGrid:
    """A time grid with what stepping along it needs, computed once, in memory O(1) beyond the grid.

    Attributes:
        times: the grid points, a 1-D tensor (strictly increasing), in the dtype of ``t``.
        points: the grid points as 0-dim views of ``times`` (no storage of their own).
        dts: step sizes ``times[n+1] - times[n]`` as Python floats.
        outputs: for each requested output time, the index of its grid point.

    Interior stage times are made for ``CHUNK`` steps at a time (one vectorised operation) rather
    than for the whole grid, so that the memory they take does not grow with the number of
    steps (what the adjoint's O(1) promises) while their cost per step stays negligible.
    """

    #: steps whose interior stage times are made at once
    CHUNK = 64

    def __init__(self, times: torch.Tensor, c: Sequence[float], outputs: list[int]):
        self.times = times
        self.points = times.unbind(0)
        self.dts = (times[1:] - times[:-1]).tolist()
        self.outputs = outputs
        # stage i is at the step's start (c=0), its end (c=1), or an interior fraction
        self.c = tuple(c)
        interior = list(dict.fromkeys(ci for ci in c if ci not in (0.0, 1.0)))
        self._interior = torch.tensor(interior, dtype=times.dtype, device=times.device) if interior else None
        self._slot = {ci: k for k, ci in enumerate(interior)}
        self._cache: dict[bool, tuple[int, tuple[torch.Tensor, ...]]] = {}
        self._ends_only = self.c in ((0.0,), (0.0, 1.0))

    @property
    def steps(self) -> int:
        """Number of steps of the grid."""
        return len(self.dts)

    def stage_times(self, n: int) -> tuple[torch.Tensor, ...]:
        """Time tensors of the stages of step n, walked forward: ``times[n] + c_i * dts[n]``."""
        return self._stages(n, reverse=False)

    def reverse_stage_times(self, n: int) -> tuple[torch.Tensor, ...]:
        """Time tensors of the stages of step n walked backwards: ``times[n+1] - c_i * dts[n]``."""
        return self._stages(n, reverse=True)

    def walk(self):
        """``(stage times, dt)`` of every step in order: :meth:`stage_times` without its per-step lookups."""
        if self._interior is None and self._ends_only:
            points = self.points
            if len(self.c) == 1:
                return zip(zip(points), self.dts)
            return zip(zip(points, points[1:]), self.dts)
        return ((self._stages(n, reverse=False), dt) for n, dt in enumerate(self.dts))

    def _stages(self, n: int, reverse: bool) -> tuple[torch.Tensor, ...]:
        start, end = (self.points[n + 1], self.points[n]) if reverse else (self.points[n], self.points[n + 1])
        if self._interior is None:
            if self._ends_only:  # (start,), (start, end), ...: the common fixed-grid methods
                return (start, end)[: len(self.c)]
            return tuple(start if ci == 0.0 else end for ci in self.c)
        chunk = n // self.CHUNK
        cached = self._cache.get(reverse)
        if cached is None or cached[0] != chunk:
            lo, hi = chunk * self.CHUNK, min((chunk + 1) * self.CHUNK, self.steps)
            left, right = self.times[lo:hi], self.times[lo + 1 : hi + 1]
            starts, steps = (right, left - right) if reverse else (left, right - left)
            inner = starts[:, None] + steps[:, None] * self._interior[None, :]
            cached = self._cache[reverse] = (chunk, inner.reshape(-1).unbind(0))
        inner, base = cached[1], (n - chunk * self.CHUNK) * len(self._slot)
        return tuple(start if ci == 0.0 else end if ci == 1.0 else inner[base + self._slot[ci]] for ci in self.c)


def grid_points(field: nn.Module, y0: torch.Tensor, t: torch.Tensor, options: dict) -> torch.Tensor:
    """The grid torchdiffeq's fixed-grid solvers would walk for these options.

    ``grid_constructor(field, y0, t)`` when given; else ``step_size`` (torchdiffeq's rule: equal
    steps from ``t[0]``, the last point moved onto ``t[-1]``); else the output times themselves.
    """
    unknown = sorted(set(options) - set(FIXED_GRID_OPTIONS))
    if unknown:
        raise ValueError(f"unknown fixed-grid options {unknown}; allowed: {', '.join(FIXED_GRID_OPTIONS)}")
    if "grid_constructor" in options and "step_size" in options:
        raise ValueError("give grid_constructor or step_size, not both")
    if "grid_constructor" in options:
        return options["grid_constructor"](field, y0, t)
    if "step_size" in options:
        step = float(options["step_size"])
        start, end = float(t[0]), float(t[-1])
        count = math.ceil((end - start) / step + 1)
        grid = torch.arange(count, dtype=t.dtype, device=t.device) * step + start
        grid[-1] = t[-1]
        return grid
    return t


def make_grid(times: torch.Tensor, t: torch.Tensor, c: Sequence[float]) -> FixedGrid:
    """The :class:`FixedGrid` over ``times`` for stage fractions ``c``, with outputs at ``t``.

    Every output time must be a grid point (within rounding): the lean core steps from output
    to output and does not interpolate.
    """
    if times.ndim != 1 or len(times) < 2:
        raise ValueError("a fixed grid needs at least two points")
    if not bool((times[1:] > times[:-1]).all()):
        raise ValueError("the fixed grid must be strictly increasing (integrate forward in time)")
    if len(t) > 1 and not bool((t[1:] > t[:-1]).all()):
        raise ValueError("output times must be strictly increasing")
    outputs = []
    tolerance = 8 * torch.finfo(times.dtype).eps * max(1.0, float(times.abs().max()))
    for value in t.tolist():
        index = int(torch.argmin((times - value).abs()))
        if abs(float(times[index]) - value) > tolerance:
            raise ValueError(
                f"output time {value} is not a point of the fixed grid; the lean core does not interpolate"
            )
        outputs.append(index)
    if outputs[0] != 0 or outputs[-1] != len(times) - 1:
        raise ValueError("the first and last output times must be the ends of the fixed grid")
    return FixedGrid(times, c, outputs)


def integrate(field: nn.Module, y0: torch.Tensor, grid: FixedGrid, stepper: Stepper, *, keep: str = "outputs"):
    """Walk ``grid`` from ``y0``; the states at the output times, or at every grid point.

    Args:
        keep: ``"outputs"`` -> shape ``(len(outputs), *y0.shape)``; ``"all"`` -> shape
            ``(steps + 1, *y0.shape)``.

    Without autograd the states are written into one preallocated tensor; with autograd the
    result is differentiable (direct backpropagation through the steps).
    """
    if keep not in ("outputs", "all"):
        raise ValueError(f"keep must be 'outputs' or 'all', got {keep!r}")
    wanted = list(range(grid.steps + 1)) if keep == "all" else grid.outputs
    step = stepper.step
    if torch.is_grad_enabled():
        kept, y = [], y0
        slot = {index: position for position, index in enumerate(wanted)}
        if 0 in slot:
            kept.append(y0)
        for n, (times, dt) in enumerate(grid.walk(), start=1):
            y = step(field, times, y, dt)
            if n in slot:
                kept.append(y)
        return torch.stack(kept)
    states = torch.empty((len(wanted), *y0.shape), dtype=y0.dtype, device=y0.device)
    views = states.unbind(0)
    views[0].copy_(y0)
    if keep == "all":
        targets = views[1:]
    else:
        position = {index: views[k] for k, index in enumerate(wanted)}
        targets = [position.get(n) for n in range(1, grid.steps + 1)]
    y = views[0] if keep == "all" else y0
    for (times, dt), out in zip(grid.walk(), targets):
        y = step(field, times, y, dt, out=out)
    return states
