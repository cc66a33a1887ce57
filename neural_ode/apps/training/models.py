"""The classifiers of the paper's Section 3: ResNet, RK-Net, ODE-Net and an MLP baseline.

All but the MLP share the paper's (and torchdiffeq's ``odenet_mnist``) layout: a downsampling
stem, a feature block, then group norm -> ReLU -> global average pool -> linear head.

- Stem on 28x28 MNIST: conv 3x3 (1 -> C) 28->26, GN, ReLU, conv 4x4 stride 2 26->13, GN, ReLU,
  conv 4x4 stride 2 13->6. On the 8x8 digits two stride-2 convolutions would leave 2x2 maps,
  so the stem keeps one: conv 3x3 padded (1 -> C) 8->8, GN, ReLU, conv 4x4 stride 2 8->4.
- Feature block: six residual blocks (``resnet6``), one (``resnet1``, the reproduction's
  control), or one ODE block whose vector field is the core's
  :class:`neural_ode.workloads.conv.ODEBlockField`, integrated over t in [0, 1] through a
  gradient method of :data:`neural_ode.methods.METHODS` -- ``direct`` through RK4 for
  ``rknet``, ``adjoint`` through dopri5 for ``odenet`` (any method and solver can be asked for).
- ``mlp``: one hidden layer of 300 units on the flattened image (the paper's 1-layer MLP has
  784 x 300 + 300 x 10 weights, 0.24M parameters).

Add a model: one :class:`ModelSpec` in :data:`MODELS` and its builder.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

from neural_ode.fields import PAPER_STEM_MIN_SIDE, ODEBlockField, feature_side, group_norm, head, stem  # noqa: F401
from neural_ode.measuring import CountingField, solver_options
from neural_ode.methods import METHODS
from neural_ode.solvers import SOLVERS

MLP_HIDDEN = 300


class ResBlock(nn.Module):
    """The paper's residual block: x + conv(ReLU(GN(conv(ReLU(GN(x)))))), 3x3 convs, no bias."""

    def __init__(self, channels: int):
        super().__init__()
        self.norm1 = group_norm(channels)
        self.conv1 = nn.Conv2d(channels, channels, 3, 1, 1, bias=False)
        self.norm2 = group_norm(channels)
        self.conv2 = nn.Conv2d(channels, channels, 3, 1, 1, bias=False)
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.conv1(self.relu(self.norm1(x)))
        out = self.conv2(self.relu(self.norm2(out)))
        return x + out


class ODEBlock(nn.Module):
    """h(1) from h(0) = x under dh/dt = f(t, h), f the core's ODE-Net field, counted.

    The field is wrapped in a :class:`neural_ode.measuring.counting.CountingField`, so ``nfe`` counts
    every evaluation (forward solve, and the adjoint's backward solve). ``rtol``/``atol`` may be
    changed between calls (the tolerance sweep of Figure 3a does).

    Attributes:
        method: a key of :data:`neural_ode.methods.METHODS`.
        solver: a key of :data:`neural_ode.solvers.SOLVERS`.
        steps: grid steps over [0, 1] for fixed-grid solvers (None for adaptive ones).
        rtol, atol: tolerances (adaptive solvers; implicit_adams' corrector), None otherwise.
        max_num_steps: cap on an adaptive solve's steps (then ``too_many_steps``).
    """

    def __init__(self, channels: int, *, method: str, solver: str, steps, rtol, atol, max_num_steps: int):
        super().__init__()
        self.counter = CountingField(ODEBlockField(channels))
        self.method = method
        self.solver = solver
        self.steps = steps
        self.rtol = rtol
        self.atol = atol
        self.max_num_steps = max_num_steps
        self.register_buffer("t", torch.tensor([0.0, 1.0]), persistent=False)

    @property
    def nfe(self) -> int:
        """Vector-field evaluations so far (forward and backward); reset by setting it to 0."""
        return self.counter.nfe

    @nfe.setter
    def nfe(self, value: int) -> None:
        self.counter.nfe = value

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # solver_options reads only .solver, .steps and .max_num_steps, which this block has
        options = solver_options(self)
        return METHODS[self.method].solve(
            self.counter, x, self.t.to(x.dtype), solver=self.solver, rtol=self.rtol, atol=self.atol, options=options
        )[-1]


