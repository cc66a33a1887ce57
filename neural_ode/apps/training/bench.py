"""The training benchmark: one training run per gradient method x solver x tolerance x seed, measured as it goes.

A run (:class:`BenchConfig`) trains a task's model (:mod:`neural_ode.apps.training.bench_tasks`) from
the seed's initialisation, with Adam at the task's learning rate, on the seed's batch order, for a
fixed number of iterations (and optionally a budget of training seconds), on one torch thread. It
writes one JSON record per line:

- ``iteration``: per iteration, the loss, the forward and backward NFE (vector-field evaluations
  in the forward pass, and in ``backward()``), the iteration's wall time ``time_s`` (forward,
  backward and optimiser step, seconds) and ``elapsed_s``, the training time so far;
- ``check``: at iteration 0, every ``check_every`` iterations and at the last, before the
  optimiser's step, the relative L2 error of the iteration's gradient against a float64 reference
  gradient at the same parameters on the same batch (``grad_rel_error``; at iteration 0 also the
  reference's own error estimate ``ref_grad_error``), then the validation figures of the current
  parameters; none of it is in the timings;
- ``run``: last, the config, ``status`` (``ok`` or a status of
  :data:`neural_ode.measuring.failures.STATUSES`: a run that diverges is a result), the iterations
  done, the wall time of the whole run and the provenance.

Every record carries the run's ``key`` (its config) and ``attempt`` (a fresh id per execution), so
a reader keeps only the records of the attempt its ``run`` record names: a run killed halfway is
not complete and leaves nothing a reader uses (see :mod:`neural_ode.apps.training.bench_runner`).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass

import torch

from neural_ode.apps.training.bench_tasks import TASKS
from neural_ode.config import ConfigError, check_choice, check_method_solver, check_positive
from neural_ode.errors import NonFiniteError, classify
from neural_ode.measuring import flat_gradient, relative_error
from neural_ode.measuring import record_provenance as provenance
from neural_ode.methods import METHODS
from neural_ode.solvers import SOLVERS
from neural_ode.workloads import disk_cached

#: record kinds, in the order a run writes them
KINDS = ("iteration", "check", "run")
#: the version of the record layout
SCHEMA_VERSION = 1


@dataclass(frozen=True)
class BenchConfig:
    """One training run of the benchmark.

    Attributes:
        task: a key of :data:`neural_ode.apps.training.bench_tasks.TASKS`.
        method, solver: gradient method (:data:`neural_ode.methods.METHODS`) and solver.
        rtol: rtol = atol of an adaptive solver (None for a fixed grid).
        steps: grid steps of a fixed-grid solve (None for an adaptive solver).
        seed: seeds the initialisation and the batch order.
        iterations: optimiser steps.
        check_every: iterations between two gradient checks and validations (also at 0 and the last).
        lr: Adam's learning rate (constant).
        batch, width: the task's batch size and field width (hidden units or channels).
        time_budget_s: stop after this many seconds of training time (None: iterations only).
        max_num_steps: cap on an adaptive solve's steps (then status ``too_many_steps``).
    """

    task: str
    method: str
    solver: str
    rtol: float | None
    steps: int | None
    seed: int
    iterations: int
    check_every: int
    lr: float
    batch: int
    width: int
    time_budget_s: float | None = None
    max_num_steps: int = 2000

    def __post_init__(self) -> None:
        check_choice("task", self.task, TASKS)
        check_choice("method", self.method, METHODS)
        check_choice("solver", self.solver, SOLVERS)
        check_method_solver(self.method, self.solver)
        if SOLVERS[self.solver].adaptive:
            if self.rtol is None or self.steps is not None:
                raise ConfigError(f"solver {self.solver!r} is adaptive: it takes a tolerance, not steps")
            check_positive("rtol", self.rtol)
        else:
            if self.steps is None or self.rtol is not None:
                raise ConfigError(f"solver {self.solver!r} walks a fixed grid: it takes steps, not a tolerance")
            check_positive("steps", self.steps, integer=True)
        for name in ("iterations", "check_every", "batch", "width", "max_num_steps"):
            check_positive(name, getattr(self, name), integer=True)
        check_positive("lr", self.lr)
        if self.time_budget_s is not None:
            check_positive("time_budget_s", self.time_budget_s)

    @property
    def atol(self) -> float | None:
        """atol = rtol."""
        return self.rtol

    @property
    def label(self) -> str:
        """The configuration without the seed: ``method solver tol`` or ``method solver N steps``."""
        how = f"{self.rtol:g}" if self.rtol is not None else f"{self.steps} steps"
        return f"{self.method} {self.solver} {how}"

    @property
    def key(self) -> str:
        """What identifies the run: a hash of every field (resuming skips a key already complete;
        the ``run`` record holds the fields themselves)."""
        return hashlib.sha1(json.dumps(self.to_dict(), sort_keys=True).encode()).hexdigest()[:16]

    def to_dict(self) -> dict:
        """The fields as a plain dict (JSON-ready)."""
        return dataclasses.asdict(self)


def _initial_references(task, model, batch) -> torch.Tensor:
    """The reference gradient and its looser check at the initial parameters, stacked: the same for
    every configuration of a seed (same initialisation, same first batch), so computed once and
    kept on disk (:func:`neural_ode.workloads.cache.disk_cached`) under a hash of the task, the
    parameters and the batch."""
    digest = hashlib.sha256(f"train-bench-v{SCHEMA_VERSION}-{task.name}-torch{torch.__version__}".encode())
    for tensor in (*model.parameters(), *batch):
        digest.update(str(tuple(tensor.shape)).encode())
        digest.update(tensor.detach().contiguous().numpy().tobytes())
    return disk_cached(
        "train-bench-reference",
        digest.hexdigest(),
        lambda: torch.stack([task.reference_gradient(model, batch), task.reference_gradient(model, batch, loose=True)]),
    )


def _check(task, model, batch, iteration: int) -> dict:
    """Gradient error of the gradient now in the parameters' ``.grad`` against the float64 reference
    on ``batch``, and the validation figures; untimed."""
    gradient = flat_gradient(list(model.parameters()))
    record = {}
    if iteration == 0:  # with the reference's own error: the same solve, looser, once a run
        reference, loose = _initial_references(task, model, batch)
        record["ref_grad_error"] = relative_error(loose, reference)
    else:
        reference = task.reference_gradient(model, batch)
    record["grad_rel_error"] = relative_error(gradient, reference)
    model.eval()
    before = task.nfe(model)
    record.update(task.validate(model))
    record["val_nfe"] = task.nfe(model) - before
    model.train()
    return record


def train_run(config: BenchConfig, emit: Callable[[dict], None]) -> dict:
    """Train ``config``'s run, passing each record to ``emit`` as it is made; returns the ``run`` record.

    Never raises for a run that diverges or fails (its status says what happened); one torch
    thread, set here (the timings are one core's).
    """
    torch.set_num_threads(1)
    task = TASKS[config.task]
    head = {"key": config.key, "label": config.label, "attempt": uuid.uuid4().hex[:12], "schema": SCHEMA_VERSION}
    started = time.perf_counter()
    model = task.build(config)
    optimiser = torch.optim.Adam(model.parameters(), lr=config.lr)
    batches = task.batches(config)
    last = config.iterations - 1
    status, error, done, elapsed = "ok", None, 0, 0.0
    try:
        for iteration in range(config.iterations):
            batch = next(batches)
            optimiser.zero_grad(set_to_none=True)
            nfe0 = task.nfe(model)
            t0 = time.perf_counter()
            loss = task.loss(model, batch)
            nfe1 = task.nfe(model)
            if not torch.isfinite(loss):
                raise NonFiniteError("non-finite training loss")
            loss.backward()
            t1 = time.perf_counter()
            nfe2 = task.nfe(model)
            check = None
            if iteration % config.check_every == 0 or iteration == last:
                check = _check(task, model, batch, iteration)
            t2 = time.perf_counter()
            optimiser.step()
            t3 = time.perf_counter()
            step_s = (t1 - t0) + (t3 - t2)
            elapsed += step_s
            emit(
                {
                    **head, "kind": "iteration", "iteration": iteration, "loss": loss.item(),
                    "nfe_forward": nfe1 - nfe0, "nfe_backward": nfe2 - nfe1, "time_s": step_s, "elapsed_s": elapsed,
                }
            )  # fmt: skip
            if check is not None:
                emit({**head, "kind": "check", "iteration": iteration, "elapsed_s": elapsed, **check})
            done = iteration + 1
            if config.time_budget_s is not None and elapsed >= config.time_budget_s:
                break
    except Exception as exc:  # noqa: BLE001 -- a diverged or failed run is a result
        status, error = classify(exc)
    record = {
        **head, "kind": "run", "config": config.to_dict(), "status": status, "error": error,
        "iterations_done": done, "training_s": elapsed, "wall_s": time.perf_counter() - started,
        "threads": torch.get_num_threads(), **provenance("cpu"),
    }  # fmt: skip
    emit(record)
    return record
