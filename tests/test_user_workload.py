"""A user's own model: ``--workload package.module:factory`` (the example, and three broken factories)."""

from __future__ import annotations

import os
import subprocess
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


MLP3 = """
import torch
from torch import nn

from neural_ode.workloads import Problem


class Field(nn.Module):
    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(8, 16), nn.Tanh(), nn.Linear(16, 16), nn.Tanh(), nn.Linear(16, 8))

    def forward(self, t, y):
        return self.net(y)


def make(config):
    # sizes of its own: batch 32, dim 8, whatever config.batch and config.dim say
    dtype = getattr(torch, config.dtype)
    field = Field().to(dtype)
    return Problem(field=field, y0=torch.randn(32, 8).to(dtype))  # the same draw in float32 and float64
"""

#: the 3-layer field's parameters: 8·16 + 16, 16·16 + 16, 16·8 + 8
MLP3_PARAMS = 144 + 272 + 136


def _mlp3_run(tmp_path, *extra) -> subprocess.CompletedProcess:
    (tmp_path / "mlp3.py").write_text(MLP3)
    args = ["run", "--workload", "mlp3:make", "--method", "direct,adjoint", "--solver", "dopri5", "--tol", "1e-3,1e-6"]
    args += ["--repeats", "1", "--warmup", "0", "--out", str(tmp_path / "out"), *extra]
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), str(tmp_path)]), PYTHONWARNINGS="default",
               NEURAL_ODE_BENCH_CACHE=str(tmp_path / "cache"))  # fmt: skip
    return subprocess.run([sys.executable, "-m", "neural_ode.cli", *args], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=600)  # fmt: skip


@pytest.mark.slow
def test_a_factory_is_recorded_with_the_sizes_it_builds_and_its_headline_agrees_with_its_picks(tmp_path):
    import pandas as pd

    from neural_ode.reporting.columns import prepare
    from neural_ode.reporting.tables.choices import choices_table
    from neural_ode.reporting.tables.headline import headline

    done = _mlp3_run(tmp_path)
    assert done.returncode == 0, done.stderr
    assert "Warning" not in done.stderr and "unclosed" not in done.stderr  # none of our own making
    assert "b16" not in done.stderr  # (no progress bar off a terminal; the planned cells carry batch 32, below)
    frame = pd.read_csv(tmp_path / "out" / "results.csv")
    assert list(frame["status"]) == ["ok"] * 4
    assert set(frame["batch"]) == {32} and set(frame["dim"]) == {8} and set(frame["params"]) == {MLP3_PARAMS}
    choices = pd.read_csv(tmp_path / "out" / "choices.csv")
    assert set(choices["batch"]) == {32} and set(choices["dim"]) == {8}
    data = prepare(frame)
    fair = choices_table(data)
    fair = fair[(fair["criterion"] == "time") & ~fair["decided_by_roundoff"].astype(bool)]
    (method,) = [a["answer"] for a in headline(data) if a["question"] == "Which method?"]
    for name, count in fair["method"].value_counts().items():  # every fastest pick's method, with its count
        assert f"{name} at {count}" in method or f"{name}: the fastest" in method or f"{name} at every one" in method
    report = (tmp_path / "out" / "report.md").read_text()
    assert report.index("**Which method?** " + method) < report.index("## What to run")


def test_a_factory_building_another_batch_than_given_is_refused(tmp_path, capsys, monkeypatch):
    # in this process, as the broken factories above: the refusal comes before any cell process
    (tmp_path / "mlp3.py").write_text(MLP3)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", [str(tmp_path), *sys.path])
    monkeypatch.setenv("NEURAL_ODE_BENCH_CACHE", str(tmp_path / "cache"))
    args = ["run", "--workload", "mlp3:make", "--method", "direct,adjoint", "--solver", "dopri5", "--tol", "1e-3,1e-6"]
    status = main([*args, "--repeats", "1", "--warmup", "0", "--out", str(tmp_path / "out"), "--batch", "16"])
    err = capsys.readouterr().err
    assert status == 2
    (line,) = err.strip().splitlines()
    assert "the factory builds batch 32 (y0 of shape (32, 8)) but --batch 16 was given" in line
    assert not (tmp_path / "out").exists()
