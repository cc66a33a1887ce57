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

DTYPES = ("float32", "float64")
DEVICES = ("cpu", "cuda")
DEFAULT_TOL = 1e-6


class ConfigError(ValueError):
    """A cell configuration that cannot be measured; the message says what is allowed."""


@dataclass(frozen=True)
class CellConfig:
    """What to measure. Units: ``horizon`` in model time, ``timeout_s`` in seconds.

    Attributes:
        workload: a key of ``neural_ode.workloads.WORKLOADS`` (``mlp``, ``conv``).
        method: a key of ``neural_ode.methods.METHODS`` (``direct``, ``adjoint``, ...).
        solver: a key of ``neural_ode.solvers.SOLVERS``.
        steps: fixed-grid steps over [0, horizon]; must be None for adaptive solvers.
        horizon: end of the integration interval (start is 0).
        rtol, atol: tolerances of adaptive solvers (default 1e-6 each); None for fixed grid.
        batch: batch size; width: hidden width (mlp) or channels (conv); dim: state size (mlp).
        device: ``cpu`` or ``cuda``; dtype: ``float32`` or ``float64``.
        seed: seeds the parameters, the initial state and the target.
        repeats: timed repeats after ``warmup`` untimed ones.
        timeout_s: wall-clock budget of the whole cell measurement.
        max_num_steps: cap on accepted+rejected steps of an adaptive solve (then ``too_many_steps``).
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
    device: str = "cpu"
    dtype: str = "float32"
    seed: int = 0
    repeats: int = 5
    warmup: int = 1
    timeout_s: float = 300.0
    max_num_steps: int = 20_000

    def __post_init__(self) -> None:
        from neural_ode.methods import METHODS
        from neural_ode.workloads import WORKLOADS

        check_choice("workload", self.workload, WORKLOADS)
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
        defaults = WORKLOADS[self.workload].defaults
        for name in ("batch", "width", "dim"):
            if getattr(self, name) is None:
                self._set(name, defaults[name])
            check_positive(name, getattr(self, name), integer=True)
        check_positive("repeats", self.repeats, integer=True)
        if not isinstance(self.warmup, int) or self.warmup < 0:
            raise ConfigError(f"warmup must be a non-negative integer, got {self.warmup!r}")
        check_positive("timeout_s", self.timeout_s)
        check_positive("max_num_steps", self.max_num_steps, integer=True)

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
    if not METHODS[method].supports(solver):
        supported = ", ".join(METHODS[method].supported_solvers)
        raise ConfigError(f"method {method!r} supports solvers {supported}; got {solver!r}")


def check_choice(name: str, value, allowed) -> None:
    """Raise :class:`ConfigError` unless ``value`` is one of ``allowed`` (the message lists them)."""
    if value not in allowed:
        raise ConfigError(f"unknown {name} {value!r}; allowed: {', '.join(map(str, allowed))}")


def check_positive(name: str, value, integer: bool = False) -> None:
    """Raise :class:`ConfigError` unless ``value`` is a number (an integer if asked) above zero."""
    kind = "integer" if integer else "number"
    bad_type = (
        (not isinstance(value, int) or isinstance(value, bool)) if integer else not isinstance(value, int | float)
    )
    if bad_type or not value > 0:
        raise ConfigError(f"{name} must be a positive {kind}, got {value!r}")
