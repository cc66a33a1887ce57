"""Fields fitted once with snapshots along their training: what the ``stage`` axis selects.

A staged workload (``cnf``, ``latent``) trains its problem's modules once per size,
deterministically (seed 0, one thread, Adam, backpropagating directly through an rk4 grid), and
keeps a copy of every trained module at N equal fractions of the training: stage k is the fit
after k/N of its iterations, stage 0 its initialisation (the untrained problem of seed 0, as
before there were stages). Each snapshot's cost is measured when it is taken: the forward NFE of
dopri5 at rtol = atol = :data:`NFE_TOL` on the seed-0 problem at the workload's own sizes (no
gradient), so a sweep's stage is known to need that many evaluations.

The training is visible: a progress bar on stderr with the training loss, and a line per stage
with its NFE; the stages are also written as a small table beside the cached fit
(``<cache>/<hash>-<kind>.stages.csv``, see :func:`neural_ode.workloads.cache.cache_dir`).
Nothing trains at import: a fit runs the first time a stage above 0 is built or prepared.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

from neural_ode.workloads.base import Problem
from neural_ode.workloads.cache import cache_path, disk_cached, fitting

#: the tolerance each stage's forward NFE is measured at (dopri5, rtol = atol)
NFE_TOL = 1e-5
#: training iterations the loss shown and stored with a stage is averaged over
LOSS_WINDOW = 20


@dataclass(frozen=True)
class Schedule:
    """How a staged field is trained.

    Attributes:
        iterations: Adam steps in all.
        stages: snapshots after 1/stages, 2/stages, ... of them (stage 0 is the initialisation).
        lr: Adam's learning rate.
        grid_steps: rk4 steps over [0, 1] of each training solve (direct backpropagation).
    """

    iterations: int
    stages: int
    lr: float
    grid_steps: int

    def key(self) -> str:
        """The schedule's part of a fit's cache key."""
        return f"it{self.iterations}-st{self.stages}-lr{self.lr:g}-rk4x{self.grid_steps}"

    def snapshot_at(self, stage: int) -> int:
        """The iteration after which stage ``stage`` is taken."""
        return round(stage * self.iterations / self.stages)


def trained_modules(problem: Problem) -> list[nn.Module]:
    """The modules a fit trains and a snapshot holds: the field, then the problem's others."""
    return [problem.field, *problem.modules]


def load_stage(problem: Problem, snapshot: list[dict]) -> None:
    """Copy a stage's snapshot into ``problem``'s modules (in their dtype and device)."""
    for module, state in zip(trained_modules(problem), snapshot, strict=True):
        missing, unexpected = module.load_state_dict(state, strict=False)
        parameters = {name for name, _ in module.named_parameters()}
        if unexpected or parameters & set(missing):  # a buffer the problem sets itself may be absent
            raise ValueError(f"a stage's snapshot does not fit {type(module).__name__}: "
                             f"missing {sorted(parameters & set(missing))}, unexpected {sorted(unexpected)}")


def forward_nfe(problem: Problem, config, tol: float = NFE_TOL) -> int:
    """Evaluations of the field in one dopri5 forward solve of ``problem`` at rtol = atol = ``tol``
    (no gradient; the output times as a cell's, interpolated there)."""
    import torchdiffeq

    field = problem.field
    calls = [0]

    def counted(t, y):
        calls[0] += 1
        return field(t, y)

    with torch.no_grad():
        y0 = problem.initial_state()
        times, _skip = problem.solve_times(config, y0.dtype, y0.device)
        torchdiffeq.odeint(counted, y0, times, rtol=tol, atol=tol, method="dopri5")
    return calls[0]


