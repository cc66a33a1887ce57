"""Presets: each plans to valid cells, and quick/paper hold the cells every figure and claim needs."""

from __future__ import annotations

from collections import defaultdict

from neural_ode.methods import METHODS
from neural_ode.solvers import SOLVERS
from neural_ode.sweeping.plan import RunSettings, plan
from neural_ode.sweeping.presets import DEFAULT_PRESET, PRESETS
from neural_ode.workloads import WORKLOADS


def cells_of(name):
    preset = PRESETS[name]
    return plan(preset, {}, RunSettings(repeats=preset.repeats, warmup=preset.warmup, timeout_s=preset.timeout_s))


def test_the_default_preset_is_quick_and_every_preset_has_a_description():
    assert DEFAULT_PRESET == "quick"
    assert set(PRESETS) >= {"quick", "paper", "full"}
    assert all(preset.description and "\n" not in preset.description for preset in PRESETS.values())


CORE_METHODS = {name for name, method in METHODS.items() if method.requires is None}


def test_every_preset_measures_every_method():
    # the optional libraries' methods (torchode) are measured by the `libraries` preset only; the
    # `validation` preset measures the methods its published rows compare
    for name in set(PRESETS) - {"libraries", "validation"}:
        assert {cell.method for cell in cells_of(name)} == CORE_METHODS, name
    assert {cell.method for cell in cells_of("validation")} == {"direct", "adjoint", "adjoint-seminorm", "aca"}


def test_libraries_preset_measures_each_library_on_shared_cells():
    from neural_ode.reporting.tables.libraries import library_of

    cells = cells_of("libraries")
    assert {library_of(cell.method) for cell in cells} == {"torchdiffeq", "torchode", "neural-ode-bench"}
    assert {"torchode", "torchode-backsolve", "torchode-joint-backsolve"} <= {cell.method for cell in cells}
    for solver in ("dopri5", "heun2"):
        for tol_or_steps in {(cell.rtol, cell.steps) for cell in cells if cell.solver == solver}:
            libraries = {
                library_of(cell.method)
                for cell in cells
                if cell.solver == solver and (cell.rtol, cell.steps) == tol_or_steps and cell.workload == "mlp"
            }
            assert len(libraries) == 3, (solver, tol_or_steps)
    assert {cell.method for cell in cells if cell.solver == "tsit5"} <= {
        "torchode",
        "torchode-backsolve",
        "torchode-joint-backsolve",
    }


def test_quick_covers_memory_vs_depth_for_a_fixed_grid_and_an_adaptive_solver():
    cells = cells_of("quick")
    steps = defaultdict(set)
    horizons = defaultdict(set)
    for cell in cells:
        if cell.solver == "rk4":
            steps[cell.method].add(cell.steps)
        if cell.solver == "dopri5" and cell.rtol == 1e-5:
            horizons[cell.method].add(cell.horizon)
    assert all(len(steps[name]) >= 4 for name in CORE_METHODS if METHODS[name].supports("rk4"))
    assert all(len(horizons[name]) >= 3 for name in CORE_METHODS if METHODS[name].supports("dopri5"))


def test_quick_covers_a_tolerance_sweep_of_two_adaptive_solvers_with_every_method():
    tolerances = defaultdict(set)
    for cell in cells_of("quick"):
        if SOLVERS[cell.solver].adaptive and cell.horizon == 1.0:
            tolerances[(cell.solver, cell.method)].add(cell.rtol)
    solvers = {solver for solver, _ in tolerances}
    assert len(solvers) >= 2 and "dopri5" in solvers
    supported = [(solver, name) for solver in solvers for name in CORE_METHODS if METHODS[name].supports(solver)]
    assert all(len(tolerances[pair]) >= 3 for pair in supported)


