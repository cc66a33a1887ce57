"""The training loop of the Section 3 experiment, measured as it goes.

Every iteration records its loss, the ODE block's forward and backward NFE (through the
block's :class:`neural_ode.measuring.counting.CountingField`) and the wall time of its forward and
backward passes. Every epoch records the mean training loss, the test error, the epoch's wall
time, the test pass's forward NFE and -- in a separate run on one training batch, because the
instruments slow what they watch -- the bytes saved for backward and the peak tensor memory of
one forward+backward (CPU: the torch profiler's allocation events; CUDA: the allocator's
statistics), with the core's :mod:`neural_ode.measuring.memory` functions. The probe runs after the first
and the last epoch (and every ``memory_every``-th): the profiler slows a step about tenfold.

Optimiser: Adam with a cosine-annealed learning rate, stepped every iteration, for every model
(the reproduction needed Adam with an adaptive learning rate to train implicit_adams stably);
``optimizer="sgd"`` gives the paper's SGD with momentum, under the same schedule.

A run that diverges -- non-finite loss or gradient, step-size underflow, too many solver steps,
a timeout -- is not an exception: :func:`train` returns a :class:`TrainResult` whose ``status``
and ``error`` say what happened (:func:`neural_ode.measuring.failures.classify`), with every epoch and
iteration recorded before it.
"""

from __future__ import annotations

import dataclasses
import datetime
import math
import statistics
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

from neural_ode.apps.training.models import build_model, count_parameters
from neural_ode.apps.training.run_config import TrainConfig
from neural_ode.data import Dataset, load_data
from neural_ode.errors import NonFiniteError, classify
from neural_ode.measuring import Deadline, cpu_peak_bytes, cuda_peak_bytes, saved_bytes
from neural_ode.measuring import record_provenance as provenance

#: test images per evaluation batch
EVAL_BATCH = 500


@dataclass(frozen=True)
class IterationRecord:
    """One training iteration. Times in seconds; NFE are 0 for models without an ODE block."""

    run: str
    epoch: int
    iteration: int
    loss: float
    nfe_forward: int
    nfe_backward: int
    time_forward_s: float
    time_backward_s: float


@dataclass(frozen=True)
class EpochRecord:
    """One epoch of a run.

    Attributes:
        train_loss: mean cross-entropy over the epoch's iterations.
        train_error: fraction of training images misclassified during the epoch (running).
        test_error: fraction of test images misclassified after the epoch.
        time_epoch_s: wall time of the epoch's training iterations (shuffling, forward,
            backward, optimiser step); the test pass and the memory probe are not in it.
        time_test_s: wall time of the test pass.
        lr: learning rate at the end of the epoch.
        nfe_forward, nfe_backward: mean ODE-block evaluations per training iteration.
        nfe_test: mean forward NFE per test batch of up to 500 images.
        saved_bytes: bytes autograd saves for backward in one forward on a training batch.
        cpu_peak_bytes: peak live CPU tensor bytes of one forward+backward (CPU runs).
        cuda_peak_bytes: peak CUDA bytes allocated in one forward+backward (CUDA runs).
            The three memory figures are None in epochs without a memory probe.
        solver_warnings: warnings raised by the solver during the epoch (implicit_adams:
            "Functional iteration did not converge").
        test_images: size of the test set the error is measured on.
    """

    run: str
    epoch: int
    train_loss: float
    train_error: float
    test_error: float
    time_epoch_s: float
    time_test_s: float
    lr: float
    nfe_forward: float
    nfe_backward: float
    nfe_test: float
    saved_bytes: int | None = None
    cpu_peak_bytes: int | None = None
    cuda_peak_bytes: int | None = None
    solver_warnings: int = 0
    test_images: int = 0


@dataclass
class TrainResult:
    """The outcome of one run: its records, status and the trained model.

    ``status`` is ``ok`` or a status of :data:`neural_ode.measuring.failures.STATUSES`; ``error`` the
    message, ``failed_epoch`` the epoch it happened in. ``model`` is the trained (or diverged)
    model and is not serialised.
    """

    config: TrainConfig
    params: int
    status: str = "ok"
    error: str | None = None
    failed_epoch: int | None = None
    epochs: list[EpochRecord] = field(default_factory=list)
    iterations: list[IterationRecord] = field(default_factory=list)
    wall_s: float = 0.0
    started_at: str = ""
    provenance: dict = field(default_factory=dict)
    model: nn.Module | None = None

    def summary(self) -> dict:
        """One JSON-ready row: config, status, params, wall time, provenance."""
        return {
            "run": self.config.name,
            "label": self.config.label,
            **{f"config_{k}": v for k, v in self.config.to_dict().items()},
            "status": self.status,
            "error": self.error,
            "failed_epoch": self.failed_epoch,
            "epochs_completed": len(self.epochs),
            "params": self.params,
            "wall_s": self.wall_s,
            "started_at": self.started_at,
            **self.provenance,
        }


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _ode_nfe(model: nn.Module) -> int:
    block = getattr(model, "ode_block", None)
    return 0 if block is None else block.nfe