def fit_stages(
    kind: str,
    key: str,
    problem: Callable[[], tuple[Problem, object]],
    loss: Callable[[Problem, int], torch.Tensor],
    schedule: Schedule,
    progress: bool = True,
) -> dict:
    """The stages of a fit, trained once and cached on disk under ``key``.

    Args:
        kind: names the cached file and the progress bar (``cnf``, ``latent``).
        key: everything that determines the fit (sizes, schedule, version, torch's version).
        problem: returns a fresh stage-0 problem (seed 0, float32) and its config: one is trained
            in place, and each stage's snapshot is loaded into another to measure its forward NFE.
        loss: ``loss(problem, iteration)``: the training loss of the iteration's batch.
        schedule: iterations, stages, learning rate, rk4 grid.
        progress: show the progress bar and the stage lines (on stderr).

    Returns:
        a dict: ``states`` (per stage, one state dict per trained module), ``nfe`` (per stage,
        forward NFE at :data:`NFE_TOL`), ``loss`` (per stage, mean training loss of the last
        :data:`LOSS_WINDOW` iterations before it; stage 0: the first batch's loss before any
        step), ``iteration`` (per stage) and ``seconds`` (the training's wall time, NFE
        measurements included).
    """
    return disk_cached(kind, key, lambda: _fit(kind, key, problem, loss, schedule, progress))


def _fit(kind, key, make_problem, loss_of, schedule: Schedule, progress: bool) -> dict:
    from tqdm import tqdm

    started = time.perf_counter()
    with fitting():
        problem, _config = make_problem()
        modules = trained_modules(problem)
        optimiser = torch.optim.Adam([p for m in modules for p in m.parameters()], lr=schedule.lr)
        states, nfe, losses, iterations, recent = [], [], [], [], []

        def snapshot(stage: int, iteration: int, shown: float) -> None:
            states.append([{n: v.detach().clone() for n, v in m.state_dict().items()} for m in modules])
            measured, measured_config = make_problem()  # the seed-0 problem, whatever batch the training holds
            load_stage(measured, states[-1])
            nfe.append(forward_nfe(measured, measured_config))
            losses.append(shown)
            iterations.append(iteration)
            if progress:
                tqdm.write(
                    f"{kind} stage {stage}/{schedule.stages}: iteration {iteration}, training loss {shown:.4g}, "
                    f"forward NFE {nfe[-1]} (dopri5, rtol = atol = {NFE_TOL:g})",
                    file=sys.stderr,
                )

        next_stage = 1
        with tqdm(range(1, schedule.iterations + 1), desc=f"fitting {kind}", unit="it", file=sys.stderr,
                  disable=not progress, dynamic_ncols=True) as bar:  # fmt: skip
            for iteration in bar:
                value = loss_of(problem, iteration)
                if iteration == 1:
                    snapshot(0, 0, float(value.detach()))
                optimiser.zero_grad()
                value.backward()
                optimiser.step()
                recent = [*recent[-(LOSS_WINDOW - 1) :], float(value.detach())]
                bar.set_postfix(loss=f"{sum(recent) / len(recent):.4g}", refresh=False)
                if iteration == schedule.snapshot_at(next_stage):
                    snapshot(next_stage, iteration, sum(recent) / len(recent))
                    next_stage += 1
    fitted = {
        "states": states,
        "nfe": torch.tensor(nfe),
        "loss": torch.tensor(losses, dtype=torch.float64),
        "iteration": torch.tensor(iterations),
        "seconds": torch.tensor([time.perf_counter() - started], dtype=torch.float64),
    }
    write_table(kind, key, fitted)
    return fitted


def write_table(kind: str, key: str, fitted: dict) -> None:
    """The stages as a CSV beside the cached fit: stage, iteration, training loss, forward NFE."""
    path = cache_path(kind, key).with_suffix(".stages.csv")
    lines = [f"# {key}; forward NFE: dopri5, rtol = atol = {NFE_TOL:g}, seed-0 problem at the workload's sizes",
             "stage,iteration,training_loss,nfe_forward"]  # fmt: skip
    for stage, (iteration, loss, nfe) in enumerate(zip(fitted["iteration"], fitted["loss"], fitted["nfe"])):
        lines.append(f"{stage},{int(iteration)},{float(loss):.6g},{int(nfe)}")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("\n".join(lines) + "\n")
    except OSError:
        pass


def stages_table(kind: str, key: str) -> str:
    """The stages table written beside the cached fit ``key`` (empty when not fitted yet)."""
    path = cache_path(kind, key).with_suffix(".stages.csv")
    return path.read_text() if path.exists() else ""
