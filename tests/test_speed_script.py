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
