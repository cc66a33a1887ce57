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
    # without diffrax: JAX must not start its threads in a pytest worker that forks later
    arguments = ["--quick", "--repeats", "1", "--skip-gradients", "--no-compiled", "--no-diffrax"]
    arguments += ["--out", str(tmp_path)]
    assert script.main(arguments) == 0
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


#: run in a fresh interpreter: JAX starts threads, and a pytest worker that imported it would later
#: fork (sweeps, reference processes) with those threads alive, which can deadlock
DIFFRAX_CHECK = """
import json, sys
import torch, torchdiffeq
sys.path.insert(0, sys.argv[1])
import importlib.util
spec = importlib.util.spec_from_file_location("compare_solver_speed", sys.argv[2])
script = importlib.util.module_from_spec(spec)
spec.loader.exec_module(script)
diffrax = script.diffrax_module()
reason = diffrax.unavailable()
if reason is not None:
    print(json.dumps({"skip": reason}))
    raise SystemExit(0)
from neural_ode import CellConfig
from neural_ode.measuring.cell import build_pass
step = build_pass(CellConfig(method="adjoint", solver="heun2", steps=5, **script.TINY))
field, y0, t = step.problem.field, step.problem.y0, step.t
with torch.no_grad():
    reference = torchdiffeq.odeint(field, y0, t, method="heun2", options=step.options)[-1].numpy()
common = {"interleaved": script.interleaved, "spread": script.spread, "repeats": 1}
solve = diffrax.solver_rows("tiny", "heun2 5 steps", field, y0, t, "heun2", steps=5, tol=1e-6,
                            reference=reference, **common)
gradients = diffrax.gradient_rows("tiny", "heun2 5 steps", step, "heun2", steps=5, tol=1e-6, **common)
try:
    diffrax.problem(field, y0, t, "rk4", steps=5, tol=1e-6)
    refusal = None
except ValueError as exc:
    refusal = str(exc)
print(json.dumps({"solve": solve, "gradients": gradients, "refusal": refusal}))
"""


@pytest.mark.slow
def test_diffrax_contender_solves_the_same_problem_and_gradient():
    """diffrax (where JAX is installed): the same tiny MLP, weights and state give torchdiffeq's
    solution, heun2's exact NFE, and torchdiffeq's adjoint gradient (no timing asserted)."""
    import subprocess
    import sys

    script = str(ROOT / "scripts" / "compare_solver_speed.py")
    done = subprocess.run([sys.executable, "-c", DIFFRAX_CHECK, str(ROOT), script], capture_output=True, text=True,
                          timeout=300, check=False)  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    if "skip" in result:
        pytest.skip(result["skip"])
    solve = next(row for row in result["solve"] if row["contender"] == "diffrax")
    assert solve["nfe"] == 10  # Heun: 2 evaluations a step, counted as they ran
    assert solve["relative_difference"] < 1e-6
    gradients = {row["contender"]: row for row in result["gradients"]}
    # Heun over 5 steps forward; the backsolve solves the adjoint back over the same 5 steps
    assert (gradients["diffrax backsolve"]["nfe_forward"], gradients["diffrax backsolve"]["nfe_backward"]) == (10, 10)
    # backsolve is torchdiffeq's adjoint (the continuous adjoint on the same grid), to rounding;
    # backpropagation through the solve differs from it by the discretisation only
    assert gradients["diffrax backsolve"]["gradient_difference"] < 1e-5
    assert gradients["diffrax checkpoint"]["gradient_difference"] < 1e-2
    assert "allowed: dopri5, heun2" in result["refusal"]