def _check_finite(what: str, value: torch.Tensor) -> None:
    if not torch.isfinite(value).all():
        raise NonFiniteError(f"non-finite {what}")


def evaluate(model: nn.Module, images: torch.Tensor, labels: torch.Tensor, device) -> tuple[float, float, float]:
    """Test error (fraction), mean forward NFE per batch and wall time (s) of one pass, no grad."""
    device = torch.device(device)
    wrong, nfe, batches = 0, 0, 0
    _sync(device)
    started = time.perf_counter()
    with torch.no_grad():
        for start in range(0, len(labels), EVAL_BATCH):
            x = images[start : start + EVAL_BATCH].to(device)
            y = labels[start : start + EVAL_BATCH].to(device)
            before = _ode_nfe(model)
            logits = model(x)
            nfe += _ode_nfe(model) - before
            batches += 1
            wrong += int((logits.argmax(dim=1) != y).sum())
    _sync(device)
    return wrong / max(len(labels), 1), nfe / max(batches, 1), time.perf_counter() - started


def probe_memory(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> dict:
    """Saved-for-backward bytes and peak tensor bytes of one forward+backward on (x, y).

    Two separate runs, gradients cleared before and after, parameters untouched: the bytes the
    forward pass allocated and autograd still holds for backward at its end (saved-tensor hooks;
    parameters, buffers and the batch, which existed before, left out), then the peak over the run
    (CPU: profiler allocation events; CUDA: allocator statistics). ``x`` must own its storage (a
    slice of the dataset would otherwise be held, whole, by the first layer).
    """
    model.zero_grad(set_to_none=True)
    # what the forward pass allocates and keeps: the parameters and the batch existed before it and
    # are not in the peak over the run's start either, so saved <= peak holds
    existing = (*model.parameters(), *model.buffers(), x, y)
    held, loss = saved_bytes(lambda: F.cross_entropy(model(x), y), exclude=existing)
    loss.backward()
    model.zero_grad(set_to_none=True)
    del loss

    def step() -> None:
        F.cross_entropy(model(x), y).backward()

    figures = {"saved_bytes": held}
    if x.device.type == "cuda":
        figures["cuda_peak_bytes"] = cuda_peak_bytes(step, x.device)
    else:
        figures["cpu_peak_bytes"] = cpu_peak_bytes(step)
    model.zero_grad(set_to_none=True)
    return figures


def train(
    config: TrainConfig,
    data: Dataset | None = None,
    *,
    progress: Callable[[EpochRecord], None] | None = None,
) -> TrainResult:
    """Train ``config``'s model on ``data`` (default: loaded from ``config.data``) and record it.

    Never raises for a run that diverges or fails: see :class:`TrainResult`. Bad configs and
    unreadable data raise before training starts.
    """
    data = load_data(config.data, config.seed) if data is None else data
    data = data.subset(config.train_limit, config.test_limit)
    device = torch.device(config.device)
    torch.manual_seed(config.seed)
    model = build_model(
        config.model,
        data.side,
        channels=config.width,
        classes=data.classes,
        method=config.method,
        solver=config.solver,
        steps=config.steps,
        rtol=config.rtol,
        atol=config.atol,
        max_num_steps=config.max_num_steps,
    ).to(device)
    result = TrainResult(
        config=config,
        params=count_parameters(model),
        model=model,
        started_at=datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        provenance=provenance(config.device),
    )
    deadline = Deadline(config.timeout_s)
    if model.ode_block is not None:
        model.ode_block.counter.deadline = deadline
    n_train = len(data.train_labels)
    iterations_per_epoch = math.ceil(n_train / config.batch)
    optimiser = make_optimiser(config, model)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimiser, T_max=config.epochs * iterations_per_epoch)
    generator = torch.Generator().manual_seed(config.seed)
    # clones: a batch that owns its storage, not a view of the whole training set
    probe_x = data.train_images[: config.batch].to(device).clone()
    probe_y = data.train_labels[: config.batch].to(device).clone()
    started = time.perf_counter()
    epoch = 0
    try:
        for epoch in range(1, config.epochs + 1):
            record = _train_epoch(
                model, data, config, epoch, optimiser, schedule, generator, device, deadline, result.iterations
            )
            if config.memory_probe and _probe_peak(epoch, config.epochs, config.memory_every):
                model.train()
                with warnings.catch_warnings():
                    warnings.filterwarnings("ignore", module="torchdiffeq")
                    record = dataclasses.replace(record, **probe_memory(model, probe_x, probe_y))
            result.epochs.append(record)
            if progress is not None:
                progress(record)
    except Exception as exc:  # noqa: BLE001 -- a diverged or failed run is a result
        result.status, result.error = classify(exc)
        result.failed_epoch = epoch
    result.wall_s = time.perf_counter() - started
    return result


