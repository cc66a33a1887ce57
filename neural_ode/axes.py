"""The axes of a cell: every field that says which cell a figure belongs to, declared once.

An :class:`Axis` is the single declaration of one coordinate of a cell, as
:class:`neural_ode.results.schema.Metric` is of one measured figure. Everything that builds,
parses, pairs, groups, labels or plots cells takes its keys from :data:`AXES`:

* the fields of :class:`neural_ode.config.CellConfig` (the axes with ``config=True``) and its
  identity (:attr:`CellConfig.key`);
* the options of ``neural-ode-bench run`` and the keys of its ``--config`` TOML file (``option=True``),
  and the product a sweep plans (:mod:`neural_ode.sweeping.plan`);
* the first columns of ``results.csv`` (:mod:`neural_ode.results.frame`) and the record's
  provenance fields (the axes with ``config=False``);
* pairing in ``compare`` (:func:`config_identity`, :func:`machine_keys`), merging duplicates
  (:func:`identity`), every line of a figure, fit, claim or budget (:func:`line_keys`), the
  problems of the recommendations (:func:`problem_keys`) and every label (:meth:`Axis.text`).

Roles (:data:`ROLES`) say how an axis groups cells:

* ``depth``: a line is drawn along it (steps, horizon, tolerances): cells of one line differ only here;
* ``line``: separates lines within a panel (method, solver, landing, dtype, seed);
* ``table``: separates panels and tables: the problem's sizes and where it runs (workload, batch, width, ...);
* ``machine``: where and with what the cell ran (host, device name, library versions): recorded,
  never planned; ``compare`` refuses to pair across them unless told to;
* ``revision``: the code that measured (the commit): what ``compare`` compares across;
* ``setting``: how a cell is measured, not what (repeats, warm-up, time budget): no part of its identity.

Declare an axis before :mod:`neural_ode.config` is imported: the cell's dataclass is built from
the axes when that module loads (as the record is from the metric schema). This module imports
nothing of the package but the validation layer, so anything may import it.
"""

from __future__ import annotations

import importlib
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from neural_ode.errors import ConfigError
from neural_ode.validation import INT64_MAX, SEED_LIMIT, TIMEOUT_MAX_S

ROLES = ("depth", "line", "table", "machine", "revision", "setting")
KINDS = (str, int, float, bool)




