"""Presets: named sweeps, each the union of a few grids over the sweep axes.

A preset has ``base`` axes (every axis, each a tuple of values) and ``grids``, each a few axes
that replace the base ones; a grid's cells are the product of its axes (see
:mod:`neural_ode.sweeping.plan` for how fixed-grid and adaptive solvers take the depth and tolerance
axes). A sweep with axes given on the command line is one grid: the base with those axes
replaced. Adding a preset is one entry in ``PRESETS``.

Sizes: ``batch``/``width`` None take the workload's defaults.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from neural_ode.methods import METHODS
from neural_ode.solvers import ADAPTIVE_SOLVERS, FIXED_SOLVERS
from neural_ode.workloads import WORKLOADS


@dataclass(frozen=True)
class Preset:
    """A named sweep.

    Attributes:
        name: what ``--preset`` takes.
        description: one line for ``neural-ode-bench list``.
        base: a value tuple for every axis of :data:`neural_ode.sweeping.plan.AXES` except rtol/atol.
        grids: the preset's grids, each mapping some axes to the values that replace the base's.
        repeats, warmup: timed repeats (the fewest) and untimed warm-up rounds per cell.
        timeout_s: the time budget of one cell, in seconds.
        threads: torch CPU threads of every cell process (``run --threads`` overrides it).
        max_repeats, ci_halfwidth, time_budget_s: calibrated timings: repeats go on until the 95 %
            interval of the forward and backward medians lies within ±``ci_halfwidth`` of them, or
            ``time_budget_s`` seconds of repeats have passed, or ``max_repeats`` were taken (see
            :func:`neural_ode.measuring.timing.time_forward_backward`). Every preset starts from 6
            repeats, the fewest whose [min, max] covers the median with 95 %.
    """

    name: str
    description: str
    base: Mapping[str, tuple]
    grids: tuple[Mapping[str, tuple], ...]
    repeats: int = 6
    warmup: int = 1
    timeout_s: float = 300.0
    threads: int = 1
    max_repeats: int | None = 50
    ci_halfwidth: float = 0.05
    time_budget_s: float = 2.0

    def grid_axes(self) -> list[dict[str, tuple]]:
        """The axes of every grid: the base with the grid's axes replaced."""
        return [{**self.base, **grid} for grid in self.grids]


#: the methods every installation has (the optional libraries' methods are named by the `libraries` preset)
#: every workload at its own sizes (the size axes None), on the CPU in float32
_OWN_SIZES = {name: (None,) for name in ("batch", "width", "outputs", "layers", "dim")} | {
    "device": ("cpu",),
    "dtype": ("float32",),
}

ALL_METHODS = tuple(name for name, method in METHODS.items() if method.requires is None)
_ADJOINTS = ("direct", "adjoint", "adjoint-seminorm")

#: small MLP problems: the whole quick run (report included) fits in minutes on two cores
_QUICK_BASE = {
    "workload": ("mlp",),
    "method": ALL_METHODS,
    "solver": ("rk4", "dopri5"),
    "steps": (10,),
    "horizon": (1.0,),
    "tol": (1e-5,),
    "batch": (128,),
    "width": (256,),
    "device": ("cpu",),
    "dtype": ("float32",),
    "land": (True,),  # torchdiffeq's adaptive solvers land on the output times, as the lean core does
}

QUICK = Preset(
    name="quick",
    description=(
        "MLP 64-256-64 batch 128, every method; rk4 over 4..32 steps, dopri5 over horizons 1..16, "
        "dopri5+bosh3 over tolerances 1e-3..1e-7, direct/adjoint over 4 and 16 output times, the trained spiral "
        "field and an atol << rtol seminorm cell (every figure, a few minutes on 2 cores)"
    ),
    base=_QUICK_BASE,
    grids=(
        {"solver": ("rk4",), "steps": (4, 8, 16, 32)},  # memory and time vs depth, fixed grid
        {"solver": ("dopri5",), "horizon": (1.0, 4.0, 16.0)},  # vs depth, adaptive
        {"solver": ("dopri5", "bosh3"), "tol": (1e-3, 1e-5, 1e-7)},  # NFE, error vs tolerance
        # issue 10: where each claim can show
        # output times: the adjoint's saved states and backward restarts grow with them
        {"method": ("direct", "adjoint"), "solver": ("rk4", "dopri5"), "steps": (16,), "outputs": (4, 16)},
        # a trained field: an adaptive solve of hundreds of evaluations (backward/forward NFE, seminorm)
        {
            "workload": ("spiral",),
            "method": _ADJOINTS,
            "solver": ("dopri5",),
            "horizon": (0.25,),
            "batch": (16,),
            "width": (50,),
        },
        # atol << rtol: the parameter-adjoint components drive the backward solve's rejections
        {"method": ("adjoint", "adjoint-seminorm"), "solver": ("dopri5",), "rtol": (1e-3,), "atol": (1e-8,)},
    ),
    # 7 rounds: the fewest whose Mann-Whitney p can fall below compare's 0.002; a problem's cells are timed
    # together, so a group of n cells has n x 2 s of rounds: the 53-cell mlp problem about 25 rounds,
    # enough for most paired ratios to be known within +-5 % on a quiet machine (6 rounds at 0.5 s a cell
    # gave 1 of 152)
    repeats=7,
    warmup=1,
    timeout_s=120.0,
    max_repeats=50,
    time_budget_s=2.0,
)

