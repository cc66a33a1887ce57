"""A user's own model: ``--workload package.module:factory`` (the example, and three broken factories)."""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path

import pytest

from neural_ode import CellConfig, measure_cell
from neural_ode.cli import main

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = "examples.my_model:make_problem"


@pytest.fixture
def in_root(monkeypatch):
    monkeypatch.chdir(ROOT)


def test_the_example_is_measured_through_the_python_api(in_root):
    config = CellConfig(workload=EXAMPLE, method="adjoint", solver="rk4", steps=8, outputs=4, batch=4, width=8)
    record = measure_cell(config, rss="skip", peak=False, timing=False)
    assert record.status == "ok", record.error
    assert record.nfe_forward == record.nfe_backward == 32
    assert record.params == 2 * 8 + 8 + 8 + 1 + 1  # the MLP correction and the damping
    assert record.grad_rel_error < 1e-4


def test_the_example_runs_from_the_command_line_in_cell_processes(in_root, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("NEURAL_ODE_BENCH_CACHE", str(tmp_path / "cache"))
    out = tmp_path / "out"
    args = ["run", "--workload", EXAMPLE, "--method", "direct", "--solver", "rk4", "--steps", "4", "--outputs", "1,2"]
    status = main([*args, "--batch", "4", "--width", "8", "--repeats", "1", "--warmup", "0", "--out", str(out)])
    assert status == 0, capsys.readouterr().err
    import pandas as pd

    frame = pd.read_csv(out / "results.csv")
    assert list(frame["status"]) == ["ok", "ok"]
    assert sorted(frame["outputs"]) == [1, 2]
    assert set(frame["workload"]) == {EXAMPLE}


BROKEN = {
    "no_such_module_xyz:make": "cannot import module 'no_such_module_xyz'",
    "broken_raises:make": "the factory raised RuntimeError: no data here",
    "broken_returns:make": "the factory returned tuple; expected a neural_ode.workloads.Problem",
}


@pytest.mark.parametrize("workload", BROKEN)
def test_a_broken_factory_is_one_line_and_exit_2_before_anything_runs(workload, tmp_path, capsys, monkeypatch):
    (tmp_path / "broken_raises.py").write_text(
        textwrap.dedent(
            """
            def make(config):
                raise RuntimeError("no data here")
            """
        )
    )
    (tmp_path / "broken_returns.py").write_text(
        textwrap.dedent(
            """
            import torch

            def make(config):
                return (torch.nn.Linear(2, 2), torch.zeros(4, 2))
            """
        )
    )
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", [str(tmp_path), *sys.path])
    out = tmp_path / "out"
    status = main(["run", "--workload", workload, "--solver", "rk4", "--steps", "2", "--out", str(out)])
    err = capsys.readouterr().err.strip()
    assert status == 2
    assert len(err.splitlines()) == 1, err
    assert BROKEN[workload] in err
    assert "expected" in err or "Problem" in err
    assert not out.exists()
