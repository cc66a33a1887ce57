"""torchode's methods: exact NFE against torchode's own count, gradients against torchdiffeq's on
the same grid, and a clean refusal where torchode is not installed."""

from __future__ import annotations

import importlib.util
import sys

import pytest
import torch

from neural_ode import CellConfig
from neural_ode.config import ConfigError
from neural_ode.measuring.cell import build_pass, measure_cell
from neural_ode.measuring.reference import flat_gradient
from neural_ode.methods import METHODS

needs_torchode = pytest.mark.skipif(importlib.util.find_spec("torchode") is None, reason="torchode not installed")

TORCHODE_METHODS = ("torchode", "torchode-backsolve", "torchode-joint-backsolve")
TINY = {"workload": "mlp", "batch": 3, "width": 5, "dim": 2, "dtype": "float64"}
TINY_CONV = {"workload": "conv", "batch": 2, "width": 4, "dim": 3, "dtype": "float64"}


def exact(config: CellConfig):
    """The counted run's record, and torchode's statistics of that same run."""
    record = measure_cell(config, rss="skip", reference=False, peak=False, timing=False)
    assert record.status == "ok", record.error
    return record, METHODS[config.method].last_stats


@needs_torchode
@pytest.mark.parametrize("method", TORCHODE_METHODS)
@pytest.mark.parametrize("solver_axes", [{"solver": "heun2", "steps": 5}, {"solver": "dopri5", "rtol": 1e-6}])
def test_nfe_equals_torchodes_own_count(method, solver_axes):
    axes = {"atol": solver_axes.get("rtol")} if "rtol" in solver_axes else {}
    record, stats = exact(CellConfig(method=method, **TINY, **solver_axes, **axes))
    # torchode counts every call per sample; all samples ride every call of the batched field
    assert record.nfe_forward == int(stats["n_f_evals"].max()) == int(stats["n_f_evals"].min())
    backsolves = stats.get("backsolve", [])
    if method == "torchode":
        assert record.nfe_backward == 0 and not backsolves
    elif method == "torchode-joint-backsolve":
        assert record.nfe_backward == sum(int(s["n_f_evals"].max()) for s in backsolves)
    else:
        # BacksolveAdjoint's augmented term does not count (its n_f_evals stay 0): count the steps
        assert all(int(s["n_f_evals"].max()) == 0 for s in backsolves)
        if solver_axes["solver"] == "heun2":
            assert record.nfe_backward == 2 * sum(int(s["n_steps"].max()) for s in backsolves) == 2 * 5


@needs_torchode
def test_fixed_grid_takes_exactly_the_grid_steps():
    record, stats = exact(CellConfig(method="torchode", solver="euler", steps=7, horizon=0.3, **TINY))
    assert record.nfe_forward == 7 and stats["n_steps"].tolist() == [7, 7, 7]


def gradient(method: str, **axes) -> tuple[torch.Tensor, torch.Tensor]:
    step = build_pass(CellConfig(method=method, **axes))
    step.run()
    return flat_gradient(step.problem.parameters()), step.final_state.detach()


@needs_torchode
@pytest.mark.parametrize("shape", [TINY, TINY_CONV], ids=["mlp", "conv"])
def test_torchode_gradient_is_direct_backprop_on_the_same_grid(shape):
    expected, expected_state = gradient("direct", solver="heun2", steps=6, **shape)
    got, state = gradient("torchode", solver="heun2", steps=6, **shape)
    torch.testing.assert_close(state, expected_state, rtol=1e-13, atol=1e-13)
    torch.testing.assert_close(got, expected, rtol=1e-12, atol=1e-14)


@needs_torchode
@pytest.mark.parametrize("method", ["torchode-backsolve", "torchode-joint-backsolve"])
def test_backsolve_gradient_is_torchdiffeqs_adjoint_on_the_same_grid(method):
    expected, _ = gradient("adjoint", solver="heun2", steps=6, **TINY_CONV)
    got, _ = gradient(method, solver="heun2", steps=6, **TINY_CONV)
    torch.testing.assert_close(got, expected, rtol=1e-12, atol=1e-14)


@needs_torchode
def test_tsit5_belongs_to_torchode_only():
    CellConfig(method="torchode", solver="tsit5")
    for method in ("direct", "adjoint", "own-adjoint", "aca"):
        with pytest.raises(ConfigError, match="tsit5"):
            CellConfig(method=method, solver="tsit5")


def test_without_torchode_a_sweep_naming_it_is_refused_in_one_line(monkeypatch, tmp_path, capsys):
    from neural_ode.cli import main

    monkeypatch.setitem(sys.modules, "torchode", None)  # `import torchode` now raises ImportError
    out = tmp_path / "sweep"
    # rk4 is no torchode solver: the name alone is refused, not silently dropped from the product
    status = main(["run", "--method", "direct,torchode", "--solver", "rk4", "--steps", "2", "--out", str(out)])
    assert status == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "'torchode' is unavailable" in err[0] and "pip install -e '.[torchode]'" in err[0]
    assert not out.exists()
    with pytest.raises(ConfigError, match="unavailable"):
        CellConfig(method="torchode-backsolve", solver="dopri5")


def test_without_torchode_list_marks_its_methods_unavailable(monkeypatch, capsys):
    from neural_ode.cli import main

    monkeypatch.setitem(sys.modules, "torchode", None)
    assert main(["list", "methods"]) == 0
    lines = capsys.readouterr().out.splitlines()
    for method in TORCHODE_METHODS:
        (line,) = [line for line in lines if line.split()[0] == method]
        assert "unavailable" in line and "pip install -e '.[torchode]'" in line
    (direct,) = [line for line in lines if line.split()[0] == "direct"]
    assert "unavailable" not in direct


@needs_torchode
@pytest.mark.parametrize("method", TORCHODE_METHODS)
def test_solve_returns_every_output_time_as_odeint_does(method):
    from neural_ode.measuring.cell import solver_options

    config = CellConfig(method="direct", solver="heun2", steps=8, **TINY_CONV)
    step = build_pass(config)
    field, y0 = step.problem.field, step.problem.y0
    t = torch.linspace(0.0, 1.0, 5, dtype=torch.float64)  # every output time on the 8-step grid
    options = solver_options(config)
    expected = METHODS["direct"].solve(field, y0, t, solver="heun2", rtol=None, atol=None, options=options)
    got = METHODS[method].solve(field, y0, t, solver="heun2", rtol=None, atol=None, options=options)
    assert got.shape == (5, *y0.shape)
    torch.testing.assert_close(got, expected, rtol=1e-13, atol=1e-13)