def make_optimiser(config: TrainConfig, model: nn.Module) -> torch.optim.Optimizer:
    """Adam, or SGD with momentum 0.9 (the paper's), at ``config.lr``."""
    if config.optimizer == "sgd":
        return torch.optim.SGD(model.parameters(), lr=config.lr, momentum=0.9)
    return torch.optim.Adam(model.parameters(), lr=config.lr)


def _probe_peak(epoch: int, epochs: int, every: int) -> bool:
    """Whether the memory probe runs after ``epoch``: first and last always, and every ``every``-th."""
    return epoch in (1, epochs) or (every > 0 and epoch % every == 0)


def _solver_warnings(caught) -> int:
    """Count the torchdiffeq warnings among ``caught`` and re-issue the others."""
    count = 0
    for message in caught:
        if "torchdiffeq" in str(message.filename):
            count += 1
        else:
            warnings.warn_explicit(message.message, message.category, message.filename, message.lineno)
    return count


def _train_epoch(model, data, config, epoch, optimiser, schedule, generator, device, deadline, iterations):
    """One pass over the training set, then the test pass; appends to ``iterations``."""
    model.train()
    losses, wrong = [], 0
    nfe_forward, nfe_backward = [], []
    first_iteration = len(iterations)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        _sync(device)
        started = time.perf_counter()
        order = torch.randperm(len(data.train_labels), generator=generator)
        for start in range(0, len(order), config.batch):
            deadline.check()
            index = order[start : start + config.batch]
            x, y = data.train_images[index].to(device), data.train_labels[index].to(device)
            optimiser.zero_grad(set_to_none=True)
            nfe0 = _ode_nfe(model)
            t0 = time.perf_counter()
            logits = model(x)
            loss = F.cross_entropy(logits, y)
            _sync(device)
            t1 = time.perf_counter()
            nfe1 = _ode_nfe(model)
            _check_finite("training loss", loss)
            loss.backward()
            _sync(device)
            t2 = time.perf_counter()
            nfe2 = _ode_nfe(model)
            gradients = [p.grad for p in model.parameters() if p.grad is not None]
            _check_finite("parameter gradient", torch.stack([g.abs().sum() for g in gradients]))
            optimiser.step()
            schedule.step()
            losses.append(loss.item())
            wrong += int((logits.detach().argmax(dim=1) != y).sum())
            nfe_forward.append(nfe1 - nfe0)
            nfe_backward.append(nfe2 - nfe1)
            iterations.append(
                IterationRecord(
                    run=config.name,
                    epoch=epoch,
                    iteration=first_iteration + len(losses),
                    loss=losses[-1],
                    nfe_forward=nfe1 - nfe0,
                    nfe_backward=nfe2 - nfe1,
                    time_forward_s=t1 - t0,
                    time_backward_s=t2 - t1,
                )
            )
        _sync(device)
        time_epoch = time.perf_counter() - started
        model.eval()
        test_error, nfe_test, time_test = evaluate(model, data.test_images, data.test_labels, device)
    return EpochRecord(
        run=config.name,
        epoch=epoch,
        train_loss=statistics.fmean(losses),
        train_error=wrong / len(data.train_labels),
        test_error=test_error,
        time_epoch_s=time_epoch,
        time_test_s=time_test,
        lr=schedule.get_last_lr()[0],
        nfe_forward=statistics.fmean(nfe_forward),
        nfe_backward=statistics.fmean(nfe_backward),
        nfe_test=nfe_test,
        solver_warnings=_solver_warnings(caught),
        test_images=len(data.test_labels),
    )
