"""The grid both benchmark suites measure, sized by ``NEURAL_ODE_BENCH_PROFILE``.

``smoke`` is one cell per solver kind and method, on a tiny MLP (batch 8, width 16, dim 4), for the
tests that check the suites run (a README line runs it on a fresh clone in a test).
``quick`` (the default) is a development subset: every gradient method, Euler and RK4 at 10 and
40 steps, dopri5 at two tolerances. ``full`` widens each axis (more solvers, deeper grids,
tighter tolerances); on two CPU cores one commit's ASV run of it takes minutes. Every profile
covers every registered gradient method: the axes come from the registries, so a new method is
benchmarked without editing this file.

A cell of the grid is a :class:`neural_ode.CellConfig`. ASV's parameters are a product, so a
product over method, solver and device would hold pairs that cannot run (checkpoint with an
adaptive solver, CUDA on a machine without a GPU) and show them as ``n/a``; instead each suite has
one parameter, ``cell``, listing only the cells this machine can run, each written as the config
fields that vary (``workload=mlp method=adjoint solver=rk4 steps=10 device=cpu``; ``tol`` sets both
``rtol`` and ``atol``), which the report's ASV reader maps back to cells.
This module uses only the core API (``CellConfig``, the registries, ``measure_cell``) so that
ASV can run the suite against older commits of the package.
"""

from __future__ import annotations

import itertools
import os
import sys
from dataclasses import dataclass

import torch

from neural_ode import DEVICES, METHODS, SOLVERS, CellConfig, measure_cell

PROFILE_VARIABLE = "NEURAL_ODE_BENCH_PROFILE"
DEFAULT_PROFILE = "quick"
# DEVICES (the config's) are the grid's devices: CUDA cells are skipped where torch sees no GPU
#: torch CPU threads of the suites (default 1, as the presets of ``neural-ode-bench run``): on a
#: shared machine a second thread turns preemption into percentiles 100x slower
THREADS_VARIABLE = "NEURAL_ODE_BENCH_THREADS"

FIXED_PARAM_NAMES = ["workload", "method", "solver", "steps", "device"]
ADAPTIVE_PARAM_NAMES = ["workload", "method", "solver", "horizon", "tol", "device"]
#: config fields a ``cell`` parameter may name whose values are integers
INT_FIELDS = ("steps", "batch", "width", "dim", "layers", "outputs")
#: the one ASV parameter of every suite: a cell, as ``name=value`` words
CELL_PARAM_NAMES = ["cell"]


@dataclass(frozen=True)
class Profile:
    """The axes of a benchmark grid (sizes are each workload's defaults unless ``sizes`` names others).

    Attributes:
        workloads: keys of ``WORKLOADS``.
        fixed_solvers, steps: fixed-grid solvers and their numbers of steps (over [0, 1]).
        adaptive_solvers, horizons, tols: adaptive solvers, integration horizons and
            tolerances (rtol = atol).
        sizes: ``(field, value)`` pairs of integer config fields (``batch``, ``width``, ``dim``) set
            on every cell; each cell's ``cell`` parameter then names them, so results read back
            to the cell that ran.
    """

    workloads: tuple[str, ...]
    fixed_solvers: tuple[str, ...]
    steps: tuple[int, ...]
    adaptive_solvers: tuple[str, ...]
    horizons: tuple[float, ...]
    tols: tuple[float, ...]
    sizes: tuple[tuple[str, int], ...] = ()


PROFILES: dict[str, Profile] = {
    "smoke": Profile(
        workloads=("mlp",),
        fixed_solvers=("euler",),
        steps=(10,),
        adaptive_solvers=("dopri5",),
        horizons=(1.0,),
        tols=(1e-3,),
        # a tiny problem that still runs every method's code path and where direct backprop saves over
        # 5x the adjoint's bytes (7x here; tests/test_pytest_benchmarks.py): the README's ASV line and the
        # suite tests measure every cell (a float64 reference each) and a fresh interpreter per cell
        sizes=(("batch", 8), ("width", 16), ("dim", 4)),
    ),
    "quick": Profile(
        workloads=("mlp",),
        fixed_solvers=("euler", "rk4"),
        steps=(10, 40),
        adaptive_solvers=("dopri5",),
        horizons=(1.0,),
        tols=(1e-3, 1e-6),
    ),
    "full": Profile(
        workloads=("mlp",),
        fixed_solvers=("euler", "midpoint", "rk4"),
        steps=(10, 40, 160),
        adaptive_solvers=("dopri5", "bosh3"),
        horizons=(1.0, 4.0),
        tols=(1e-3, 1e-6),
    ),
}


def apply_threads() -> int:
    """Set torch's CPU threads from ``$NEURAL_ODE_BENCH_THREADS`` (default 1); the count in use.

    Read here rather than from the package so that ASV can run the suite against older commits.
    """
    value = os.environ.get(THREADS_VARIABLE, "1")
    if not value.strip().isdigit() or int(value) < 1:
        raise ValueError(f"{THREADS_VARIABLE} must be a positive integer, got {value!r}")
    torch.set_num_threads(int(value))
    return torch.get_num_threads()


