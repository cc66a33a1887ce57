"""The reference a cell's accuracy is measured against: a float64, tight-tolerance solve.

For each workload, size, horizon, output count and seed, the states at the output times and the
parameter gradient are computed once in float64 on the CPU with torchdiffeq's ``dopri8`` at rtol = atol =
:data:`REFERENCE_TOL` (the conv block: :data:`WORKLOAD_TOLERANCES`), and cached in memory and on
disk (``$NEURAL_ODE_BENCH_CACHE``, default ``~/.cache/neural-ode-bench``) so that cells measured in
fresh processes share them.

What makes it a reference:

- it lands exactly on every output time (``step_t`` = the output times, in the forward and in
  the adjoint's backward solve), so its value there is a solver step's end, not an interpolant's;
- the gradient comes from a float64 adjoint solve at the same tolerance (``odeint_adjoint``): its
  memory does not grow with its own (large) step count, so the reference fits wherever the cell
  does (direct backpropagation through a 1e-12 dopri8 solve of the conv block does not);
- its own error is estimated: the same computation at :data:`CHECK_TOL` (100x looser) is
  compared with it, and the relative distances (``solution_error``, ``gradient_error``) are kept
  beside it and recorded in every cell (``ref_sol_rel_error``, ``ref_grad_rel_error``). They
  bound the error of the looser solve, so they over-state the reference's own error: a cell's
  error within :data:`RESOLUTION_FACTOR` x of them cannot be told from the reference's.

A cache file carries a checksum of its tensors and is checked against the expected shapes; a
corrupted or mismatched entry is recomputed with a warning, never trusted.
"""

from __future__ import annotations

import functools
import hashlib
import io
import os
import warnings
from dataclasses import dataclass
from pathlib import Path

import torch
import torchdiffeq

REFERENCE_SOLVER = "dopri8"
#: tolerance (rtol = atol) of the reference solve
REFERENCE_TOL = 1e-12
#: tolerance of the check solve that estimates the reference's own error
CHECK_TOL = 1e-10
#: workloads whose reference uses other (reference, check) tolerances: the conv block's ReLU kinks
#: make dopri8 at 1e-12 take minutes of CPU on two cores; its float32 errors are far above 1e-9
WORKLOAD_TOLERANCES = {"conv": (1e-9, 1e-7)}
#: a cell's error within this factor of the reference's own error is below its resolution
RESOLUTION_FACTOR = 100.0
#: bump when the reference computation changes, so stale cache files are not used
REFERENCE_VERSION = 3


@dataclass(frozen=True)
class Reference:
    """The float64 states at the output times and flattened parameter gradient of one problem, with their own error.

    Attributes:
        solution: the states at the output times, ``(outputs, *state)`` (float64, CPU).
        gradient: dL/dtheta, flattened (float64, CPU).
        solution_error, gradient_error: relative L2 distance of the same computation at
            :data:`CHECK_TOL` from this one: an upper estimate of this reference's own error.
    """

    solution: torch.Tensor
    gradient: torch.Tensor
    solution_error: float | None = None
    gradient_error: float | None = None


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


def below_resolution(error: float | None, reference_error: float | None) -> bool:
    """True when ``error`` is within :data:`RESOLUTION_FACTOR` x of the reference's own error."""
    if error is None or reference_error is None:
        return False
    return error <= RESOLUTION_FACTOR * reference_error


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


def _checksum(solution: torch.Tensor, gradient: torch.Tensor) -> str:
    digest = hashlib.sha256()
    for tensor in (solution, gradient):
        digest.update(str(tuple(tensor.shape)).encode())
        digest.update(tensor.contiguous().numpy().tobytes())
    return digest.hexdigest()


def _problem(workload: str, batch: int, width: int, dim: int, horizon: float, seed: int, layers: int, outputs: int):
    """The float64 CPU problem of these settings, and the times to solve at with how many to skip."""
    from neural_ode.config import CellConfig
    from neural_ode.workloads import workload_of

    config = CellConfig(
        workload=workload, batch=batch, width=width, dim=dim, horizon=horizon, seed=seed, layers=layers,
        outputs=outputs, dtype="float64",
    )  # fmt: skip
    problem = workload_of(workload).build(config, dtype=torch.float64, device="cpu")
    t, skip = problem.solve_times(config, torch.float64, "cpu")
    return problem, t, skip


def _expected_shapes(problem, t: torch.Tensor, skip: int) -> tuple[tuple[int, ...], int]:
    """(shape of the stored trajectory, number of parameters) of a problem's reference."""
    parameters = sum(p.numel() for p in problem.parameters())
    return (len(t) - skip, *problem.initial_state().shape), parameters