PAPER = Preset(
    name="paper",
    description=(
        "the paper's Table 1 memory/time columns and Figure 3: the ODE-Net conv block and the MLP, "
        "direct (RK-Net) vs adjoint (ODE-Net) over depth, dopri5 over tolerances 1e-1..1e-6"
    ),
    base={
        "workload": ("conv",),
        "method": ALL_METHODS,
        "solver": ("dopri5",),
        "steps": (10,),
        "horizon": (1.0,),
        "tol": (1e-3,),
        "batch": (None,),
        "width": (None,),
        "device": ("cpu",),
        "dtype": ("float32",),
    },
    grids=(
        # Table 1: memory O(L~) for direct, O(1) for adjoint; time O(L~) for both
        {"workload": ("conv", "mlp"), "solver": ("rk4",), "steps": (2, 4, 8, 16, 32)},
        {"workload": ("conv", "mlp"), "horizon": (0.5, 1.0, 2.0, 4.0)},
        # Figure 3 (a)-(c): NFE vs tolerance, time vs NFE, backward vs forward NFE
        {"workload": ("conv",), "tol": (1e-1, 1e-2, 1e-3, 1e-4, 1e-5, 1e-6)},
    ),
    repeats=6,
    warmup=1,
    timeout_s=600.0,
    max_repeats=100,
)

FULL = Preset(
    name="full",
    description=(
        "every workload, method and solver: fixed grids over 4..128 steps, adaptive solvers over "
        "horizons 0.5..8 and tolerances 1e-3..1e-8, float32 and float64 (hours)"
    ),
    base={
        "workload": tuple(WORKLOADS),
        "method": ALL_METHODS,
        "solver": tuple(FIXED_SOLVERS) + tuple(ADAPTIVE_SOLVERS),
        "steps": (10,),
        "horizon": (1.0,),
        "tol": (1e-6,),
        "batch": (None,),
        "width": (None,),
        "device": ("cpu",),
        "dtype": ("float32", "float64"),
    },
    grids=(
        {"solver": tuple(FIXED_SOLVERS), "steps": (4, 8, 16, 32, 64, 128)},
        {"solver": tuple(ADAPTIVE_SOLVERS), "horizon": (0.5, 1.0, 2.0, 4.0, 8.0)},
        {"solver": tuple(ADAPTIVE_SOLVERS), "tol": (1e-3, 1e-4, 1e-5, 1e-6, 1e-7, 1e-8)},
    ),
    repeats=7,
    warmup=2,
    timeout_s=900.0,
    max_repeats=100,
    time_budget_s=3.0,
)

APPLICATIONS = Preset(
    name="applications",
    description=(
        "the paper's applications and a stiff system: latent ODE over observation counts 10..200, "
        "CNF (exact and Hutchinson divergence) over dims 2 and 16, Van der Pol mu=1000 over solvers and horizons, "
        "the ODE-Net block fitted to the digits over tolerances and steps"
    ),
    base={
        "workload": ("latent",),
        "method": ALL_METHODS,
        "solver": ("dopri5",),
        "steps": (20,),
        "horizon": (1.0,),
        "tol": (1e-5,),
        **_OWN_SIZES,
    },
    grids=(
        # latent ODE: cost against the number of irregular observations, adaptive and fixed grid
        {"workload": ("latent",), "solver": ("dopri5", "rk4"), "outputs": (10, 50, 200)},
        {"workload": ("latent",), "method": _ADJOINTS, "tol": (1e-3,), "outputs": (10, 50, 200)},
        # CNF: exact divergence (dim products per evaluation) against Hutchinson (one), and field depth
        {"workload": ("cnf", "cnf-hutchinson"), "method": _ADJOINTS, "dim": (2, 16), "layers": (1, 3)},
        # stiff: which explicit solvers cope, at what cost; coarse grids fail (recorded with the reason)
        {
            "workload": ("stiff",),
            "method": ("direct", "adjoint"),
            "solver": ("dopri5", "bosh3", "adaptive_heun", "rk4"),
            "horizon": (0.1, 0.5),
            "tol": (1e-3, 1e-6),
            "steps": (100, 1000),
        },
        # a trained conv field with its classifier's loss: the ODE-Net block fitted to the digits
        {"workload": ("digits",), "method": _ADJOINTS, "solver": ("dopri5",), "tol": (1e-3, 1e-5)},
        {"workload": ("digits",), "method": ("direct", "adjoint"), "solver": ("rk4",), "steps": (4, 16)},
    ),
    repeats=6,
    warmup=1,
    timeout_s=300.0,
    time_budget_s=1.0,
)


