"""The cell: one configuration to measure, as a frozen, validated dataclass built from the axes.

A cell is workload x gradient method x solver x depth x tolerance x size x device x dtype x
seed, and whatever else :mod:`neural_ode.axes` declares: CellConfig has one field per axis with
``config=True`` (declared there once, with its kind, range and allowed names), so a new axis needs
no edit here. Depth is ``steps`` (number of grid steps) for fixed-grid solvers and ``horizon``
(the integration time t1, from t0 = 0) for adaptive ones; ``rtol``/``atol`` apply to adaptive
solvers only. Sizes left as None take the workload's defaults when the config is built.

This module imports no registry: names are checked against the registries the axes name.
"""

from __future__ import annotations

import dataclasses
import math

from neural_ode.axes import AXES, config_axes
from neural_ode.errors import ConfigError
from neural_ode.solvers import SOLVERS
from neural_ode.validation import INT64_MAX

DTYPES = AXES["dtype"].choices
DEVICES = AXES["device"].choices
DEFAULT_TOL = 1e-6


class _CellBase:
    """What to measure; the fields are the axes of :mod:`neural_ode.axes` with ``config=True``.
    Units: ``horizon`` in model time, ``timeout_s`` in seconds.

    Attributes (the built-in axes):
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
        land: make torchdiffeq's adaptive solvers step exactly onto the output times (``step_t``)
            instead of returning an interpolated value there; no effect on fixed grids and on the
            project's own integrators, which always land.
        seed: seeds the parameters, the initial state and the target.
        max_num_steps: cap on accepted+rejected steps of an adaptive solve (then ``too_many_steps``).
        repeats: timed repeats after ``warmup`` untimed ones.
        timeout_s: wall-clock budget of the whole cell measurement.
    """

    def __post_init__(self) -> None:
        for axis in config_axes():
            if axis.from_workload or axis.name in ("steps", "rtol", "atol"):
                continue
            axis.check(getattr(self, axis.name))
        workload = AXES["workload"].resolve(self.workload)  # a user's factory: imported here, ConfigError if not
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
        for axis in config_axes():
            if axis.from_workload:
                if getattr(self, axis.name) is None:
                    self._set(axis.name, workload.default(axis.name))
                axis.check(getattr(self, axis.name))
        check_stage(workload, self.stage)

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

    def replace(self, **changes):
        """A copy with some fields changed (validated again)."""
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict:
        """The fields as a plain dict (JSON-ready)."""
        return dataclasses.asdict(self)

    @property
    def key(self) -> tuple:
        """The identity of a cell in a sweep: every axis that changes what is measured (not the settings)."""
        return tuple(getattr(self, a.name) for a in config_axes() if a.identity)


def build_config_class() -> type:
    """The frozen CellConfig dataclass of the declared axes (``config=True``), in declaration order."""
    fields = [
        (a.name, a.kind | None, dataclasses.field(default=a.default)) for a in config_axes()
    ]
    return dataclasses.make_dataclass(
        "CellConfig", fields, bases=(_CellBase,), frozen=True,
        namespace={"__doc__": _CellBase.__doc__, "__module__": __name__},
    )  # fmt: skip


CellConfig = build_config_class()


def check_method_solver(method: str, solver: str) -> None:
    """Raise :class:`ConfigError` when gradient method ``method`` does not support ``solver``."""
    methods = AXES["method"].allowed()  # the registry the method axis names
    unavailable = methods[method].unavailable()
    if unavailable is not None:
        raise ConfigError(f"method {method!r} is unavailable here: {unavailable}")
    methods[method].check_solver(solver)


def check_stage(workload, stage: int) -> None:
    """Raise :class:`ConfigError` unless ``workload`` has training stage ``stage`` (0 always; a
    workload with stages also 1..its ``stages``); the message names what is allowed."""
    stages = getattr(workload, "stages", 0)
    if 0 <= stage <= stages:
        return
    if stages:
        raise ConfigError(f"workload {workload.name!r} has training stages 0..{stages}, got stage {stage}")
    staged = [f"{name} (0..{w.stages})" for name, w in AXES["workload"].allowed().items() if w.stages]
    raise ConfigError(
        f"workload {workload.name!r} has no training stages: stage must be 0, got {stage} "
        f"(workloads with stages: {', '.join(staged)})"
    )


def check_choice(name: str, value, allowed) -> None:
    """Raise :class:`ConfigError` unless ``value`` is one of ``allowed`` (the message lists them)."""
    if not isinstance(value, str) or value not in allowed:
        raise ConfigError(f"unknown {name} {value!r}; allowed: {', '.join(map(str, allowed))}")


__all__ = [
    "DEVICES", "DTYPES", "CellConfig", "ConfigError", "check_choice", "check_method_solver", "check_positive",
    "check_stage",
]


def check_positive(name: str, value, integer: bool = False) -> None:
    """Raise :class:`ConfigError` unless ``value`` is a number (an integer if asked) above zero,
    finite, and for integers at most int64's maximum."""
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
