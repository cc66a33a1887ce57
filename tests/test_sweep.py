"""Sweep planning: axes -> cells, the depth/tolerance rule, deduplication and up-front validation."""

from __future__ import annotations

import pytest
import torch

from neural_ode.config import ConfigError
from neural_ode.methods import METHODS
from neural_ode.solvers import ADAPTIVE_SOLVERS, FIXED_SOLVERS
from neural_ode.sweeping.plan import RunSettings, cell_label, parse_axis, plan, split_values, tolerance_pairs
from neural_ode.sweeping.presets import PRESETS, QUICK

SETTINGS = RunSettings(seed=3, repeats=2, warmup=0, timeout_s=9.0)


def test_split_values_takes_comma_lists_lists_and_scalars():
    assert split_values("8, 16,32") == ["8", "16", "32"]
    assert split_values([8, 16]) == [8, 16]
    assert split_values(1e-3) == [1e-3]


def test_parse_axis_types_and_deduplicates():
    assert parse_axis("steps", "8,16,8") == (8, 16)
    assert parse_axis("tol", "1e-3,1e-6") == (1e-3, 1e-6)
    assert parse_axis("method", ["adjoint", "direct"]) == ("adjoint", "direct")


@pytest.mark.parametrize(
    ("axis", "value", "needle"),
    [
        ("workload", "mlp,foo", "unknown workload 'foo'; allowed: mlp, conv"),
        ("method", "backprop", "unknown method 'backprop'; allowed: " + ", ".join(METHODS)),
        ("solver", "rk5", "unknown solver 'rk5'; allowed: euler"),
        ("dtype", "float16", "unknown dtype 'float16'; allowed: float32, float64"),
        ("steps", "8,0", "--steps takes positive integers, got '0'"),
        ("steps", "2.5", "--steps takes positive integers, got '2.5'"),
        ("batch", "-4", "--batch takes positive integers, got '-4'"),
        ("width", "0", "--width takes positive integers, got '0'"),
        ("horizon", "0", "--horizon takes positive numbers, got '0'"),
        ("tol", "1e-3,-1e-6", "--tol takes positive numbers, got '-1e-6'"),
        ("rtol", "nan", "--rtol takes positive numbers, got 'nan'"),
        ("atol", "tight", "--atol takes positive numbers, got 'tight'"),
        ("steps", "", "--steps needs at least one value"),
    ],
)
def test_parse_axis_rejects_bad_values_naming_them(axis, value, needle):
    with pytest.raises(ConfigError) as caught:
        parse_axis(axis, value)
    assert needle in str(caught.value)


def test_fixed_grid_cells_take_steps_times_horizon_adaptive_take_horizon_times_tol():
    cells = plan(
        QUICK,
        {"method": "direct", "solver": "rk4,dopri5", "steps": "4,8", "horizon": "1,2", "tol": "1e-3,1e-5"},
        SETTINGS,
    )
    fixed = [(c.steps, c.horizon, c.rtol) for c in cells if c.solver == "rk4"]
    adaptive = [(c.steps, c.horizon, c.rtol, c.atol) for c in cells if c.solver == "dopri5"]
    assert fixed == [(4, 1.0, None), (8, 1.0, None), (4, 2.0, None), (8, 2.0, None)]
    assert adaptive == [
        (None, 1.0, 1e-3, 1e-3),
        (None, 1.0, 1e-5, 1e-5),
        (None, 2.0, 1e-3, 1e-3),
        (None, 2.0, 1e-5, 1e-5),
    ]
    assert {(c.seed, c.repeats, c.warmup, c.timeout_s) for c in cells} == {(3, 2, 0, 9.0)}


def test_axes_not_given_come_from_the_preset_base():
    cells = plan(QUICK, {"solver": "rk4", "steps": "5"}, SETTINGS)
    expected = [name for name, method in METHODS.items() if method.requires is None and method.supports("rk4")]
    assert [c.method for c in cells] == expected  # adjoint-seminorm takes adaptive solvers only
    assert {(c.workload, c.batch, c.width, c.horizon, c.dtype) for c in cells} == {("mlp", 128, 256, 1.0, "float32")}


