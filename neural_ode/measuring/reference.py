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

A workload that declares a ``reference_grid`` (steps per unit time) gets a fixed-grid reference
instead. Two do. The stiff Van der Pol field: the float64 dopri8 adjoint's backward solve
underflows its step size there, while rk4 at h = 5e-5 is well inside its stability bound
(h < 2.8 / |lambda| ~ 9e-4). And the conv block, whose ReLU kinks no adaptive solver at a tight
tolerance can converge through (at
each kink the error estimate falls to first order, so dopri8 at 1e-9 takes more than 6 CPU-minutes
per solve of the conv block), and no fixed-step method does better than first order in the
gradient either, because the sensitivity equation's right-hand side jumps at every kink. The grid
reference is float64 ``rk4`` with the workload's steps per unit of time (conv: 256), landing on
every output time; its gradient is the exact gradient of that discrete solve, backpropagated
through checkpointed segments of :data:`GRID_SEGMENT` steps (memory: one state per segment plus
one segment's graph). Its own error is estimated from the same solve at half the steps (measured
on the conv block at horizon 1: the gradient differences halve with the step, 4.4e-3, 2.2e-3,
1.1e-3, 5.6e-4, 2.7e-4 for 16/32 ... 256/512 steps, and Richardson extrapolation does not improve
them, so the estimate is the difference itself, about twice the reference's own error).

A cache file carries a checksum of its tensors and is checked against the expected shapes; a
corrupted or mismatched entry is recomputed with a warning, never trusted.

Computing a reference can take minutes (the conv block's: about 85 s of one core per unit of
horizon), so a sweep computes the references its cells need first, in a pass of their own with
their own time budget (:func:`neural_ode.sweeping.runner.prepare_references`); a cell that finds
none computes it last, after its timings, within its own deadline (``check``).
"""

from __future__ import annotations

import hashlib
import io
import warnings
from dataclasses import dataclass
from pathlib import Path

import torch
import torchdiffeq

from neural_ode.storage.paths import write_atomically
from neural_ode.workloads.cache import cache_dir, library_versions  # noqa: F401 (cache_dir re-exported)

REFERENCE_SOLVER = "dopri8"
#: tolerance (rtol = atol) of the reference solve
REFERENCE_TOL = 1e-12
#: tolerance of the check solve that estimates the reference's own error
CHECK_TOL = 1e-10
#: workloads whose adaptive reference uses other (reference, check) tolerances
WORKLOAD_TOLERANCES: dict[str, tuple[float, float]] = {
    # the latent ODE's ELU field is only once continuously differentiable: on its trained stages
    # dopri8 steps through the kinks of ELU's second derivative, 51,560 forward evaluations at
    # 1e-12 on stage 3 (50 x 2) against 13,665 at 1e-10, and the adjoint's backward solve takes
    # minutes more; 1e-10 (checked against 1e-8) took 143 s + 43 s there
    "latent": (1e-10, 1e-8),
}
#: a cell's error within this factor of the reference's own error (an upper estimate) is below its
#: resolution: beyond it, the error measured against the reference is within 10 % of the true one
RESOLUTION_FACTOR = 10.0
#: the fixed-grid reference (workloads with a ``reference_grid``: steps per unit time) is float64 rk4
GRID_SOLVER = "rk4"
#: steps per checkpointed segment of the grid reference's backpropagation
GRID_SEGMENT = 16
#: bump when the reference computation changes, so stale cache files are not used
REFERENCE_VERSION = 4


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


def reference_for(config, check=None) -> Reference:
    """The reference of ``config``'s problem (depends on workload, sizes, horizon, outputs and seed only).

    ``check``: called at every evaluation of the field while a reference is computed (a cell's
    deadline check: it raises to abandon the computation); None when cached.
    """
    settings = _settings(config)
    cached = _CACHE.get(settings)
    if cached is None:
        cached = _CACHE[settings] = _reference(settings, check=check)
    return cached


#: references already loaded or computed in this process, by settings
_CACHE: dict[tuple, Reference] = {}


def _settings(config) -> tuple:
    """What a reference depends on: (workload, batch, width, dim, horizon, seed, layers, outputs, stage)."""
    return (
        config.workload, config.batch, config.width, config.dim, float(config.horizon), config.seed, config.layers,
        config.outputs, config.stage,
    )  # fmt: skip


def cache_key(config) -> str:
    """The key of ``config``'s reference in the disk cache (one per problem). For a user's factory it
    covers the modules its build imported only in a process that has built it (see
    :meth:`neural_ode.workloads.user.FactoryWorkload.parameters_key`): look a value up after the build."""
    return _key(*_settings(config))


def is_cached(config) -> bool:
    """True when ``config``'s reference is in this process or in the disk cache (not checked here)."""
    return _path(cache_key(config)).exists()


def _checksum(solution: torch.Tensor, gradient: torch.Tensor) -> str:
    digest = hashlib.sha256()
    for tensor in (solution, gradient):
        digest.update(str(tuple(tensor.shape)).encode())
        digest.update(tensor.contiguous().numpy().tobytes())
    return digest.hexdigest()


def _problem(
    workload: str, batch: int, width: int, dim: int, horizon: float, seed: int, layers: int, outputs: int,
    stage: int = 0,
):  # fmt: skip
    """The float64 CPU problem of these settings, and the times to solve at with how many to skip."""
    from neural_ode.config import CellConfig
    from neural_ode.workloads import workload_of

    config = CellConfig(
        workload=workload, batch=batch, width=width, dim=dim, horizon=horizon, seed=seed, layers=layers,
        outputs=outputs, stage=stage, dtype="float64",
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


def _key(
    workload: str, batch: int, width: int, dim: int, horizon: float, seed: int, layers: int, outputs: int,
    stage: int = 0,
) -> str:  # fmt: skip
    grid = grid_steps(workload)
    method = f"grid{grid}" if grid else "tol{:g}/{:g}".format(*tolerances(workload))
    from neural_ode.workloads import workload_of

    key = f"v{REFERENCE_VERSION}-{workload}-b{batch}-w{width}-d{dim}-h{horizon!r}-s{seed}-{method}"
    fitted = workload_of(workload).parameters_key(width, layers, stage)  # a refitted field has a new reference
    versions = library_versions().replace(" ", "")  # torch, torchdiffeq, numpy: an upgrade recomputes
    return key + f"-l{layers}-o{outputs}-{versions}" + (f"-{fitted}" if fitted else "")


def _path(key: str) -> Path:
    return cache_dir() / f"reference-{hashlib.sha1(key.encode()).hexdigest()[:16]}.pt"


def _reference(settings: tuple, check=None) -> Reference:
    """The reference of ``settings`` (see :func:`_settings`): from the disk cache, else computed and stored."""
    with torch.no_grad():
        shapes = _expected_shapes(*_problem(*settings))
    key = _key(*settings)  # after the build: a user factory's key covers what building it imported
    path = _path(key)
    cached = _load(path, key, shapes)
    if cached is not None:
        return cached
    reference = compute_reference(*settings, check=check)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        stored = {
            "key": key,
            "solution": reference.solution,
            "gradient": reference.gradient,
            "solution_error": reference.solution_error,
            "gradient_error": reference.gradient_error,
            "checksum": _checksum(reference.solution, reference.gradient),
        }
        write_atomically(path, lambda handle: torch.save(stored, handle), check=False)
    except OSError:
        pass  # an unwritable cache only costs recomputation
    return reference


class _Checked(torch.nn.Module):
    """``field`` that calls ``check()`` before each evaluation (a deadline)."""

    def __init__(self, field, check):
        super().__init__()
        self.field, self.check = field, check

    def forward(self, t, y):
        self.check()
        return self.field(t, y)


def grid_steps(workload: str) -> int | None:
    """Steps per unit time of ``workload``'s grid reference; None when it takes the adaptive one
    (the workload's ``reference_grid``, see the module docstring)."""
    from neural_ode.workloads import workload_of

    return getattr(workload_of(workload), "reference_grid", None)


def solve_on_grid(settings: tuple, steps_per_unit: int, check=None) -> tuple[torch.Tensor, torch.Tensor]:
    """States at the output times and flat gradient of a float64 ``rk4`` solve at ``steps_per_unit``
    steps per unit of time (at least one per output interval), landing on every output time.

    The gradient is that of the discrete solve, backpropagated through checkpointed segments of
    :data:`GRID_SEGMENT` steps, so memory holds one state per segment plus one segment's graph.
    """
    from torch.utils.checkpoint import checkpoint

    problem, t, skip = _problem(*settings)
    field = problem.field if check is None else _Checked(problem.field, check)

    def segment(y, grid):
        return torchdiffeq.odeint(field, y, grid, method=GRID_SOLVER)[-1].clone()  # not a view of all the steps

    state = problem.initial_state()
    if not state.requires_grad:  # the reentrant checkpoint backpropagates only into segments whose input needs it
        state = state.detach().requires_grad_()
    states = [state]
    for start, end in zip(t[:-1].tolist(), t[1:].tolist()):
        steps = max(1, round((end - start) * steps_per_unit))
        grid = torch.linspace(start, end, steps + 1, dtype=torch.float64)
        for i in range(0, steps, GRID_SEGMENT):
            # reentrant: the segment runs without autograd; the non-reentrant variant kept about
            # 1 MB per conv evaluation (70 MB a segment, 6.8 GB at t1 = 4), this one a state per segment
            state = checkpoint(segment, state, grid[i : i + GRID_SEGMENT + 1], use_reentrant=True)
        states.append(state)
    trajectory = torch.stack(states)[skip:]
    problem.loss(trajectory).backward()
    return trajectory.detach().clone(), flat_gradient(problem.parameters())


def solve_reference(settings: tuple, tol: float, check=None) -> tuple[torch.Tensor, torch.Tensor]:
    """States at the output times and flat gradient of one float64 ``dopri8`` solve at rtol = atol = ``tol``.

    ``settings``: (workload, batch, width, dim, horizon, seed, layers, outputs[, stage]). Lands on the
    output times (``step_t``) forward and backward; the gradient is the float64 adjoint's, whose
    memory stays flat in the step count (a workload's initial state computed from parameters,
    e.g. latent's encoder, gets its gradient through the adjoint's gradient of the initial state).
    """
    problem, t, skip = _problem(*settings)
    trajectory = torchdiffeq.odeint_adjoint(
        problem.field if check is None else _Checked(problem.field, check),
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
    workload: str,
    batch: int,
    width: int,
    dim: int,
    horizon: float,
    seed: int,
    layers: int = 1,
    outputs: int = 1,
    stage: int = 0,
    check=None,
) -> Reference:
    """The reference at :data:`REFERENCE_TOL`, its own error estimated against :data:`CHECK_TOL`
    (or the workload's pair in :data:`WORKLOAD_TOLERANCES`); for a workload with a
    ``reference_grid``, the grid reference at that many steps per unit time against half as many."""
    settings = (workload, batch, width, dim, horizon, seed, layers, outputs, stage)
    grid = grid_steps(workload)
    if grid is None:
        tol, loose = tolerances(workload)
        solution, gradient = solve_reference(settings, tol, check)
        check_solution, check_gradient = solve_reference(settings, loose, check)
    else:
        solution, gradient = solve_on_grid(settings, grid, check)
        check_solution, check_gradient = solve_on_grid(settings, grid // 2, check)
    return Reference(
        solution,
        gradient,
        solution_error=relative_error(check_solution, solution),
        gradient_error=relative_error(check_gradient, gradient),
    )
