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

from neural_ode.axes import AXES as CELL_AXES
from neural_ode.axes import option_axes, setting_axes
from neural_ode.config import CellConfig, ConfigError
from neural_ode.methods import METHODS
from neural_ode.solvers import ADAPTIVE_SOLVERS, FIXED_SOLVERS, SOLVERS
from neural_ode.sweeping.presets import Preset
from neural_ode.validation import TIMEOUT_MAX_S, parse_float, parse_int

#: the tolerance axes: ``tol`` sets rtol = atol (the only sweep axis that is no axis of a cell)
TOLERANCE_AXES = ("tol", "rtol", "atol")
#: the axes of a sweep (the cell axes declared with ``option=True``, and ``tol``), in the order
#: cells are enumerated
AXES = tuple(a.name for a in option_axes())
AXES = (*AXES[: AXES.index("rtol")], "tol", *AXES[AXES.index("rtol") :])
#: the axes a sweep takes the product of (depth and tolerances are taken per solver, see the module)
_PRODUCT_AXES = tuple(name for name in AXES if name not in ("steps", *TOLERANCE_AXES))
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
    """What every cell of a sweep shares: the seed and the setting axes (:func:`neural_ode.axes.setting_axes`):
    timed ``repeats`` (the fewest; up to ``max_repeats`` while calibrating to ``ci_halfwidth`` within
    ``time_budget_s`` seconds) after ``warmup`` rounds, the cell's ``timeout_s``."""

    seed: int = 0
    repeats: int = 5
    warmup: int = 1
    timeout_s: float = 300.0
    max_repeats: int | None = CELL_AXES["max_repeats"].default
    ci_halfwidth: float = CELL_AXES["ci_halfwidth"].default
    time_budget_s: float = CELL_AXES["time_budget_s"].default


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
        elif name == "tol":
            parsed.append(positive_float(name, item))
            continue
        axis = CELL_AXES[name]
        if axis.kind is bool:
            parsed.append(boolean(name, item))
        elif axis.kind is int:
            parsed.append(_integer(axis, item))
        elif axis.kind is float:
            parsed.append(positive_float(name, item))
        else:
            if isinstance(item, str):
                item = item.strip()
            parsed.append(axis.check(item))
    return tuple(dict.fromkeys(parsed))


def positive_float(name: str, value) -> float:
    """``value`` as a finite number > 0 (ASCII decimal text or a number), or a ConfigError naming ``name``."""
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
    """The cells of one grid: the product of its axes (an axis it lacks takes the cell's default),
    with depth and tolerance taken per solver (see the module)."""
    common = {"seed": settings.seed, **{a.name: getattr(settings, a.name) for a in setting_axes()}}
    names = [name for name in _PRODUCT_AXES if name in axes]
    cells = []
    for values in itertools.product(*(axes[name] for name in names)):
        base = dict(zip(names, values, strict=True))
        method, solver = base["method"], base["solver"]
        if not METHODS[method].supports(solver):
            continue  # e.g. checkpoint on an adaptive solver: not a cell of this product
        if base.get("land") and not (SOLVERS[solver].adaptive and METHODS[method].interpolates_outputs):
            base["land"] = False  # fixed grids and the own integrators land anyway: the same cell as land=false
        base["horizon"] = float(base["horizon"])
        if SOLVERS[solver].adaptive:
            cells += [CellConfig(**base, **common, rtol=rtol, atol=atol) for rtol, atol in tolerance_pairs(axes)]
        else:
            cells += [CellConfig(**base, **common, steps=steps) for steps in axes["steps"]]
    return list({cell.key: cell for cell in cells}.values())  # land=true,false: one cell where landing is moot


def _integer(axis, value) -> int:
    return parse_int(f"--{axis.name}", value, minimum=int(axis.minimum or 0), error=ConfigError)


