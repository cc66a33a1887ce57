"""The round-off floor of a float32 cell, cached on disk beside the references.

The floor is the distance of the cell's float32 states and gradient from the same solve in float64:
same method, solver, grid or tolerances, landing, parameters and initial state (the workloads draw
them in float32 and upcast). Both solves share their truncation error (the same discrete method on
the same grid), so what separates them is float32 rounding: the part of the cell's error against the
reference that no target below it can be met without. An adaptive float64 solve chooses its own
steps at the same tolerances; they are the float32 solve's until the error estimate reaches float32
round-off, and then the distance includes a truncation difference too (an over-estimate of the floor).

Both solves are deterministic on the CPU at a given thread count, so the floor is computed once per
cell and kept in the reference cache (:func:`neural_ode.workloads.cache.disk_cached`), keyed by
everything it depends on: the cell's identity (every axis that changes what is measured), the
problem's reference key (sizes, seed, the fitted parameters or the user's factory source, torch's
version), torchdiffeq's version and the thread count. CUDA cells are not cached (their reductions
need not be deterministic).
"""

from __future__ import annotations

import importlib.metadata

import torch

from neural_ode.measuring.counting import CellTimeout, CountingField
from neural_ode.measuring.reference import cache_key, flat_gradient, relative_error

#: bump when the floor's definition changes: older cached floors are then computed again
ROUNDOFF_VERSION = 1


def floor_key(config) -> str:
    """The cache key of ``config``'s round-off floor (see the module docstring for what it covers)."""
    try:
        torchdiffeq = importlib.metadata.version("torchdiffeq")
    except importlib.metadata.PackageNotFoundError:
        torchdiffeq = "none"
    return (
        f"roundoff-v{ROUNDOFF_VERSION}|{cache_key(config)}|{config.key!r}|torchdiffeq{torchdiffeq}"
        f"|threads{torch.get_num_threads()}"
    )


def roundoff_floors(config, solution: torch.Tensor, gradient: torch.Tensor, deadline, build_pass):
    """(solution floor, gradient floor) of the float32 cell ``config``, relative errors; None when
    the float64 solve fails (an out-of-memory float64 solve is no reason to lose the cell).

    ``solution`` and ``gradient`` are the counted float32 run's (float64 copies); ``build_pass``
    builds the float64 pass. A cell timeout propagates.
    """

    def compute() -> torch.Tensor:
        wide = build_pass(config.replace(dtype="float64"))
        wide.zero_grad()
        wide.backward(wide.forward(CountingField(wide.problem.field, deadline)))
        wide_gradient = flat_gradient(wide.problem.parameters())
        wide_solution = wide.trajectory.detach().to("cpu", torch.float64)
        return torch.tensor(
            [relative_error(solution, wide_solution), relative_error(gradient, wide_gradient)], dtype=torch.float64
        )

    try:
        if torch.device(config.device).type == "cuda":
            floors = compute()
        else:
            from neural_ode.workloads.cache import disk_cached

            floors = disk_cached("roundoff", floor_key(config), compute)
    except CellTimeout:
        raise
    except Exception:
        return None
    return float(floors[0]), float(floors[1])
