"""Planning a sweep: axes -> the list of cells to measure, all validated before anything runs.

Each axis is a tuple of values and the cells are their product, with one rule for depth and
tolerance, because a solver takes one or the other:

- a fixed-grid solver takes ``steps`` x ``horizon`` (the tolerance axes do not apply to it);
- an adaptive solver takes ``horizon`` x tolerance (``steps`` does not apply to it).

Tolerances: rtol = atol = each value of ``tol``, unless ``rtol`` or ``atol`` is given; then the
cells take ``rtol`` x ``atol``, the side not given taken from ``tol``. A cell that comes out of
two grids twice (same :attr:`CellConfig.key`) is measured once.

Bad input raises :class:`neural_ode.config.ConfigError` with a message naming the bad value and
what is allowed; the command line turns it into a one-line error and exit status 2.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from neural_ode.config import DEVICES, DTYPES, CellConfig, ConfigError
from neural_ode.methods import METHODS
from neural_ode.solvers import ADAPTIVE_SOLVERS, FIXED_SOLVERS, SOLVERS
from neural_ode.sweeping.presets import Preset
from neural_ode.workloads import WORKLOADS

#: the axes of a sweep, in the order cells are enumerated
AXES = ("workload", "method", "solver", "steps", "horizon", "tol", "rtol", "atol", "batch", "width", "device", "dtype")
AXES += ("outputs", "layers", "dim", "land")
TOLERANCE_AXES = ("tol", "rtol", "atol")

_CHOICES = {
    "workload": WORKLOADS,
    "method": METHODS,
    "solver": SOLVERS,
    "device": DEVICES,
    "dtype": DTYPES,
}
_POSITIVE_INTS = ("steps", "batch", "width", "outputs", "layers", "dim")
_POSITIVE_FLOATS = ("horizon", "tol", "rtol", "atol")
_BOOLEANS = ("land",)
_TRUE, _FALSE = ("true", "yes", "1", "on"), ("false", "no", "0", "off")


def boolean(name: str, value) -> bool:
    """``value`` (a bool, or true/false, yes/no, 1/0, on/off) as a bool, or a ConfigError naming ``name``."""
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in _TRUE or text in _FALSE:
        return text in _TRUE
    raise ConfigError(f"--{name} takes true or false (also yes/no, 1/0, on/off), got {value!r}")


@dataclass(frozen=True)
class RunSettings:
    """What every cell of a sweep shares: seed, timed ``repeats`` after ``warmup`` rounds, budget in s."""

    seed: int = 0
    repeats: int = 5
    warmup: int = 1
    timeout_s: float = 300.0


def split_values(value) -> list:
    """A comma list (``"8,16"``), a TOML list or a single value, as a list of values."""
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    if isinstance(value, list | tuple):
        return list(value)
    return [value]


def parse_axis(name: str, value) -> tuple:
    """The values of axis ``name`` from a comma list, a list or one value, checked and deduplicated.

    Raises:
        ConfigError: an unknown name (the message lists the allowed ones), a non-positive or
            non-numeric size, depth or tolerance, or an empty list.
    """
    if name not in AXES:
        raise ConfigError(f"unknown axis {name!r}; allowed: {', '.join(AXES)}")
    values = split_values(value)
    if not values:
        raise ConfigError(f"--{name} needs at least one value")
    parsed = []
    for item in values:
        if name == "workload" and isinstance(item, str) and ":" in item:
            parsed.append(item)  # a user's factory, package.module:function: checked in plan()
        elif name in _CHOICES:
            if not isinstance(item, str) or item not in _CHOICES[name]:
                raise ConfigError(f"unknown {name} {item!r}; allowed: {', '.join(_CHOICES[name])}")
            parsed.append(item)
        elif name in _POSITIVE_INTS:
            parsed.append(positive_int(name, item))
        elif name in _BOOLEANS:
            parsed.append(boolean(name, item))
        else:
            parsed.append(positive_float(name, item))
    return tuple(dict.fromkeys(parsed))


def positive_int(name: str, value) -> int:
    """``value`` as an integer in [1, int64 max] (ASCII digits only), or a ConfigError naming ``name``."""
    from neural_ode.validation import parse_int

    return parse_int(f"--{name}", value, error=ConfigError)


def positive_float(name: str, value) -> float:
    """``value`` as a finite number > 0 (ASCII decimal text or a number), or a ConfigError naming ``name``."""
    from neural_ode.validation import TIMEOUT_MAX_S, parse_float

    return parse_float(f"--{name}", value, maximum=TIMEOUT_MAX_S if name == "timeout" else math.inf, error=ConfigError)


def check_axes(axes: Mapping[str, Sequence], given: Iterable[str]) -> None:
    """Checks across axes: a depth or tolerance axis given where no solver takes it; CUDA absent.

    ``given`` names the axes the user set (a preset's own axes are never an error).
    """
    given = set(given)
    solvers = axes["solver"]
    given_tolerances = [name for name in TOLERANCE_AXES if name in given]
    if given_tolerances and not any(SOLVERS[s].adaptive for s in solvers):
        raise ConfigError(
            f"--{given_tolerances[0]} was given but every solver walks a fixed grid ({', '.join(solvers)}); "
            f"tolerances apply to adaptive solvers only: {', '.join(ADAPTIVE_SOLVERS)}"
        )
    if "steps" in given and all(SOLVERS[s].adaptive for s in solvers):
        raise ConfigError(
            f"--steps was given but every solver is adaptive ({', '.join(solvers)}); "
            f"steps apply to fixed-grid solvers only: {', '.join(FIXED_SOLVERS)}"
        )
    for method in axes["method"]:
        unavailable = METHODS[method].unavailable()
        if unavailable is not None:  # named explicitly: refused even where no solver given suits it
            raise ConfigError(f"method {method!r} is unavailable here: {unavailable}")
    if "cuda" in axes["device"]:
        import torch

        if not torch.cuda.is_available():
            raise ConfigError(
                f"--device cuda: no CUDA device is available here (torch {torch.__version__}); allowed: cpu"
            )


def tolerance_pairs(axes: Mapping[str, Sequence]) -> list[tuple[float, float]]:
    """The (rtol, atol) pairs of adaptive cells (see the module's rule)."""
    rtols, atols = axes.get("rtol"), axes.get("atol")
    if not rtols and not atols:
        return [(tol, tol) for tol in axes["tol"]]
    return list(itertools.product(rtols or axes["tol"], atols or axes["tol"]))


def expand(axes: Mapping[str, Sequence], settings: RunSettings) -> list[CellConfig]:
    """The cells of one grid (every axis of :data:`AXES` but rtol/atol must be present)."""
    common = {"seed": settings.seed, "repeats": settings.repeats, "warmup": settings.warmup}
    cells = []
    for workload, method, solver, horizon, batch, width, device, dtype, outputs, layers, dim, land in itertools.product(
        axes["workload"],
        axes["method"],
        axes["solver"],
        axes["horizon"],
        axes["batch"],
        axes["width"],
        axes["device"],
        axes["dtype"],
        axes.get("outputs", (None,)),
        axes.get("layers", (None,)),
        axes.get("dim", (None,)),
        axes.get("land", (False,)),
    ):
        if not METHODS[method].supports(solver):
            continue  # e.g. checkpoint on an adaptive solver: not a cell of this product
        if land and not (SOLVERS[solver].adaptive and METHODS[method].interpolates_outputs):
            continue  # fixed grids and the own integrators land anyway: the same cell as land=false
        base = dict(
            workload=workload,
            method=method,
            solver=solver,
            horizon=float(horizon),
            batch=batch,
            width=width,
            device=device,
            dtype=dtype,
            outputs=outputs,
            layers=layers,
            dim=dim,
            land=land,
            timeout_s=settings.timeout_s,
            **common,
        )
        if SOLVERS[solver].adaptive:
            cells += [CellConfig(**base, rtol=rtol, atol=atol) for rtol, atol in tolerance_pairs(axes)]
        else:
            cells += [CellConfig(**base, steps=steps) for steps in axes["steps"]]
    return cells


#: the most cells a sweep may plan without ``--yes``
MAX_CELLS = 10_000


def plan(
    preset: Preset, given: Mapping[str, Sequence], settings: RunSettings, max_cells: int | None = None
) -> list[CellConfig]:
    """The cells of a sweep: ``preset``'s grids, or, when axes are ``given``, the one grid they make.

    ``given`` maps axis names to raw values (comma lists, lists or single values), as parsed by
    :func:`parse_axis`. Raises :class:`ConfigError` for any bad input, before anything runs, and
    for a sweep of more than ``max_cells`` cells (None: no limit).
    """
    parsed = {name: parse_axis(name, value) for name, value in given.items()}
    grids = [{**preset.base, **parsed}] if parsed else preset.grid_axes()
    cells: dict[tuple, CellConfig] = {}
    for axes in grids:
        check_axes(axes, parsed)
        bound = math.prod(len(v) for v in axes.values() if isinstance(v, list | tuple))
        if max_cells is not None and bound > 100 * max_cells:  # too many to even list them
            raise ConfigError(_too_many(f"up to {bound:,}", max_cells))
        for cell in expand(axes, settings):
            cells.setdefault(cell.key, cell)
    if max_cells is not None and len(cells) > max_cells:
        raise ConfigError(_too_many(f"{len(cells):,}", max_cells))
    check_factories(cells.values())
    if not cells:
        pairs = "; ".join(
            f"{name} supports {', '.join(METHODS[name].supported_solvers)}"
            for name in dict.fromkeys(m for axes in grids for m in axes["method"])
            if METHODS[name].supported_solvers is not None
        )
        raise ConfigError(f"no cell to run: no method given supports any solver given ({pairs})")
    return list(cells.values())


def _too_many(size: str, limit: int) -> str:
    return f"the sweep planned has {size} cells, more than {limit:,}; add --yes to run it, or give fewer axis values"


def check_factories(cells: Iterable[CellConfig]) -> None:
    """Build each user factory's problem once (its first cell), so a broken factory stops the sweep before it runs."""
    from neural_ode.workloads.user import check_factory

    checked = set()
    for cell in cells:
        if ":" in cell.workload and cell.workload not in checked:
            checked.add(cell.workload)
            check_factory(cell)


def cell_label(config: CellConfig) -> str:
    """A short name of a cell, for the progress bar: ``mlp adjoint dopri5 h=1 tol=1e-05 b64 w128``."""
    depth = f"h={config.horizon:g}"
    if config.adaptive:
        tol = f"tol={config.rtol:g}" if config.rtol == config.atol else f"rtol={config.rtol:g} atol={config.atol:g}"
        depth += f" {tol}"
    else:
        depth = f"steps={config.steps} {depth}"
    extra = f" out={config.outputs}" if config.outputs != 1 else ""
    extra += f" l{config.layers}" if config.layers != 1 else ""
    extra += f" {config.device}" if config.device != "cpu" else ""
    extra += f" {config.dtype}" if config.dtype != "float32" else ""
    return f"{config.workload} {config.method} {config.solver} {depth} b{config.batch} w{config.width}{extra}"