THREADS = apply_threads()


def under_asv_runner(argv: list[str]) -> bool:
    """True in a process asv started to run the suite (``asv/benchmark.py run_server|run|setup_cache|...``)."""
    return bool(argv) and argv[0].replace("\\", "/").endswith("asv/benchmark.py")


def die_with_asv(argv: list[str]) -> bool:
    """Under asv's runner, have the kernel kill this process when the process that started it ends, and
    every child it forks when it ends (``PR_SET_PDEATHSIG`` through :func:`neural_ode.family.die_with_parent`).

    asv's forkserver (``"launch_method": "forkserver"``) starts ``run_server``, which forks one child per
    benchmark; asv stops them itself on Ctrl-C but not when it is killed (SIGTERM, SIGKILL), which left
    ``run_server``, ``setup_cache`` and benchmark processes behind. True when arranged (Linux, asv's runner,
    a package that has :mod:`neural_ode.family`: older commits run without it).
    """
    if not under_asv_runner(argv):
        return False
    try:
        from neural_ode.family import die_with_parent
    except ImportError:
        return False
    die_with_parent()
    os.register_at_fork(after_in_child=die_with_parent)
    return True


DIES_WITH_ASV = die_with_asv(sys.argv)


def profile_name() -> str:
    """The profile chosen by ``$NEURAL_ODE_BENCH_PROFILE`` (default ``quick``)."""
    name = os.environ.get(PROFILE_VARIABLE, DEFAULT_PROFILE)
    if name not in PROFILES:
        raise ValueError(f"{PROFILE_VARIABLE}={name!r} is not a profile; allowed: {', '.join(PROFILES)}")
    return name


def profile() -> Profile:
    """The axes of the chosen profile."""
    return PROFILES[profile_name()]


def methods() -> list[str]:
    """Every registered gradient method that can run here (the method axis is never trimmed)."""
    from neural_ode.methods import available_methods

    return available_methods()


def devices() -> list[str]:
    """The devices this machine can measure: ``cpu``, and ``cuda`` where torch sees a GPU."""
    return [device for device in DEVICES if device != "cuda" or cuda_available()]


def fixed_params(prof: Profile | None = None) -> list[list]:
    """The fixed-grid axes, in the order of ``FIXED_PARAM_NAMES`` (devices of this machine only)."""
    prof = prof or profile()
    solvers = [name for name in prof.fixed_solvers if not SOLVERS[name].adaptive]
    return [list(prof.workloads), methods(), solvers, list(prof.steps), devices()]


def adaptive_params(prof: Profile | None = None) -> list[list]:
    """The adaptive-solver axes, in the order of ``ADAPTIVE_PARAM_NAMES`` (devices of this machine only)."""
    prof = prof or profile()
    solvers = [name for name in prof.adaptive_solvers if SOLVERS[name].adaptive]
    return [list(prof.workloads), methods(), solvers, list(prof.horizons), list(prof.tols), devices()]


def cell_param(names: list[str], values: tuple) -> str:
    """The ``cell`` parameter of one grid point: ``workload=mlp method=adjoint solver=rk4 steps=10 device=cpu``."""
    words = (f"{n}={v:g}" if isinstance(v, float) else f"{n}={v}" for n, v in zip(names, values, strict=True))
    return " ".join(words)


def parse_cell_param(text: str) -> CellConfig:
    """The cell of a ``cell`` parameter written by :func:`cell_param`."""
    fields: dict = {}
    for word in text.split():
        name, _, value = word.partition("=")
        if name == "tol":
            fields["rtol"] = fields["atol"] = float(value)
        elif name in INT_FIELDS:
            fields[name] = int(value)
        elif name == "horizon":
            fields[name] = float(value)
        else:
            fields[name] = value
    return CellConfig(**fields)


def _sized_param(names: list[str], values: tuple, prof: Profile) -> str:
    """:func:`cell_param` with the profile's sizes appended (``... device=cpu batch=8 width=16 dim=4``)."""
    sizes = dict(prof.sizes)
    return cell_param([*names, *sizes], (*values, *sizes.values()))


def fixed_cells(prof: Profile | None = None) -> list[str]:
    """ASV ``params`` values of the fixed-grid suites: every runnable cell (supported pairs, devices here)."""
    prof = prof or profile()
    combos = itertools.product(*fixed_params(prof))
    return [_sized_param(FIXED_PARAM_NAMES, p, prof) for p in combos if supported(p[1], p[2])]


def adaptive_cells(prof: Profile | None = None) -> list[str]:
    """ASV ``params`` values of the adaptive-solver suites: every runnable cell."""
    prof = prof or profile()
    combos = itertools.product(*adaptive_params(prof))
    return [_sized_param(ADAPTIVE_PARAM_NAMES, p, prof) for p in combos if supported(p[1], p[2])]


def supported(method: str, solver: str) -> bool:
    """Whether ``method`` works with ``solver`` (e.g. checkpoint is for fixed grids only)."""
    return METHODS[method].supports(solver)