@dataclass(frozen=True)
class Axis:
    """One coordinate of a cell.

    Attributes:
        name: the CellConfig field, the ``--name`` option and TOML key, the results column.
        kind: ``str``, ``int``, ``float`` or ``bool``.
        role: one of :data:`ROLES`.
        description: one line: what the axis is (the option's help text says it).
        default: the value when not given; None for the sizes (``from_workload``), for steps and
            tolerances (the solver decides which applies) and for absent provenance.
        option: a ``run`` option and ``--config`` key, and a sweep axis (comma lists).
        config: a field of CellConfig (else a provenance field of the record, filled by the measurement).
        choices: the allowed names: a tuple, or ``"module:NAME"`` of the registry that holds them
            (looked up when a value is checked, so this declaration imports no registry).
        chosen: what a user chooses to solve a problem (the recommendations pick it); the other
            identity axes define the problem.
        from_workload: None takes the workload's own default (``Workload.default(name)``).
        minimum, maximum: the range of a number (``minimum`` 1 for sizes; 0 for a seed).
        show: how one value is shown in a label: a format with ``{name}`` and ``{value}``, or for a
            bool the pair (text when false, text when true).
        resolver: ``"module:function"`` giving the registry's object of a value (a workload's
            name or factory -> its Workload); default: the entry of the ``choices`` registry.
    """

    name: str
    kind: type
    role: str
    description: str
    default: object = None
    option: bool = True
    config: bool = True
    choices: tuple | str | None = None
    chosen: bool = False
    from_workload: bool = False
    minimum: float | None = None
    maximum: float | None = None
    show: str | tuple[str, str] = "{name}={value}"
    resolver: str | None = None

    def __post_init__(self) -> None:
        if self.role not in ROLES:
            raise ValueError(f"axis {self.name!r}: unknown role {self.role!r}; allowed: {', '.join(ROLES)}")
        if self.kind not in KINDS:
            raise ValueError(f"axis {self.name!r}: kind must be one of str, int, float, bool; got {self.kind!r}")
        if not self.name.isidentifier():
            raise ValueError(f"axis {self.name!r}: a name must be a Python identifier")
        if self.minimum is None and self.kind in (int, float) and self.role != "machine":
            object.__setattr__(self, "minimum", 1 if self.kind is int else 0.0)
        if self.maximum is None and self.kind is int:
            object.__setattr__(self, "maximum", INT64_MAX)

    @property
    def identity(self) -> bool:
        """True when two cells differing here are different cells (every role but ``setting``)."""
        return self.role != "setting"

    def allowed(self) -> Mapping | tuple | None:
        """The allowed names (a registry or a tuple), None when any value of the kind is allowed."""
        if isinstance(self.choices, str):
            return _lookup(self.choices)
        return self.choices

    def resolve(self, value):
        """The registry's object named by ``value`` (a ConfigError naming what is allowed if none)."""
        if self.resolver is not None:
            return _lookup(self.resolver)(value)
        self.check(value)
        return self.allowed()[value]

    def check(self, value):
        """``value`` if it is one this axis takes (None where the default is None), else a
        :class:`ConfigError` naming the axis and what is allowed."""
        if value is None and (self.default is None or self.from_workload):
            return value
        if self.kind is bool:
            if not isinstance(value, bool):
                raise ConfigError(f"{self.name} must be true or false, got {value!r}")
            return value
        if self.kind is str:
            allowed = self.allowed()
            if self.name == "workload" and isinstance(value, str) and ":" in value:
                return value  # a user's factory, package.module:function
            if allowed is not None and (not isinstance(value, str) or value not in allowed):
                raise ConfigError(f"unknown {self.name} {value!r}; allowed: {', '.join(map(str, allowed))}")
            if not isinstance(value, str) or not value.strip() or "\0" in value:
                raise ConfigError(f"{self.name} must be a non-empty text value, got {value!r}")
            return value
        integer = self.kind is int
        what = "integer" if integer else "number"
        bad_type = (
            not isinstance(value, int) or isinstance(value, bool)
            if integer
            else not isinstance(value, int | float) or isinstance(value, bool)
        )
        low = self.minimum
        if bad_type or (not integer and not math.isfinite(value)):
            raise ConfigError(f"{self.name} must be a {_range(self)} {what}, got {value!r}")
        if low is not None and (value < low or (not integer and low == 0 and not value > 0)):
            raise ConfigError(f"{self.name} must be a {_range(self)} {what}, got {value!r}")
        if self.maximum is not None and value > self.maximum:
            raise ConfigError(f"{self.name} must be a {_range(self)} {what} of at most {self.maximum:g}, got {value!r}")
        return value

    def text(self, value) -> str:
        """One value as a label shows it (``8 steps``, ``rtol 1e-05``, ``landed``); empty for a
        missing value (steps of an adaptive cell, a tolerance of a fixed grid)."""
        if value is None or (isinstance(value, float) and not math.isfinite(value)):
            return ""
        if isinstance(self.show, tuple):
            return self.show[bool(value)]
        if self.kind is int:
            value = int(value)
        elif self.kind is float:
            value = f"{float(value):g}"
        elif self.kind is bool:
            value = "true" if value else "false"
        return self.show.format(name=self.name, value=value)


def _lookup(where: str):
    """The object ``module:name`` (a registry or its resolver), imported when first needed."""
    module, _, name = where.partition(":")
    return getattr(importlib.import_module(module), name)


