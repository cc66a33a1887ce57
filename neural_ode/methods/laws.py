"""Each gradient method's memory law: the unit its memory grows in, declared by the method.

A method's class names its law in ``memory_unit`` (:class:`neural_ode.methods.base.GradientMethod`);
the report fits each line of cells in that unit, extrapolates in it, and flags a line that leaves it
(:mod:`neural_ode.reporting.claims.growth`). Fitting every method in steps is wrong for checkpointing:
its memory grows like sqrt(N), and a straight line in steps fitted on 8-32 steps missed 64 and 128
steps by +22 % and +46 % (the audit, MEASURING.md).

* ``evaluation`` (``direct`` and the other backpropagation routes): every vector-field evaluation's
  graph is kept until the backward pass: memory = a + b x forward evaluations.
* ``step`` (``aca``): the state of every accepted step is stored, one step's graph is rebuilt at a
  time: memory = a + b x accepted steps (the steps of a fixed grid; for an adaptive solve the forward
  evaluations stand in, accepted steps are not recorded).
* ``checkpoint``: N steps in ceil(sqrt N) segments. What the graph holds when the forward pass ends
  (``saved_bytes``) is one state per segment: a + b x ceil(sqrt N). The peak comes when the backward
  pass re-runs one segment with its graph: (ceil(sqrt N) + 1) states plus the longest segment's
  graph, whose steps dominate: a + b x steps of the longest segment.
* ``flat`` (every adjoint): memory does not grow with depth; a line is fitted in steps (or forward
  evaluations) only to check that.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from neural_ode.methods import METHODS
from neural_ode.methods.checkpoint import segment_bounds


@dataclass(frozen=True)
class MemoryLaw:
    """How a method's memory grows with depth.

    Attributes:
        name: the value of a method's ``memory_unit`` (``flat`` for None).
        grows: False for a law that says memory stays flat.
        description: one line, for reports.
    """

    name: str
    grows: bool
    description: str

    def unit(self, metric: str, adaptive: bool) -> str:
        """The depth unit a line of ``metric`` is fitted in (a fits.csv ``depth_axis``)."""
        if adaptive:  # the depth of an adaptive line is its forward evaluations already
            return "forward NFE"
        if self.name == "evaluation":
            return "evaluations"
        if self.name == "checkpoint":
            return "segments" if metric == "saved_bytes" else "steps per segment"
        return "steps"

    def depth(self, metric: str, steps, nfe_forward, adaptive) -> np.ndarray:
        """Each cell's depth in :meth:`unit` (arrays of steps, forward NFE and adaptive flags)."""
        steps = np.asarray(steps, dtype=float)
        nfe = np.asarray(nfe_forward, dtype=float)
        adaptive = np.asarray(adaptive, dtype=bool)
        if self.name == "evaluation":
            return nfe
        if self.name == "checkpoint":
            segments = np.where(np.isfinite(steps), np.ceil(np.sqrt(steps)), np.nan)
            if metric == "saved_bytes":
                return segments
            return np.array([longest_segment(n) for n in steps], dtype=float)
        return np.where(adaptive, nfe, steps)


def longest_segment(steps: float) -> float:
    """Steps in the longest of checkpoint's ceil(sqrt N) segments of ``steps`` steps (NaN if unknown)."""
    if not math.isfinite(steps) or steps < 1:
        return math.nan
    n = int(steps)
    return float(max(stop - start for start, stop in segment_bounds(n, math.ceil(math.sqrt(n)))))


MEMORY_LAWS: dict[str, MemoryLaw] = {
    law.name: law
    for law in (
        MemoryLaw("evaluation", True, "grows per vector-field evaluation (each evaluation's graph is kept)"),
        MemoryLaw("step", True, "grows per accepted step (one stored state each)"),
        MemoryLaw(
            "checkpoint", True,
            "saved: one state per segment (ceil(sqrt N)); peak: plus the longest segment's graph (its steps)",
        ),
        MemoryLaw("flat", False, "flat in depth (a backward solve stores no per-step graph)"),
    )
}  # fmt: skip


def law_of(method) -> MemoryLaw | None:
    """The memory law ``method`` (a registered name) declares; None for a name not registered."""
    spec = METHODS.get(method) if isinstance(method, str) else None
    if spec is None:
        return None
    return MEMORY_LAWS[getattr(spec, "memory_unit", None) or "flat"]


__all__ = ["MEMORY_LAWS", "MemoryLaw", "law_of", "longest_segment"]