def _own_sizes(preset: Preset, parsed: Mapping[str, tuple]) -> list[dict]:
    """The grids of a sweep given on the command line: the preset's base with the given axes
    replaced, where a workload that is not the preset's own brings its own defaults for every
    size axis not given (a preset's sizes are for its own workloads)."""
    grid = {**preset.base, **parsed}
    if "workload" not in parsed:
        return [grid]
    own = set(preset.base.get("workload", ()))  # the workloads the base's sizes were chosen for
    theirs = tuple(w for w in parsed["workload"] if w not in own)
    ours = tuple(w for w in parsed["workload"] if w in own)
    sizes = {a.name: (None,) for a in CELL_AXES.values() if a.from_workload and a.name not in parsed}
    grids = [{**grid, "workload": ours}] if ours else []
    if theirs:
        grids.append({**grid, **sizes, "workload": theirs})
    return grids


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
    grids = _own_sizes(preset, parsed) if parsed else preset.grid_axes()
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
    checked = check_factories(cells.values(), parsed)
    if not cells:
        pairs = "; ".join(
            f"{name} supports {', '.join(METHODS[name].supported_solvers)}"
            for name in dict.fromkeys(m for axes in grids for m in axes["method"])
            if METHODS[name].supported_solvers is not None
        )
        raise ConfigError(f"no cell to run: no method given supports any solver given ({pairs})")
    return checked


def _too_many(size: str, limit: int) -> str:
    return f"the sweep planned has {size} cells, more than {limit:,}; add --yes to run it, or give fewer axis values"


#: the sizes a user's factory's problem is read for (:func:`neural_ode.workloads.user.problem_sizes`)
FACTORY_SIZES = ("batch", "dim")


def check_factories(cells: Iterable[CellConfig], given: Iterable[str] = ()) -> list[CellConfig]:
    """Build each user factory's problem once (per distinct batch and dim given) in a child process, so a
    broken factory stops the sweep before it runs; returns the cells with the sizes the factory builds.

    ``batch`` and ``dim`` are read from the ``y0`` the factory returns (``y0.shape[0]`` and one sample's
    element count): where the sweep did not give that axis (``given`` holds the axes named on the command
    line), the cells take the factory's size, so records, choices.csv and the progress bar name what was
    measured rather than the axes' defaults; where it did and the factory builds another size, a
    :class:`ConfigError` (the factory ignores ``config.batch`` / ``config.dim``: leave the axis out)."""
    import sys

    from tqdm import tqdm

    from neural_ode.sweeping.factory_check import check_factory

    given = set(given)
    cells = list(cells)

    def key(cell: CellConfig) -> tuple:
        return (cell.workload, *(getattr(cell, name) for name in FACTORY_SIZES if name in given))

    first: dict[tuple, CellConfig] = {}
    for cell in cells:
        if ":" in cell.workload:
            first.setdefault(key(cell), cell)
    sizes: dict[tuple, dict] = {}
    # each check starts a Python with torch (seconds): a bar on a terminal's stderr, nothing elsewhere
    with tqdm(first.items(), desc="checking the user's factories", unit="factory", file=sys.stderr,
              disable=None if first else True, leave=False) as bar:  # fmt: skip
        for name, cell in bar:
            sizes[name] = check_factory(cell)
    out = []
    for cell in cells:
        if ":" not in cell.workload:
            out.append(cell)
            continue
        built = sizes[key(cell)]
        if not built:  # a check that reports no sizes (a stand-in) leaves the cells as planned
            out.append(cell)
            continue
        for name in FACTORY_SIZES:
            if name in given and built[name] != getattr(cell, name):
                raise ConfigError(
                    f"workload {cell.workload!r}: the factory builds {name} {built[name]} (y0 of shape "
                    f"{tuple(built['shape'])}) but --{name} {getattr(cell, name)} was given; leave --{name} out to "
                    f"record the factory's own {name}, or have the factory read config.{name}"
                )
        changes = {n: built[n] for n in FACTORY_SIZES if n not in given and built[n] != getattr(cell, n)}
        out.append(cell.replace(**changes) if changes else cell)
    return list({cell.key: cell for cell in out}.values())


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
    shown = {"workload", "method", "solver", "steps", "horizon", "rtol", "atol", "batch", "width", "outputs", "layers"}
    for axis in option_axes():  # every other axis where the cell is not at its default (device, dtype, landing, ...)
        value = getattr(config, axis.name)
        if axis.name not in shown and not axis.from_workload and value != axis.default:
            extra += f" {axis.text(value)}"
    return f"{config.workload} {config.method} {config.solver} {depth} b{config.batch} w{config.width}{extra}"