def _range(axis: Axis) -> str:
    if axis.minimum == 0 and axis.kind is int:
        return "non-negative"
    return "positive" if axis.minimum is not None else "finite"


#: every axis, by name, in declaration order (the order of CellConfig's fields and results' columns)
AXES: dict[str, Axis] = {}


def declare(axis: Axis) -> Axis:
    """Add ``axis`` to :data:`AXES` (a name may be declared once); returns it.

    Declare before :mod:`neural_ode.config` is imported: CellConfig's fields are built from the
    axes when that module loads.
    """
    if axis.name in AXES:
        raise ValueError(f"axis {axis.name!r} is already declared")
    AXES[axis.name] = axis
    return axis


_WORKLOADS, _METHODS = "neural_ode.workloads:WORKLOADS", "neural_ode.methods:METHODS"
_SOLVERS = "neural_ode.solvers:SOLVERS"
for _axis in (
    Axis("workload", str, "table", "the problem: a registered workload, or your own package.module:factory",
         "mlp", choices=_WORKLOADS, show="{value}", resolver="neural_ode.workloads:workload_of"),
    Axis("method", str, "line", "the gradient method", "direct", choices=_METHODS, chosen=True, show="{value}"),
    Axis("solver", str, "line", "the solver: fixed-grid ones take --steps, adaptive ones a tolerance", "rk4",
         choices=_SOLVERS, chosen=True, show="{value}"),
    Axis("steps", int, "depth", "grid steps of fixed-grid solvers over [0, horizon] (None for adaptive ones)",
         chosen=True, show="{value} steps"),
    Axis("horizon", float, "depth", "end of the integration interval [0, T] in model time: adaptive solvers' depth",
         1.0, show="t1={value}"),
    Axis("rtol", float, "depth", "relative tolerance of adaptive solvers (None for fixed grids)", chosen=True,
         show="{name} {value}"),
    Axis("atol", float, "depth", "absolute tolerance of adaptive solvers (None for fixed grids)", chosen=True,
         show="{name} {value}"),
    Axis("batch", int, "table", "batch size", from_workload=True),
    Axis("width", int, "table", "hidden width (MLP fields) or channels (conv)", from_workload=True),
    Axis("dim", int, "table", "state size (mlp, cnf) or latent size (latent)", from_workload=True),
    Axis("layers", int, "table", "hidden layers of the vector field (MLP fields) or convolutions (conv)",
         from_workload=True),
    Axis("outputs", int, "table", "output times the loss depends on (1: the final state), evenly spaced in "
         "(0, T] unless the workload brings its own", from_workload=True),
    Axis("stage", int, "table", "training stage of a fitted field: 0 its initialisation from the seed, k the fit "
         "after k/N of its training (workloads with stages: cnf, cnf-hutchinson, latent; the others only 0)", 0,
         minimum=0, show="{name} {value}"),
    Axis("device", str, "table", "cpu or cuda", "cpu", choices=("cpu", "cuda"), show="{value}"),
    Axis("dtype", str, "line", "float32 or float64", "float32", choices=("float32", "float64"), chosen=True,
         show="{value}"),
    Axis("land", bool, "line", "true: torchdiffeq's adaptive solvers step onto the output times instead of "
         "interpolating there (fixed grids and the own integrators always land)", False, chosen=True,
         show=("interpolated at the output times", "landed on the output times")),
    Axis("seed", int, "line", "seed of the parameters, the initial state and the target", 0, option=False,
         minimum=0, maximum=SEED_LIMIT - 1),
    Axis("max_num_steps", int, "line", "cap on the accepted+rejected steps of an adaptive solve", 20_000,
         option=False),
    Axis("repeats", int, "setting", "timed repeats after the warm-up: the fewest a calibrated cell takes, the "
         "fixed count of one that is not (max_repeats None or at most repeats)", 5, option=False),
    Axis("warmup", int, "setting", "untimed warm-up rounds", 1, option=False, minimum=0),
    Axis("timeout_s", float, "setting", "wall-clock budget of the whole cell, seconds", 300.0, option=False,
         maximum=TIMEOUT_MAX_S),
    Axis("max_repeats", int, "setting", "the most timed repeats calibration may take (None: a fixed count of "
         "repeats); repeats go on until the 95 % interval of the median is within ci_halfwidth or time_budget_s "
         "runs out", None, option=False),
    Axis("ci_halfwidth", float, "setting", "calibration's target: the 95 % interval of the forward and backward "
         "medians within ± this fraction of them", 0.05, option=False, maximum=1.0),
    Axis("time_budget_s", float, "setting", "calibration's budget: seconds of timed repeats after which no more "
         "are taken (the fewest, repeats, are always taken)", 1.0, option=False, maximum=TIMEOUT_MAX_S),
    # where it ran: filled by the measurement (the record's provenance), never planned
    Axis("threads", int, "table", "torch CPU threads during the measurement", option=False, config=False),
    Axis("hostname", str, "machine", "the machine's host name", option=False, config=False, show="host {value}"),
    Axis("device_name", str, "machine", "the CPU or GPU model", option=False, config=False, show="{value}"),
    Axis("torch_version", str, "machine", "torch's version", option=False, config=False, show="torch {value}"),
    Axis("torchdiffeq_version", str, "machine", "torchdiffeq's version", option=False, config=False,
         show="torchdiffeq {value}"),
    Axis("torchode_version", str, "machine", "torchode's version (None: not installed)", option=False,
         config=False, show="torchode {value}"),
    Axis("python_version", str, "machine", "Python's version", option=False, config=False, show="Python {value}"),
    # the machine's identity beyond its host name and CPU model (neural_ode.measuring.provenance.machine_identity):
    # two VMs called "vm" on "AMD EPYC" are told apart; records without them are not known to be one machine
    Axis("machine_id", str, "machine", "a hash of /etc/machine-id (never the id itself)", option=False,
         config=False, show="machine {value}"),
    Axis("cpu_flags", str, "machine", "a hash of the CPU's feature flags (/proc/cpuinfo)", option=False,
         config=False, show="CPU flags {value}"),
    Axis("cpu_caches", str, "machine", "the CPU's cache sizes (L1d, L1i, L2, L3)", option=False, config=False,
         show="caches {value}"),
    Axis("kernel_release", str, "machine", "the OS kernel's release", option=False, config=False,
         show="kernel {value}"),
    Axis("git_commit", str, "revision", "the commit the sweep started at", option=False, config=False,
         show="commit {value:.10}"),
):  # fmt: skip
    declare(_axis)


