"""The cell: one configuration to measure, as a frozen, validated dataclass.

A cell is workload x gradient method x solver x depth x tolerance x size x device x dtype x
seed. Depth is ``steps`` (number of grid steps) for fixed-grid solvers and ``horizon`` (the
integration time t1, from t0 = 0) for adaptive ones; ``rtol``/``atol`` apply to adaptive
solvers only. Sizes left as None take the workload's defaults when the config is built.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from neural_ode.solvers import SOLVERS
from neural_ode.validation import INT64_MAX, SEED_LIMIT, TIMEOUT_MAX_S

DTYPES = ("float32", "float64")
DEVICES = ("cpu", "cuda")
DEFAULT_TOL = 1e-6


class ConfigError(ValueError):
    """A cell configuration that cannot be measured; the message says what is allowed."""


@dataclass(frozen=True)
class CellConfig:
    """What to measure. Units: ``horizon`` in model time, ``timeout_s`` in seconds.

    Attributes:
        workload: a key of ``neural_ode.workloads.WORKLOADS`` (``mlp``, ``conv``, ...), or a user's
            factory ``package.module:function`` (see :mod:`neural_ode.workloads.user`).
        method: a key of ``neural_ode.methods.METHODS`` (``direct``, ``adjoint``, ...).
        solver: a key of ``neural_ode.solvers.SOLVERS``.
        steps: fixed-grid steps over [0, horizon]; must be None for adaptive solvers.
        horizon: end of the integration interval (start is 0).
        rtol, atol: tolerances of adaptive solvers (default 1e-6 each); None for fixed grid.
        batch: batch size; width: hidden width (mlp) or channels (conv); dim: state size (mlp).
        layers: depth of the vector field: hidden layers (mlp and the other MLP fields) or
            convolutions (conv, 2); with width it sets the parameter count.
        outputs: number of output times the loss depends on (1 = the final state only); evenly
            spaced in (0, horizon] unless the workload brings its own times (t = 0 does not count).
        device: ``cpu`` or ``cuda``; dtype: ``float32`` or ``float64``.
        seed: seeds the parameters, the initial state and the target.
        repeats: timed repeats after ``warmup`` untimed ones.
        timeout_s: wall-clock budget of the whole cell measurement.
        max_num_steps: cap on accepted+rejected steps of an adaptive solve (then ``too_many_steps``).
        land: make torchdiffeq's adaptive solvers step exactly onto the output times (``step_t``)
            instead of returning an interpolated value there; no effect on fixed grids and on the
            project's own integrators, which always land.
    """

    workload: str = "mlp"
    method: str = "direct"
    solver: str = "rk4"
    steps: int | None = None
    horizon: float = 1.0
    rtol: float | None = None
    atol: float | None = None
    batch: int | None = None
    width: int | None = None
    dim: int | None = None
    layers: int | None = None
    outputs: int | None = None
    device: str = "cpu"
    dtype: str = "float32"
    seed: int = 0
    repeats: int = 5
    warmup: int = 1
    timeout_s: float = 300.0
    max_num_steps: int = 20_000
    land: bool = False

    def __post_init__(self) -> None:
        from neural_ode.methods import METHODS
        from neural_ode.workloads import WORKLOADS, workload_of

        if not (isinstance(self.workload, str) and ":" in self.workload):
            check_choice("workload", self.workload, WORKLOADS)
        workload = workload_of(self.workload)  # a user's factory: imported here, ConfigError if it cannot be
        check_choice("method", self.method, METHODS)
        check_choice("solver", self.solver, SOLVERS)
        check_choice("device", self.device, DEVICES)
        check_choice("dtype", self.dtype, DTYPES)
        check_method_solver(self.method, self.solver)
        spec = SOLVERS[self.solver]
        if spec.adaptive:
            if self.steps is not None:
                raise ConfigError(
                    f"solver {self.solver!r} is adaptive: its depth is --horizon, not --steps "
                    f"(fixed-grid solvers take steps: {', '.join(n for n, s in SOLVERS.items() if not s.adaptive)})"
                )
            self._set("rtol", DEFAULT_TOL if self.rtol is None else self.rtol)
            self._set("atol", DEFAULT_TOL if self.atol is None else self.atol)
            check_positive("rtol", self.rtol)
            check_positive("atol", self.atol)
        else:
            if self.rtol is not None or self.atol is not None:
                raise ConfigError(
                    f"solver {self.solver!r} walks a fixed grid and takes no tolerance; "
                    "rtol/atol apply to adaptive solvers only: "
                    + ", ".join(n for n, s in SOLVERS.items() if s.adaptive)
                )
            if self.steps is None:
                self._set("steps", 10)
            check_positive("steps", self.steps, integer=True)
        check_positive("horizon", self.horizon)
        for name in ("batch", "width", "dim", "layers", "outputs"):
            if getattr(self, name) is None:
                self._set(name, workload.default(name))
            check_positive(name, getattr(self, name), integer=True)
        check_positive("repeats", self.repeats, integer=True)
        if not isinstance(self.warmup, int) or isinstance(self.warmup, bool) or not 0 <= self.warmup <= INT64_MAX:
            raise ConfigError(f"warmup must be a non-negative integer, got {self.warmup!r}")
        if not isinstance(self.seed, int) or isinstance(self.seed, bool) or not 0 <= self.seed < SEED_LIMIT:
            raise ConfigError(f"seed must be an integer in [0, 2^63), got {self.seed!r}")
        check_positive("timeout_s", self.timeout_s)
        if self.timeout_s > TIMEOUT_MAX_S:
            raise ConfigError(
                f"timeout_s must be at most {TIMEOUT_MAX_S:g} s (the OS timers' range), got {self.timeout_s!r}"
            )
        check_positive("max_num_steps", self.max_num_steps, integer=True)
        if not isinstance(self.land, bool):
            raise ConfigError(f"land must be true or false, got {self.land!r}")

    def _set(self, name: str, value) -> None:
        object.__setattr__(self, name, value)

    @property
    def adaptive(self) -> bool:
        """True when the solver picks its own steps (depth is the horizon)."""
        return SOLVERS[self.solver].adaptive

    @property
    def depth(self) -> float:
        """The depth axis: steps for fixed-grid solvers, horizon for adaptive ones."""
        return self.horizon if self.adaptive else self.steps

    def replace(self, **changes) -> CellConfig:
        """A copy with some fields changed (validated again)."""
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict:
        """The fields as a plain dict (JSON-ready)."""
        return dataclasses.asdict(self)

    @property
    def key(self) -> tuple:
        """The identity of a cell in a sweep: every field that changes what is measured."""
        return tuple(
            getattr(self, f.name) for f in dataclasses.fields(self) if f.name not in ("repeats", "warmup", "timeout_s")
        )


def check_method_solver(method: str, solver: str) -> None:
    """Raise :class:`ConfigError` when gradient method ``method`` does not support ``solver``."""
    from neural_ode.methods import METHODS

    unavailable = METHODS[method].unavailable()
    if unavailable is not None:
        raise ConfigError(f"method {method!r} is unavailable here: {unavailable}")
    METHODS[method].check_solver(solver)


def check_choice(name: str, value, allowed) -> None:
    """Raise :class:`ConfigError` unless ``value`` is one of ``allowed`` (the message lists them)."""
    if not isinstance(value, str) or value not in allowed:
        raise ConfigError(f"unknown {name} {value!r}; allowed: {', '.join(map(str, allowed))}")


def check_positive(name: str, value, integer: bool = False) -> None:
    """Raise :class:`ConfigError` unless ``value`` is a number (an integer if asked) above zero,
    finite, and for integers at most int64's maximum."""
    import math

    kind = "integer" if integer else "number"
    bad_type = (
        (not isinstance(value, int) or isinstance(value, bool))
        if integer
        else (not isinstance(value, int | float) or isinstance(value, bool))
    )
    if bad_type or not value > 0:
        raise ConfigError(f"{name} must be a positive {kind}, got {value!r}")
    if integer and value > INT64_MAX:
        raise ConfigError(f"{name} must be a positive {kind} of at most {INT64_MAX} (int64), got {value!r}")
    if not integer and not math.isfinite(value):
        raise ConfigError(f"{name} must be a finite positive {kind}, got {value!r}")
