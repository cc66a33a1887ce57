"""The training tasks of the training benchmark (``neural-ode-bench train-bench``): what is trained, on what.

A task builds a freshly initialised model from a seed (the same parameters whatever the gradient
method, solver or tolerance: initialisation draws from the global generator seeded first, and
nothing else draws before it), serves its training batches in a seeded order (the same for every
configuration), and knows three losses of the model: the training loss on a batch (through the
configuration's gradient method and solver), the validation figures (forward only, the
configuration's own solver: the model as it would be used), and the float64 reference loss whose
gradient the training gradient is compared with.

- ``spiral``: torchdiffeq's ``ode_demo.py`` from scratch: the field ``net(y**3)``, 2 -> 50 tanh ->
  2, learns the cubic spiral from random segments of :data:`SPIRAL_SEGMENT` consecutive points
  (batch of segment starts, loss the mean absolute distance along the segment, the demo's);
  validation: the whole 1000-point spiral from y(0) = (2, 0) over the demo's [0, 25] (mean
  absolute distance). Reference: float64 dopri8 at rtol = atol = 1e-12 landing on the output
  times (the project's reference solver, :mod:`neural_ode.measuring.reference`), direct backpropagation.
- ``digits``: the paper's ODE-Net classifier (stem -> ODE block over [0, 1] -> head,
  :mod:`neural_ode.apps.training.models`) on scikit-learn's 8x8 digits, cross-entropy on shuffled
  batches; validation: loss and accuracy on the 360 held-out digits. Reference: a float64
  rk4 grid of 32 steps (ReLU kinks: see :data:`DIGITS_REFERENCE_GRID` and :mod:`neural_ode.measuring.reference`),
  backpropagated through checkpointed segments.

Add a task: a :class:`TrainingTask` subclass and one entry in :data:`TASKS`.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import ClassVar

import torch
import torch.nn.functional as F
import torchdiffeq
from torch import nn
from torch.utils.checkpoint import checkpoint

from neural_ode.apps.training.models import build_model
from neural_ode.data import load_digits
from neural_ode.measuring import (
    CHECK_TOL,
    GRID_SEGMENT,
    GRID_SOLVER,
    REFERENCE_SOLVER,
    REFERENCE_TOL,
    CountingField,
    flat_gradient,
    solver_options,
)
from neural_ode.methods import METHODS
from neural_ode.workloads import DEMO_POINTS, TRUE_Y0, SpiralField, demo_data

#: points per training segment of the spiral (the demo's batch_time)
SPIRAL_SEGMENT = 10
#: steps over [0, 1] of the digits reference grid: float64 rk4 at h = 1/32, where the conv block's gradient is within
#: about 2e-3 of the limit (measured on the conv workload, see :mod:`neural_ode.measuring.reference`: the errors halve
#: with the step, 2.2e-3 at 32 steps) -- an eighth of the conv workload's 256 steps, since a training run checks its
#: gradient several times; each check's own error estimate (``ref_grad_error``, 16 against 32 steps) is recorded
DIGITS_REFERENCE_GRID = 32


class TrainingTask:
    """One training task; subclasses set the class attributes and implement the methods.

    Attributes:
        defaults: ``batch``, ``width`` (the field's hidden units or channels), ``lr`` (Adam's
            learning rate), ``iterations`` and ``check_every`` of a run.
        targets: loss targets of the time-to-target table (the task's training loss).
        fixed_steps: grid steps of a fixed-grid solve for the two tolerance levels (loose, tight),
            for methods that walk a fixed grid only (``checkpoint``).
        loss_name: what the loss is, for axis labels.
    """

    name: ClassVar[str]
    description: ClassVar[str]
    defaults: ClassVar[dict]
    targets: ClassVar[tuple[float, ...]]
    fixed_steps: ClassVar[tuple[int, int]]
    loss_name: ClassVar[str]

    def build(self, config) -> nn.Module:
        """A freshly initialised model (seeded by ``config.seed``) solving as ``config`` says."""
        raise NotImplementedError

    def batches(self, config) -> Iterator:
        """The training batches, endless, in the order fixed by ``config.seed``."""
        raise NotImplementedError

    def loss(self, model: nn.Module, batch) -> torch.Tensor:
        """The training loss of ``batch`` through the model's gradient method and solver."""
        raise NotImplementedError

    def nfe(self, model: nn.Module) -> int:
        """Vector-field evaluations of the model so far (forward and backward solves)."""
        raise NotImplementedError

    def validate(self, model: nn.Module) -> dict:
        """Validation figures (``val_loss``; ``val_accuracy`` for classifiers), forward only, no grad."""
        raise NotImplementedError

    def reference_gradient(self, model: nn.Module, batch, loose: bool = False) -> torch.Tensor:
        """The flat float64 gradient of the training loss of ``batch`` at the model's parameters,
        from a float64 reference solve (``loose``: the check solve estimating its own error)."""
        raise NotImplementedError


class _SolvedField(nn.Module):
    """A counted vector field solved through ``config``'s gradient method and solver."""

    def __init__(self, field: nn.Module, config):
        super().__init__()
        self.counter = CountingField(field)
        self.config = config

    def forward(self, y0: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        config = self.config
        return METHODS[config.method].solve(
            self.counter, y0, t, solver=config.solver, rtol=config.rtol, atol=config.rtol,
            options=solver_options(config, t),
        )  # fmt: skip


def _flat_grad(loss: torch.Tensor, module: nn.Module) -> torch.Tensor:
    """dloss/dparameters of ``module`` (a float64 copy of no use afterwards), flat float64; by
    ``backward``, which the reentrant checkpoint needs (it refuses ``torch.autograd.grad``)."""
    module.zero_grad(set_to_none=True)
    loss.backward()
    return flat_gradient(list(module.parameters()))


class SpiralTask(TrainingTask):
    name = "spiral"
    description = (
        "torchdiffeq ode_demo from scratch: net(y**3), 2 -> 50 tanh -> 2, on random 10-point segments of the "
        "cubic spiral; validation: the whole spiral over [0, 25]"
    )
    defaults = {"batch": 20, "width": 50, "lr": 1e-2, "iterations": 100, "check_every": 50}
    targets = (0.03, 0.015, 0.01)
    fixed_steps = (9, 18)  # one and two rk4 steps per data interval: every output time on the grid
    loss_name = "mean absolute distance from the spiral"

    def build(self, config) -> nn.Module:
        torch.manual_seed(config.seed)
        return _SolvedField(SpiralField(config.width, 1, scale=1.0), config)

    def batches(self, config) -> Iterator:
        t, y = demo_data()
        t, y = t.float(), y.float()
        generator = torch.Generator().manual_seed(config.seed)
        times = t[:SPIRAL_SEGMENT] - t[0]
        while True:
            starts = torch.randint(0, DEMO_POINTS - SPIRAL_SEGMENT, (config.batch,), generator=generator)
            along = starts[None, :] + torch.arange(SPIRAL_SEGMENT)[:, None]  # (segment, batch)
            yield y[starts], times, y[along]

    def loss(self, model, batch) -> torch.Tensor:
        y0, t, target = batch
        return (model(y0, t) - target).abs().mean()

    def nfe(self, model) -> int:
        return model.counter.nfe

    def validate(self, model) -> dict:
        t, y = demo_data()
        with torch.no_grad():
            predicted = model(torch.tensor([TRUE_Y0]), t.float())[:, 0]
        return {"val_loss": float((predicted - y.float()).abs().mean())}

    def reference_gradient(self, model, batch, loose: bool = False) -> torch.Tensor:
        field = copy.deepcopy(model.counter.field).double()
        y0, t, target = (x.double() for x in batch)
        tol = CHECK_TOL if loose else REFERENCE_TOL
        with torch.enable_grad():
            trajectory = torchdiffeq.odeint(
                field, y0, t, method=REFERENCE_SOLVER, rtol=tol, atol=tol, options={"step_t": t}
            )
            return _flat_grad((trajectory - target).abs().mean(), field)


class DigitsTask(TrainingTask):
    name = "digits"
    description = (
        "the paper's ODE-Net classifier (stem -> ODE block over [0, 1] -> head) on scikit-learn's 8x8 digits; "
        "validation: the 360 held-out digits"
    )
    defaults = {"batch": 64, "width": 16, "lr": 2e-2, "iterations": 30, "check_every": 29}
    targets = (2.25, 2.2, 2.15)
    fixed_steps = (2, 8)
    loss_name = "cross-entropy"

    def __init__(self):
        self._data = None

    def data(self):
        """The digits split (seed 0: the same held-out digits for every run)."""
        if self._data is None:
            self._data = load_digits(seed=0)
        return self._data

    def build(self, config) -> nn.Module:
        torch.manual_seed(config.seed)
        return build_model(
            "odenet", 8, channels=config.width, classes=10, method=config.method, solver=config.solver,
            steps=config.steps, rtol=config.rtol, atol=config.rtol, max_num_steps=config.max_num_steps,
        )  # fmt: skip

    def batches(self, config) -> Iterator:
        data = self.data()
        generator = torch.Generator().manual_seed(config.seed)
        while True:
            order = torch.randperm(len(data.train_labels), generator=generator)
            for start in range(0, len(order) - config.batch + 1, config.batch):  # whole batches only
                index = order[start : start + config.batch]
                yield data.train_images[index], data.train_labels[index]

    def loss(self, model, batch) -> torch.Tensor:
        images, labels = batch
        return F.cross_entropy(model(images), labels)

    def nfe(self, model) -> int:
        return model.ode_block.nfe

    def validate(self, model) -> dict:
        data = self.data()
        with torch.no_grad():
            logits = model(data.test_images)
        return {
            "val_loss": float(F.cross_entropy(logits, data.test_labels)),
            "val_accuracy": float((logits.argmax(1) == data.test_labels).double().mean()),
        }

    def reference_gradient(self, model, batch, loose: bool = False) -> torch.Tensor:
        model = copy.deepcopy(model).double()
        field = model.ode_block.counter.field
        images, labels = batch
        steps = DIGITS_REFERENCE_GRID // (2 if loose else 1)
        grid = torch.linspace(0.0, 1.0, steps + 1, dtype=torch.float64)

        def segment(h, points):
            return torchdiffeq.odeint(field, h, points, method=GRID_SOLVER)[-1].clone()

        with torch.enable_grad():
            h = model.stem(images.double())
            for i in range(0, steps, GRID_SEGMENT):
                # reentrant: the segment runs without a graph, re-run in the backward pass (memory: a state a segment)
                h = checkpoint(segment, h, grid[i : i + GRID_SEGMENT + 1], use_reentrant=True)
            loss = F.cross_entropy(model.head(h), labels)
            return _flat_grad(loss, model)


TASKS: dict[str, TrainingTask] = {task.name: task for task in (SpiralTask(), DigitsTask())}