def _load(path: Path, key: str, shapes: tuple[tuple[int, ...], int]) -> Reference | None:
    """The cached reference at ``path``; None (with a warning) when it is absent, corrupt or stale."""
    if not path.exists():
        return None
    try:
        stored = torch.load(io.BytesIO(path.read_bytes()), weights_only=True)
        if stored.get("key") != key:
            return None  # a hash collision or an older layout: recompute quietly
        solution, gradient = stored["solution"], stored["gradient"]
        if stored.get("checksum") != _checksum(solution, gradient):
            raise ValueError("checksum mismatch")
        if tuple(solution.shape) != shapes[0] or gradient.numel() != shapes[1]:
            raise ValueError(
                f"shapes {tuple(solution.shape)}/{gradient.numel()} instead of {shapes[0]}/{shapes[1]} parameters"
            )
        return Reference(solution, gradient, stored.get("solution_error"), stored.get("gradient_error"))
    except Exception as exc:  # a corrupt or foreign file is recomputed, never trusted
        warnings.warn(f"reference cache entry {path} is unusable ({exc}); recomputing it", stacklevel=3)
        return None


@functools.cache
def _reference(
    workload: str, batch: int, width: int, dim: int, horizon: float, seed: int, layers: int = 1, outputs: int = 1
) -> Reference:
    tol, check = tolerances(workload)
    key = f"v{REFERENCE_VERSION}-{workload}-b{batch}-w{width}-d{dim}-h{horizon!r}-s{seed}-tol{tol:g}/{check:g}"
    key += f"-l{layers}-o{outputs}-torch{torch.__version__}"
    path = cache_dir() / f"reference-{hashlib.sha1(key.encode()).hexdigest()[:16]}.pt"
    settings = (workload, batch, width, dim, horizon, seed, layers, outputs)
    with torch.no_grad():
        shapes = _expected_shapes(*_problem(*settings))
    cached = _load(path, key, shapes)
    if cached is not None:
        return cached
    reference = compute_reference(*settings)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        torch.save(
            {
                "key": key,
                "solution": reference.solution,
                "gradient": reference.gradient,
                "solution_error": reference.solution_error,
                "gradient_error": reference.gradient_error,
                "checksum": _checksum(reference.solution, reference.gradient),
            },
            tmp,
        )
        os.replace(tmp, path)
    except OSError:
        pass  # an unwritable cache only costs recomputation
    return reference


def solve_reference(settings: tuple, tol: float) -> tuple[torch.Tensor, torch.Tensor]:
    """States at the output times and flat gradient of one float64 ``dopri8`` solve at rtol = atol = ``tol``.

    ``settings``: (workload, batch, width, dim, horizon, seed, layers, outputs). Lands on the
    output times (``step_t``) forward and backward; the gradient is the float64 adjoint's, whose
    memory stays flat in the step count (a workload's initial state computed from parameters,
    e.g. latent's encoder, gets its gradient through the adjoint's gradient of the initial state).
    """
    problem, t, skip = _problem(*settings)
    trajectory = torchdiffeq.odeint_adjoint(
        problem.field,
        problem.initial_state(),
        t,
        method=REFERENCE_SOLVER,
        rtol=tol,
        atol=tol,
        options={"step_t": t},
        adjoint_params=tuple(problem.field.parameters()),
    )[skip:]
    problem.loss(trajectory).backward()
    return trajectory.detach().clone(), flat_gradient(problem.parameters())


def tolerances(workload: str) -> tuple[float, float]:
    """(reference, check) tolerances of ``workload``'s reference."""
    return WORKLOAD_TOLERANCES.get(workload, (REFERENCE_TOL, CHECK_TOL))


def compute_reference(
    workload: str, batch: int, width: int, dim: int, horizon: float, seed: int, layers: int = 1, outputs: int = 1
) -> Reference:
    """The reference at :data:`REFERENCE_TOL`, its own error estimated against :data:`CHECK_TOL`
    (or the workload's pair in :data:`WORKLOAD_TOLERANCES`)."""
    settings = (workload, batch, width, dim, horizon, seed, layers, outputs)
    tol, check = tolerances(workload)
    solution, gradient = solve_reference(settings, tol)
    check_solution, check_gradient = solve_reference(settings, check)
    return Reference(
        solution,
        gradient,
        solution_error=relative_error(check_solution, solution),
        gradient_error=relative_error(check_gradient, gradient),
    )