def config_axes() -> list[Axis]:
    """The axes that are fields of CellConfig, in declaration order."""
    return [a for a in AXES.values() if a.config]


def setting_axes() -> list[Axis]:
    """The axes that say how a cell is measured (role ``setting``): ``run``'s settings options and
    ``--config`` keys (:func:`setting_key`), :class:`neural_ode.sweeping.plan.RunSettings` and the presets."""
    return [a for a in AXES.values() if a.role == "setting" and a.config]


def setting_key(axis: Axis) -> str:
    """A setting's ``--config`` key and option name: its axis name without the unit ``_s``
    (``timeout_s`` -> ``timeout``, option ``--timeout``; ``max_repeats`` -> option ``--max-repeats``)."""
    return axis.name.removesuffix("_s")


def option_axes() -> list[Axis]:
    """The axes a sweep takes as options (``--name`` and TOML keys), in declaration order."""
    return [a for a in AXES.values() if a.option]


def identity() -> tuple[str, ...]:
    """Every axis that tells two cells apart, machine included: what makes two rows the same cell."""
    return tuple(a.name for a in AXES.values() if a.identity)


def config_identity() -> tuple[str, ...]:
    """The identity of a cell's configuration (:attr:`CellConfig.key`'s fields, and the recorded
    ``threads``): what ``compare`` pairs on."""
    return tuple(a.name for a in AXES.values() if a.identity and a.role not in ("machine", "revision"))