# --- issue 13: which library ---
#: one method per route and library: torchdiffeq's, the lean core's and torchode's
LIBRARY_METHODS = (
    "direct", "adjoint", "own-adjoint", "aca", "torchode", "torchode-backsolve", "torchode-joint-backsolve",
)  # fmt: skip

LIBRARIES = Preset(
    name="libraries",
    description=(
        "which library: torchdiffeq, torchode (an extra) and the lean core on the same cells; MLP 64-256-64 "
        "batch 128, dopri5 (and torchode's tsit5) over tolerances 1e-3..1e-7, heun2 over 4..64 steps; "
        "the conv block at two tolerances"
    ),
    base={**_QUICK_BASE, "method": LIBRARY_METHODS},
    grids=(
        {"solver": ("dopri5", "tsit5"), "tol": (1e-3, 1e-4, 1e-5, 1e-6, 1e-7)},  # equal tolerance, work-precision
        {"solver": ("heun2",), "steps": (4, 8, 16, 32, 64)},  # fixed grid: per-step overhead, work-precision
        {"workload": ("conv",), "batch": (None,), "width": (None,), "solver": ("dopri5", "tsit5"), "tol": (1e-3, 1e-5)},
    ),
    repeats=6,
    warmup=1,
    timeout_s=300.0,
    max_repeats=100,
)

#: the latent ODE's field in the validation preset: wider and deeper than the workload's default
#: (20 x 1), whose fit stays below 100 forward NFE at rtol 1e-5
LATENT_WIDTH, LATENT_LAYERS = 50, 2

# --- issue 23: the cells behind the "Against published results" table (neural-ode-bench published) ---
VALIDATION = Preset(
    name="validation",
    description=(
        "the cells behind `neural-ode-bench published`: the seminorm and the backward/forward NFE ratio on the "
        "trained spiral and digits fields and on the cnf and latent ones at training stages 0..3 (fitted once "
        "and cached, a few minutes the first time), adjoint memory over 1..100 output times "
        "(torchdiffeq #259), and SciMLSensitivity's spiral (30 save points over its [0, 1.5]) through backsolve, "
        "checkpointed and direct gradients"
    ),
    base={
        "workload": ("spiral",),
        "method": ("adjoint", "adjoint-seminorm"),
        "solver": ("dopri5",),
        "steps": (10,),
        "horizon": (1.0,),
        "tol": (1e-3, 1e-5),
        **_OWN_SIZES,
    },
    grids=(
        {"workload": ("spiral", "digits")},  # seminorm, backward/forward NFE
        # the same along training (stage 0: untrained; 3: the whole fit, over 100 forward NFE at 1e-5)
        {"workload": ("cnf",), "stage": (0, 1, 2, 3)},
        {"workload": ("latent",), "stage": (0, 1, 2, 3), "width": (LATENT_WIDTH,), "layers": (LATENT_LAYERS,)},
        {"workload": ("mlp",), "method": ("adjoint", "direct"), "tol": (1e-5,), "outputs": (1, 10, 100),
         "batch": (16,), "width": (64,), "dim": (8,)},  # torchdiffeq #259
        # SciMLSensitivity's spiral: 2-50-2, t in [0, 1.5] of the demo's 25 (horizon 0.06), 30 save points
        {"method": ("adjoint", "aca", "direct"), "tol": (1e-5,), "horizon": (0.06,), "outputs": (30,)},
    ),
    repeats=6,
    warmup=1,
    timeout_s=300.0,
    max_repeats=100,
)

PRESETS: dict[str, Preset] = {
    preset.name: preset for preset in (QUICK, PAPER, FULL, APPLICATIONS, LIBRARIES, VALIDATION)
}

DEFAULT_PRESET = "quick"
