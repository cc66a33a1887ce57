"""The reference a cell's accuracy is measured against: a float64, tight-tolerance solve.

For each workload, size, horizon and seed, the final state and the parameter gradient are
computed once in float64 on the CPU with ``dopri8`` at rtol = atol = 1e-10, differentiated by
direct backpropagation, and cached in memory and on disk (``$NEURAL_ODE_BENCH_CACHE``, default
``~/.cache/neural-ode-bench``) so that cells measured in fresh processes share them.
"""

from __future__ import annotations

import functools
import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

import torch
import torchdiffeq

REFERENCE_SOLVER = "dopri8"
REFERENCE_TOL = 1e-10
#: bump when the reference computation changes, so stale cache files are not used
REFERENCE_VERSION = 1


@dataclass(frozen=True)
class Reference:
    """The float64 states at the output times (``(outputs, *state)``) and flattened parameter gradient."""

    solution: torch.Tensor
    gradient: torch.Tensor


def cache_dir() -> Path:
    """Where references are stored on disk."""
    return Path(os.environ.get("NEURAL_ODE_BENCH_CACHE", Path.home() / ".cache" / "neural-ode-bench"))


def flat_gradient(parameters) -> torch.Tensor:
    """All parameter gradients as one flat float64 CPU vector (zeros where a gradient is None)."""
    return torch.cat(
        [
            (p.grad if p.grad is not None else torch.zeros_like(p)).detach().reshape(-1).to("cpu", torch.float64)
            for p in parameters
        ]
    )


def relative_error(value: torch.Tensor, reference: torch.Tensor) -> float:
    """||value - reference||_2 / ||reference||_2, computed in float64."""
    value = value.detach().to("cpu", torch.float64).reshape(-1)
    reference = reference.reshape(-1)
    return float(torch.linalg.vector_norm(value - reference) / torch.linalg.vector_norm(reference))


def reference_for(config) -> Reference:
    """The reference of ``config``'s problem (depends on workload, sizes, horizon, outputs and seed only)."""
    return _reference(
        config.workload,
        config.batch,
        config.width,
        config.dim,
        float(config.horizon),
        config.seed,
        config.layers,
        config.outputs,
    )


@functools.cache
def _reference(
    workload: str, batch: int, width: int, dim: int, horizon: float, seed: int, layers: int = 1, outputs: int = 1
) -> Reference:
    key = f"v{REFERENCE_VERSION}-{workload}-b{batch}-w{width}-d{dim}-h{horizon!r}-s{seed}-torch{torch.__version__}"
    key += f"-l{layers}-o{outputs}"
    path = cache_dir() / f"reference-{hashlib.sha1(key.encode()).hexdigest()[:16]}.pt"
    if path.exists():
        try:
            stored = torch.load(path, weights_only=True)
            if stored.get("key") == key:
                return Reference(stored["solution"], stored["gradient"])
        except Exception:  # a corrupt or foreign file is recomputed, never trusted
            pass
    reference = _compute(workload, batch, width, dim, horizon, seed, layers, outputs)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        torch.save({"key": key, "solution": reference.solution, "gradient": reference.gradient}, tmp)
        os.replace(tmp, path)
    except OSError:
        pass  # an unwritable cache only costs recomputation
    return reference


def _compute(
    workload: str, batch: int, width: int, dim: int, horizon: float, seed: int, layers: int, outputs: int
) -> Reference:
    from neural_ode.config import CellConfig
    from neural_ode.workloads import workload_of

    config = CellConfig(
        workload=workload,
        batch=batch,
        width=width,
        dim=dim,
        horizon=horizon,
        seed=seed,
        layers=layers,
        outputs=outputs,
        dtype="float64",
    )
    problem = workload_of(workload).build(config, dtype=torch.float64, device="cpu")
    t, skip = problem.solve_times(config, torch.float64, "cpu")
    trajectory = torchdiffeq.odeint(
        problem.field, problem.initial_state(), t, method=REFERENCE_SOLVER, rtol=REFERENCE_TOL, atol=REFERENCE_TOL
    )[skip:]
    problem.loss(trajectory).backward()
    return Reference(trajectory.detach().clone(), flat_gradient(problem.parameters()))