def machine_keys() -> tuple[str, ...]:
    """The axes that identify where a cell ran (host, device name, library versions, commit)."""
    return tuple(a.name for a in AXES.values() if a.role == "machine")


def depth_keys() -> tuple[str, ...]:
    """The axes a line of cost against depth is drawn along (steps, horizon, tolerances)."""
    return tuple(a.name for a in AXES.values() if a.role == "depth")


def line_keys(along: Iterable[str] | None = None) -> tuple[str, ...]:
    """What the cells of one line share: every identity axis but those the line is drawn
    ``along`` (default: the depth axes)."""
    along = set(depth_keys() if along is None else along)
    return tuple(name for name in identity() if name not in along)


def problem_keys() -> tuple[str, ...]:
    """What defines a problem the recommendations solve: the configuration's identity axes that
    are not a user's choice (workload, horizon, sizes, device, seed, ...)."""
    return tuple(
        a.name for a in AXES.values() if a.identity and a.role not in ("machine", "revision") and not a.chosen
    )


def choice_keys() -> tuple[str, ...]:
    """What a user chooses to solve a problem (method, solver, steps, tolerances, landing, dtype)."""
    return tuple(a.name for a in AXES.values() if a.identity and a.chosen)


def text(name: str, value) -> str:
    """``value`` of axis ``name`` as a label shows it (plain text for a column that is no axis)."""
    axis = AXES.get(name)
    if axis is None:
        return "" if value is None or (isinstance(value, float) and math.isnan(value)) else str(value)
    if axis.kind in (int, float) and isinstance(value, str):
        return value
    if axis.kind is bool and value is not None and not isinstance(value, bool):
        try:
            value = bool(value) if not (isinstance(value, float) and math.isnan(value)) else None
        except (TypeError, ValueError):
            return str(value)
    return axis.text(value)


def label(values: Mapping, keys: Iterable[str]) -> str:
    """A label naming ``values`` of ``keys`` (``dopri5 · rtol 1e-05 · layers=3``), joined by a middle dot.

    ``land`` names what happened, not the setting, where ``values`` name the method and solver: a
    fixed grid or the lean core lands whatever ``land`` says (:func:`lands_anyway`)."""
    parts = (
        text(key, True if key == "land" and lands_anyway(values) else values.get(key))
        for key in keys
        if shown(key, values)
    )
    return " · ".join(part for part in parts if part)


def shown(key: str, values: Mapping) -> bool:
    """Whether a label of ``values`` names axis ``key`` at all: every axis does, but ``stage`` only
    where ``values`` name a workload with training stages (or none known). A stage-less workload
    is always at stage 0, and "stage 0" would read as untrained (spiral and digits are fitted)."""
    if key != "stage":
        return True
    workload = values.get("workload")
    workloads = AXES["workload"].allowed()
    if not isinstance(workload, str) or workload not in workloads:
        return True
    return bool(getattr(workloads[workload], "stages", 0))


def lands_anyway(values: Mapping) -> bool:
    """True when the cell's method and solver land on the output times whatever ``land`` says: a
    fixed-grid solver, or a method whose solver never interpolates there (the lean core)."""
    method, solver = values.get("method"), values.get("solver")
    methods, solvers = AXES["method"].allowed(), AXES["solver"].allowed()
    if not isinstance(method, str) or not isinstance(solver, str) or method not in methods or solver not in solvers:
        return False
    return not (solvers[solver].adaptive and getattr(methods[method], "interpolates_outputs", False))


__all__ = [
    "AXES", "ROLES", "Axis", "ConfigError", "choice_keys", "config_axes", "config_identity", "declare",
    "depth_keys", "identity", "label", "lands_anyway", "line_keys", "machine_keys", "option_axes", "problem_keys",
    "setting_axes", "setting_key", "shown", "text",
]  # fmt: skip