def test_tolerance_pairs_rtol_equals_atol_unless_one_side_is_given():
    assert tolerance_pairs({"tol": (1e-3, 1e-6)}) == [(1e-3, 1e-3), (1e-6, 1e-6)]
    assert tolerance_pairs({"tol": (1e-6,), "rtol": (1e-3, 1e-4)}) == [(1e-3, 1e-6), (1e-4, 1e-6)]
    assert tolerance_pairs({"tol": (1e-6,), "rtol": (1e-3,), "atol": (1e-8, 1e-9)}) == [(1e-3, 1e-8), (1e-3, 1e-9)]


def test_plan_with_rtol_and_atol_axes():
    cells = plan(QUICK, {"method": "adjoint", "solver": "bosh3", "rtol": "1e-3", "atol": "1e-7,1e-8"}, SETTINGS)
    assert [(c.rtol, c.atol) for c in cells] == [(1e-3, 1e-7), (1e-3, 1e-8)]


def test_cells_shared_by_two_grids_are_measured_once():
    cells = plan(QUICK, {}, SETTINGS)
    keys = [c.key for c in cells]
    assert len(keys) == len(set(keys))
    # dopri5 at horizon 1 and tol 1e-5 is in both the horizon grid and the tolerance grid
    shared = [c for c in cells if c.solver == "dopri5" and c.horizon == 1.0 and c.rtol == c.atol == 1e-5]
    shared = [c for c in shared if c.workload == "mlp" and c.outputs == 1]
    assert len(shared) == sum(method.supports("dopri5") and method.requires is None for method in METHODS.values())


def test_a_tolerance_for_fixed_grid_solvers_only_is_refused():
    with pytest.raises(ConfigError) as caught:
        plan(QUICK, {"solver": "rk4,euler", "tol": "1e-3"}, SETTINGS)
    message = str(caught.value)
    assert "--tol was given but every solver walks a fixed grid (rk4, euler)" in message
    assert ", ".join(ADAPTIVE_SOLVERS) in message
    with pytest.raises(ConfigError, match="--atol was given"):
        plan(QUICK, {"solver": "rk4", "atol": "1e-3"}, SETTINGS)


def test_steps_for_adaptive_solvers_only_is_refused():
    with pytest.raises(ConfigError) as caught:
        plan(QUICK, {"solver": "dopri5", "steps": "8"}, SETTINGS)
    assert "steps apply to fixed-grid solvers only: " + ", ".join(FIXED_SOLVERS) in str(caught.value)


def test_a_tolerance_with_a_mix_of_solvers_is_fine_and_the_preset_tolerances_never_error():
    cells = plan(QUICK, {"solver": "rk4,dopri5", "tol": "1e-3"}, SETTINGS)
    assert {c.solver for c in cells} == {"rk4", "dopri5"}
    assert plan(QUICK, {"solver": "euler"}, SETTINGS)  # the base's tol is not the user's


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the refusal where there is no GPU")
def test_cuda_without_a_gpu_is_refused():
    with pytest.raises(ConfigError, match="--device cuda: no CUDA device is available here.*allowed: cpu"):
        plan(QUICK, {"device": "cpu,cuda"}, SETTINGS)


def test_every_preset_plans_without_error():
    for preset in PRESETS.values():
        if any("cuda" in axes["device"] for axes in preset.grid_axes()) and not torch.cuda.is_available():
            continue
        assert plan(preset, {}, SETTINGS)


def test_cell_label_names_depth_and_tolerance():
    fixed, adaptive = plan(QUICK, {"method": "direct", "solver": "rk4,dopri5", "steps": "8", "tol": "1e-4"}, SETTINGS)
    assert cell_label(fixed) == "mlp direct rk4 steps=8 h=1 b128 w256"
    assert cell_label(adaptive) == "mlp direct dopri5 h=1 tol=0.0001 b128 w256 landed on the output times"


def test_unsupported_method_solver_pairs_are_left_out_of_the_product():
    cells = plan(QUICK, {"method": "direct,checkpoint", "solver": "rk4,dopri5"}, SETTINGS)
    pairs = {(cell.method, cell.solver) for cell in cells}
    assert pairs == {("direct", "rk4"), ("direct", "dopri5"), ("checkpoint", "rk4")}


def test_a_product_with_no_supported_pair_is_refused():
    with pytest.raises(ConfigError, match="no cell to run: .*checkpoint supports euler, midpoint"):
        plan(QUICK, {"method": "checkpoint", "solver": "dopri5"}, SETTINGS)
