"""scripts/compare_solver_speed.py: a smoke run on tiny models writes its three files (no timing asserted)."""

from __future__ import annotations

import csv
import importlib.util
import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def load_script():
    spec = importlib.util.spec_from_file_location("compare_solver_speed", ROOT / "scripts" / "compare_solver_speed.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.slow
def test_quick_run_writes_report_csv_and_json(tmp_path):
    script = load_script()
    assert script.main(["--quick", "--repeats", "1", "--skip-gradients", "--no-compiled", "--out", str(tmp_path)]) == 0
    report = (tmp_path / "speed.md").read_text()
    assert "load average" in report.lower() and "shared" in report
    assert "lean compiled" in report  # the column is there (not run here)
    data = json.loads((tmp_path / "speed.json").read_text())
    solver_rows = [row for row in data["rows"] if row["part"] == "solver"]
    assert {(row["solve"].split()[0], row["contender"]) for row in solver_rows} >= {
        ("dopri5", "bare"), ("dopri5", "lean"), ("heun2", "bare"), ("heun2", "lean"), ("heun2", "torchdiffeq")
    }  # fmt: skip
    # NFE: heun2 over 5 steps is 10 evaluations for every contender
    assert {row["nfe"] for row in solver_rows if row["solve"].startswith("heun2")} == {10}
    assert all(row["ratio_median"] > 0 for row in solver_rows)
    assert any(row["part"] == "profile" for row in data["rows"])
    with open(tmp_path / "speed.csv") as handle:
        assert len(list(csv.DictReader(handle))) == len(data["rows"])


@pytest.mark.slow
def test_diffrax_contender_solves_the_same_problem_and_gradient():
    """diffrax (where JAX is installed): the same tiny MLP, weights and state give torchdiffeq's
    solution, heun2's exact NFE, and torchdiffeq's adjoint gradient (no timing asserted)."""
    script = load_script()
    diffrax = script.diffrax_module()
    if diffrax.unavailable() is not None:
        pytest.skip(diffrax.unavailable())
    import torch
    import torchdiffeq

    from neural_ode import CellConfig
    from neural_ode.measuring.cell import build_pass

    step = build_pass(CellConfig(method="adjoint", solver="heun2", steps=5, **script.TINY))
    field, y0, t = step.problem.field, step.problem.y0, step.t
    with torch.no_grad():
        reference = torchdiffeq.odeint(field, y0, t, method="heun2", options=step.options)[-1].numpy()
    common = {"interleaved": script.interleaved, "quartiles": script.quartiles, "repeats": 1}
    rows = diffrax.solver_rows("tiny", field, y0, t, "heun2", steps=5, tol=1e-6, reference=reference, **common)
    solve = next(row for row in rows if row["contender"] == "diffrax")
    assert solve["nfe"] == 10  # Heun: 2 evaluations a step, counted as they ran
    assert solve["relative_difference"] < 1e-6
    rows = diffrax.gradient_rows("tiny", step, "heun2", steps=5, tol=1e-6, **common)
    gradients = {row["contender"]: row for row in rows}
    # Heun over 5 steps forward; the backsolve solves the adjoint back over the same 5 steps
    assert (gradients["diffrax backsolve"]["nfe_forward"], gradients["diffrax backsolve"]["nfe_backward"]) == (10, 10)
    # backsolve is torchdiffeq's adjoint (the continuous adjoint on the same grid), to rounding;
    # backpropagation through the solve differs from it by the discretisation only
    assert gradients["diffrax backsolve"]["gradient_difference"] < 1e-5
    assert gradients["diffrax checkpoint"]["gradient_difference"] < 1e-2
    with pytest.raises(ValueError, match="allowed: dopri5, heun2"):
        diffrax.problem(field, y0, t, "rk4", steps=5, tol=1e-6)
