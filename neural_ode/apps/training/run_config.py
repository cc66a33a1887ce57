"""One training run of the Section 3 experiment, as a frozen, validated dataclass."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from neural_ode.apps.training.models import MODELS
from neural_ode.config import DEVICES, ConfigError, check_choice, check_method_solver, check_positive
from neural_ode.data import DataError, check_data_spec
from neural_ode.methods import METHODS
from neural_ode.solvers import SOLVERS

#: default tolerance of ODE blocks in training (torchdiffeq's odenet_mnist example uses 1e-3)
DEFAULT_TRAIN_TOL = 1e-3
#: solvers that use rtol/atol: the adaptive ones, and implicit_adams (its corrector's convergence test)
TOLERANCE_SOLVERS = tuple(name for name, spec in SOLVERS.items() if spec.adaptive) + ("implicit_adams",)
OPTIMIZERS = ("adam", "sgd")


@dataclass(frozen=True)
class TrainConfig:
    """What to train, on what, and how.

    Attributes:
        model: a key of :data:`neural_ode.apps.training.models.MODELS`.
        data: ``digits`` or ``mnist:PATH`` (see :mod:`neural_ode.data.images`).
        method, solver: gradient method and solver of the ODE block (ODE models only; None
            takes the model's default: rknet direct/rk4, odenet adjoint/dopri5).
        steps: grid steps over t in [0, 1] for a fixed-grid solver (None: the model's default).
        rtol, atol: tolerances for solvers that use them (adaptive ones and implicit_adams);
            default 1e-3.
        epochs: passes over the training set.
        batch: training batch size.
        width: channels of the convolutional models (the paper: 64).
        lr: the optimiser's initial learning rate, annealed to 0 by a cosine schedule over the run.
        optimizer: ``adam`` (the default for every model) or ``sgd`` (momentum 0.9, the paper's
            optimiser; the reproduction found implicit_adams unstable until it switched to Adam).
        seed: seeds initialisation, batch order and the digits train/test split.
        device: ``cpu`` or ``cuda``.
        train_limit, test_limit: use only the first N training / test images (None: all).
        max_num_steps: cap on an adaptive solve's steps (then status ``too_many_steps``).
        timeout_s: wall-clock budget of the run (then status ``timeout``); None: none.
        memory_probe: measure saved bytes and peak memory of one forward+backward on a training
            batch after the first and the last epoch (and every ``memory_every``-th).
        memory_every: probe every N-th epoch too (0: first and last only; the CPU probe runs
            under the torch profiler, which slows a step about tenfold).
        name: the run's name in tables (None: derived from model, solver and method).
    """

    model: str = "odenet"
    data: str = "digits"
    method: str | None = None
    solver: str | None = None
    steps: int | None = None
    rtol: float | None = None
    atol: float | None = None
    epochs: int = 10
    batch: int = 64
    width: int = 64
    lr: float = 3e-3
    optimizer: str = "adam"
    seed: int = 0
    device: str = "cpu"
    train_limit: int | None = None
    test_limit: int | None = None
    max_num_steps: int = 1000
    timeout_s: float | None = None
    memory_probe: bool = True
    memory_every: int = 0
    name: str | None = None

    def __post_init__(self) -> None:
        check_choice("model", self.model, MODELS)
        try:
            check_data_spec(self.data)
        except DataError as exc:
            raise ConfigError(str(exc)) from None
        spec = MODELS[self.model]
        if not spec.ode:
            given = [f"--{n}" for n in ("method", "solver", "steps", "rtol", "atol") if getattr(self, n) is not None]
            if given:
                ode = ", ".join(n for n, s in MODELS.items() if s.ode)
                raise ConfigError(f"{', '.join(given)} apply to the ODE models ({ode}) only, not {self.model!r}")
        else:
            self._set("method", self.method or spec.method)
            self._set("solver", self.solver or spec.solver)
            check_choice("method", self.method, METHODS)
            check_choice("solver", self.solver, SOLVERS)
            check_method_solver(self.method, self.solver)
            if SOLVERS[self.solver].adaptive:
                if self.steps is not None:
                    raise ConfigError(f"solver {self.solver!r} is adaptive and takes no --steps (it takes --tol)")
            else:
                self._set("steps", self.steps or spec.steps)
                check_positive("steps", self.steps, integer=True)
            if self.solver in TOLERANCE_SOLVERS:
                self._set("rtol", DEFAULT_TRAIN_TOL if self.rtol is None else self.rtol)
                self._set("atol", DEFAULT_TRAIN_TOL if self.atol is None else self.atol)
                check_positive("rtol", self.rtol)
                check_positive("atol", self.atol)
            elif self.rtol is not None or self.atol is not None:
                raise ConfigError(
                    f"solver {self.solver!r} walks a fixed grid and takes no tolerance; "
                    f"tolerances apply to: {', '.join(TOLERANCE_SOLVERS)}"
                )
        check_choice("device", self.device, DEVICES)
        for name in ("epochs", "batch", "width", "max_num_steps"):
            check_positive(name, getattr(self, name), integer=True)
        check_positive("lr", self.lr)
        check_choice("optimizer", self.optimizer, OPTIMIZERS)
        for name in ("train_limit", "test_limit"):
            if getattr(self, name) is not None:
                check_positive(name, getattr(self, name), integer=True)
        if not isinstance(self.memory_every, int) or self.memory_every < 0:
            raise ConfigError(f"memory_every must be a non-negative integer, got {self.memory_every!r}")
        if self.timeout_s is not None:
            check_positive("timeout_s", self.timeout_s)
        if self.name is None:
            self._set("name", self.default_name())

    def _set(self, name: str, value) -> None:
        object.__setattr__(self, name, value)

    @property
    def ode(self) -> bool:
        """True for models with an ODE block."""
        return MODELS[self.model].ode

    @property
    def label(self) -> str:
        """The model's label in tables, with the solver (and method when not the model's default)."""
        spec = MODELS[self.model]
        extra = [] if not spec.ode else [self.solver] if self.method == spec.method else [self.solver, self.method]
        extra += [] if self.optimizer == "adam" else [self.optimizer.upper()]
        return f"{spec.label} ({', '.join(extra)})" if extra else spec.label

    def default_name(self) -> str:
        """``model``, or ``model-solver[-method]`` for ODE models."""
        if not self.ode:
            return self.model if self.optimizer == "adam" else f"{self.model}-{self.optimizer}"
        spec = MODELS[self.model]
        name = f"{self.model}-{self.solver}"
        name = name if self.method == spec.method else f"{name}-{self.method}"
        return name if self.optimizer == "adam" else f"{name}-{self.optimizer}"

    def replace(self, **changes) -> TrainConfig:
        """A copy with some fields changed (validated again; the name is derived again unless given)."""
        changes.setdefault("name", None)
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict:
        """The fields as a plain dict (JSON-ready)."""
        return dataclasses.asdict(self)