def _require_supported(method: str, solver: str) -> None:
    # NotImplementedError is how ASV skips one combination of a parameter product
    if not supported(method, solver):
        raise NotImplementedError(f"method {method!r} does not support solver {solver!r}")


def fixed_cell(
    workload: str, method: str, solver: str, steps: int, device: str, prof: Profile | None = None
) -> CellConfig:
    """The cell of one fixed-grid parameter tuple (sizes: the profile's, else the workload's defaults)."""
    _require_supported(method, solver)
    sizes = dict((prof or profile()).sizes)
    return CellConfig(workload=workload, method=method, solver=solver, steps=steps, device=device, **sizes)


def adaptive_cell(
    workload: str, method: str, solver: str, horizon: float, tol: float, device: str, prof: Profile | None = None
) -> CellConfig:
    """The cell of one adaptive parameter tuple; ``tol`` is both rtol and atol (sizes as :func:`fixed_cell`)."""
    _require_supported(method, solver)
    sizes = dict((prof or profile()).sizes)
    return CellConfig(
        workload=workload, method=method, solver=solver, horizon=horizon, rtol=tol, atol=tol, device=device, **sizes
    )


def cuda_available() -> bool:
    """True when torch sees a CUDA GPU."""
    return torch.cuda.is_available()


def available(config: CellConfig) -> bool:
    """Whether this machine can measure ``config`` (CUDA cells need a GPU)."""
    return config.device != "cuda" or cuda_available()


def grid(prof: Profile | None = None) -> list[tuple[str, tuple, CellConfig]]:
    """Every cell of the profile: ``(kind, params, config)`` with kind ``fixed`` or ``adaptive``."""
    prof = prof or profile()
    fixed = [p for p in itertools.product(*fixed_params(prof)) if supported(p[1], p[2])]
    adaptive = [p for p in itertools.product(*adaptive_params(prof)) if supported(p[1], p[2])]
    return [("fixed", p, fixed_cell(*p, prof=prof)) for p in fixed] + [
        ("adaptive", p, adaptive_cell(*p, prof=prof)) for p in adaptive
    ]


def exact_figures(config: CellConfig, rss: str = "skip") -> dict:
    """The exact figures of ``config`` from the core (NFE, bytes, errors), as a record row.

    ``measure_cell`` without the timed repeats: one counted run, one profiled (CPU) or
    CUDA-statistics run, and the float64 reference.
    """
    return measure_cell(config, timing=False, rss=rss).to_dict()


def fresh_process_record(config: CellConfig) -> dict:
    """The record of ``config`` measured as a sweep does, in a new ``python -m neural_ode.sweeping.worker``
    (its RSS peak over the post-setup baseline: torch's import is not counted).

    A subprocess, not multiprocessing: a spawned or forkserver child of an ASV benchmark process
    would re-import ASV's own main module.
    """
    import json
    import subprocess
    import sys

    done = subprocess.run(
        [sys.executable, "-m", "neural_ode.sweeping.worker"],
        input=json.dumps(config.to_dict()),
        capture_output=True,
        text=True,
        timeout=config.timeout_s + 60,
        check=False,
    )
    lines = [line for line in done.stdout.splitlines() if line.strip()]
    if done.returncode != 0 or not lines:
        raise RuntimeError(f"the cell process failed (exit {done.returncode}): {done.stderr[-400:]}")
    return json.loads(lines[-1])


def rss_record(config: CellConfig) -> dict:
    """``{"status", "rss_peak_bytes", "error"}`` of ``config``: only its RSS peak, in a new interpreter.

    The package's :func:`~neural_ode.measuring.cell.rss_peak_in_fresh_process` runs one
    forward+backward and nothing else (a second or two a cell, torch's import included), where a
    whole cell record (:func:`fresh_process_record`) also times repeats and runs the profiler and the
    reference (a minute a cell on a busy machine: the smoke profile's ``setup_cache`` sat for more
    than ten minutes). Older commits without that function fall back to the whole record.
    """
    try:
        from neural_ode.measuring.cell import rss_peak_in_fresh_process
    except ImportError:
        return fresh_process_record(config)
    try:
        return {"status": "ok", "rss_peak_bytes": rss_peak_in_fresh_process(config), "error": None}
    except Exception as exc:  # the cell's own failure, named in the benchmark's skip message
        return {"status": "error", "rss_peak_bytes": None, "error": f"{type(exc).__name__}: {exc}"}


def cell_id(config: CellConfig) -> str:
    """A short readable id: ``mlp-rk4-steps10-adjoint-cpu`` or ``mlp-dopri5-h1-tol1e-06-direct-cpu``."""
    depth = f"h{config.horizon:g}-tol{config.rtol:g}" if config.adaptive else f"steps{config.steps}"
    return f"{config.workload}-{config.solver}-{depth}-{config.method}-{config.device}"


def group_name(config: CellConfig) -> str:
    """The configuration without the method: cells sharing it are compared side by side."""
    depth = f"h={config.horizon:g} tol={config.rtol:g}" if config.adaptive else f"steps={config.steps}"
    return f"{config.workload} {config.solver} {depth} {config.device}"
