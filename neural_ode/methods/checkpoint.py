"""``checkpoint``: direct backpropagation with gradient checkpointing of solver steps.

The N steps of a fixed-grid solve are cut into ``segments`` runs of consecutive steps; each
run goes through ``torch.utils.checkpoint.checkpoint(..., use_reentrant=False)``, which keeps
only the run's input state during the forward pass and re-runs the run's steps, graph on,
when the backward pass reaches it. With the default of ceil(sqrt(N)) segments the memory is
about sqrt(N) boundary states plus one segment's graph of sqrt(N) steps: O(sqrt(N)) instead of
direct backpropagation's O(N), for one extra forward evaluation of every step (the backward
pass evaluates f as often as the forward did). The gradient is exactly direct
backpropagation's: the recomputed steps are the same arithmetic.

``preserve_rng_state=False``: the vector fields are deterministic, so there is no random state to
restore when a segment is re-run; left True, ``torch.utils.checkpoint`` keeps a copy of the CPU RNG
state (5,056 bytes) per segment as a plain attribute, which the saved-tensor hooks behind
``saved_bytes`` cannot see (an allocator count was 1.5-3x the reported figure at small states).
A vector field that draws random numbers would need it True.

Fixed-grid solvers only: an adaptive solve does not know its number of steps in advance, and
re-running accepted steps from stored states is what ``aca`` does.
"""

from __future__ import annotations

import itertools
import math

import torch
from torch.utils.checkpoint import checkpoint

from neural_ode.integrators import FIXED_TABLEAUX, Stepper, fixed_grid
from neural_ode.methods.base import GradientMethod


def segment_bounds(steps: int, segments: int, cuts=()) -> list[tuple[int, int]]:
    """``(start, stop)`` step ranges: ``segments`` near-equal runs, also cut at ``cuts``."""
    segments = max(1, min(segments, steps))
    edges = {round(i * steps / segments) for i in range(segments + 1)} | {c for c in cuts if 0 < c < steps}
    edges = sorted(edges | {0, steps})
    return list(itertools.pairwise(edges))


class CheckpointMethod(GradientMethod):
    """Direct backpropagation with ``segments`` checkpointed runs of steps (None: ceil(sqrt(N)))."""

    name = "checkpoint"
    family = "checkpointing"
    memory_unit = "checkpoint"
    description = (
        "backpropagation through the solver with checkpointed runs of steps (torch.utils.checkpoint); memory O(sqrt(N))"
    )
    supported_solvers = tuple(FIXED_TABLEAUX)

    def __init__(self, segments: int | None = None):
        if segments is not None and (not isinstance(segments, int) or segments < 1):
            raise ValueError(f"segments must be a positive integer or None, got {segments!r}")
        self.segments = segments

    def solve(self, field, y0, t, *, solver, rtol, atol, options):
        self.check_solver(solver)
        stepper = Stepper(FIXED_TABLEAUX[solver])
        grid = fixed_grid(field, y0, t, options, stepper)
        segments = self.segments or math.ceil(math.sqrt(grid.steps))

        def run(y, start, stop):
            for n in range(start, stop):
                y = stepper.step(field, grid.stage_times(n), y, grid.dts[n])
            return y

        states, y = {0: y0}, y0
        for start, stop in segment_bounds(grid.steps, segments, grid.outputs):
            y = checkpoint(run, y, start, stop, use_reentrant=False, preserve_rng_state=False)
            states[stop] = y
        return torch.stack([states[index] for index in grid.outputs])