class Classifier(nn.Module):
    """stem -> body -> head; ``ode_block`` is the body when it is an :class:`ODEBlock`."""

    def __init__(self, stem: nn.Module, body: nn.Module, head: nn.Module):
        super().__init__()
        self.stem = stem
        self.body = body
        self.head = head

    @property
    def ode_block(self) -> ODEBlock | None:
        """The ODE block, None for models without one."""
        return self.body if isinstance(self.body, ODEBlock) else None

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """The stem's output: the ODE block's (or residual blocks') input."""
        return self.stem(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.body(self.stem(x)))


class MLP(nn.Module):
    """One hidden layer of ``hidden`` ReLU units on the flattened image."""

    def __init__(self, side: int, classes: int, hidden: int = MLP_HIDDEN):
        super().__init__()
        self.net = nn.Sequential(
            nn.Flatten(), nn.Linear(side * side, hidden), nn.ReLU(inplace=True), nn.Linear(hidden, classes)
        )

    ode_block = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


@dataclass(frozen=True)
class ModelSpec:
    """One model of the Section 3 comparison.

    Attributes:
        name: the ``--model`` value.
        label: the name in tables and figures.
        description: one line for ``--help`` and the report.
        ode: True when the body is an ODE block (method, solver, steps and tolerances apply).
        method, solver, steps: defaults of ODE models (steps for fixed-grid solvers).
        build: ``build(side, channels, classes, block_kwargs) -> nn.Module``.
    """

    name: str
    label: str
    description: str
    ode: bool
    build: Callable[..., nn.Module]
    method: str | None = None
    solver: str | None = None
    steps: int | None = None


def _resnet(blocks: int):
    def build(side: int, channels: int, classes: int, block_kwargs: dict) -> nn.Module:
        body = nn.Sequential(*(ResBlock(channels) for _ in range(blocks)))
        return Classifier(stem(side, channels), body, head(channels, classes))

    return build


def _odenet(side: int, channels: int, classes: int, block_kwargs: dict) -> nn.Module:
    return Classifier(stem(side, channels), ODEBlock(channels, **block_kwargs), head(channels, classes))


def _mlp(side: int, channels: int, classes: int, block_kwargs: dict) -> nn.Module:
    return MLP(side, classes)


MODELS: dict[str, ModelSpec] = {
    spec.name: spec
    for spec in (
        ModelSpec("resnet6", "ResNet (6 blocks)", "downsampling stem, six residual blocks, head", False, _resnet(6)),
        ModelSpec("resnet1", "ResNet (1 block)", "downsampling stem, one residual block, head", False, _resnet(1)),
        ModelSpec(
            "rknet",
            "RK-Net",
            "stem, ODE block backpropagated directly through RK4, head",
            True,
            _odenet,
            method="direct",
            solver="rk4",
            steps=2,
        ),
        ModelSpec(
            "odenet",
            "ODE-Net",
            "stem, ODE block trained with the adjoint method (dopri5 by default), head",
            True,
            _odenet,
            method="adjoint",
            solver="dopri5",
            steps=4,
        ),
        ModelSpec("mlp", "1-layer MLP", f"one hidden layer of {MLP_HIDDEN} ReLU units", False, _mlp),
    )
}


def build_model(
    name: str,
    side: int,
    *,
    channels: int = 64,
    classes: int = 10,
    method: str | None = None,
    solver: str | None = None,
    steps: int | None = None,
    rtol: float | None = None,
    atol: float | None = None,
    max_num_steps: int = 1000,
) -> nn.Module:
    """A freshly initialised model ``name`` of :data:`MODELS` for ``side`` x ``side`` images.

    ODE arguments left None take the model's defaults; a fixed-grid solver gets ``steps``.
    """
    spec = MODELS[name]
    block_kwargs = {}
    if spec.ode:
        solver = solver or spec.solver
        adaptive = SOLVERS[solver].adaptive
        block_kwargs = {
            "method": method or spec.method,
            "solver": solver,
            "steps": None if adaptive else (steps or spec.steps),
            "rtol": rtol,
            "atol": atol,
            "max_num_steps": max_num_steps,
        }
    return spec.build(side, channels, classes, block_kwargs)


def count_parameters(model: nn.Module) -> int:
    """Number of trainable parameters."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