def test_quick_stays_small():
    cells = cells_of("quick")
    assert len(cells) <= 80  # 75, plus lean-direct's cells, less adjoint-seminorm on rk4 (refused now)
    assert any(cell.method == "lean-direct" for cell in cells)  # direct on the lean core: method apart from library
    # torchdiffeq's adaptive solves land, like the lean core; where landing is moot the cell says land=false
    assert {cell.land for cell in cells if cell.adaptive and cell.method in ("direct", "adjoint")} == {True}
    assert not any(cell.land for cell in cells if not cell.adaptive)
    assert {cell.workload for cell in cells} == {"mlp", "spiral"}
    assert max(cell.batch * cell.width for cell in cells) <= 128 * 256


def test_paper_has_the_conv_block_over_depth_and_a_dopri5_tolerance_sweep():
    cells = cells_of("paper")
    conv = [cell for cell in cells if cell.workload == "conv"]
    assert {cell.steps for cell in conv if cell.solver == "rk4"} >= {2, 4, 8, 16, 32}
    assert len({cell.rtol for cell in conv if cell.solver == "dopri5" and cell.horizon == 1.0}) >= 6
    assert {"direct", "adjoint"} <= {cell.method for cell in conv}


def test_full_covers_every_workload_and_solver_and_both_dtypes():
    cells = cells_of("full")
    assert {cell.workload for cell in cells} == set(WORKLOADS)
    # every solver a core method takes (tsit5 is torchode's: the libraries preset measures it)
    assert {cell.solver for cell in cells} == {s for s in SOLVERS if any(METHODS[m].supports(s) for m in CORE_METHODS)}
    assert {cell.dtype for cell in cells} == {"float32", "float64"}


def test_quick_has_a_cell_where_each_claim_can_show():
    cells = cells_of("quick")
    outputs = {(cell.method, cell.solver): set() for cell in cells}
    for cell in cells:
        outputs[(cell.method, cell.solver)].add(cell.outputs)
    for method in ("direct", "adjoint"):  # an outputs sweep, fixed grid and adaptive
        assert {1, 4, 16} <= outputs[(method, "rk4")] and {1, 4, 16} <= outputs[(method, "dopri5")]
    spiral = {cell.method for cell in cells if cell.workload == "spiral" and cell.solver == "dopri5"}
    assert {"direct", "adjoint", "adjoint-seminorm"} <= spiral  # a trained field: hundreds of evaluations
    seminorm = [c for c in cells if c.method == "adjoint-seminorm" and c.adaptive and c.atol <= c.rtol / 1e3]
    assert seminorm  # atol << rtol: where the seminorm saves backward evaluations


def test_applications_runs_latent_cnf_stiff_and_digits_over_their_axes():
    cells = cells_of("applications")
    assert {cell.workload for cell in cells} == {"latent", "cnf", "cnf-hutchinson", "stiff", "digits"}
    digits = {(cell.method, cell.solver, cell.rtol, cell.steps) for cell in cells if cell.workload == "digits"}
    assert len(digits) == 10 and ("adjoint-seminorm", "dopri5", 1e-5, None) in digits
    assert {cell.outputs for cell in cells if cell.workload == "latent"} == {10, 50, 200}
    assert {cell.dim for cell in cells if cell.workload.startswith("cnf")} == {2, 16}
    assert {cell.solver for cell in cells if cell.workload == "stiff"} >= {"dopri5", "bosh3", "rk4"}


def test_land_is_an_axis_with_cells_only_where_it_changes_the_solve():
    import pytest

    from neural_ode.config import ConfigError

    given = {"method": "direct,aca", "solver": "dopri5,rk4", "steps": "4", "land": "true,false"}
    cells = plan(PRESETS[DEFAULT_PRESET], given, RunSettings())
    landed = sorted((c.method, c.solver) for c in cells if c.land)
    assert landed == [("direct", "dopri5")]  # torchdiffeq's adaptive solve; rk4 and the own integrator always land
    assert len(cells) == 5 and len({c.key for c in cells}) == 5
    with pytest.raises(ConfigError, match="--land takes true or false"):
        plan(PRESETS[DEFAULT_PRESET], {"land": "maybe"}, RunSettings())
