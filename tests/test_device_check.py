"""scripts/device_check.sh and scripts/cuda_peak_check.py refuse cleanly where torch sees no CUDA GPU."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]

no_gpu = pytest.mark.skipif(torch.cuda.is_available(), reason="a CUDA GPU is here: the check would run")


@pytest.mark.slow
@no_gpu
def test_device_check_exits_2_with_one_line_without_a_gpu(tmp_path):
    out = tmp_path / "cuda"
    env = dict(os.environ, PYTHON=sys.executable)
    done = subprocess.run(
        ["bash", str(ROOT / "scripts" / "device_check.sh"), str(out)],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 2
    assert done.stdout == ""
    lines = done.stderr.splitlines()
    assert lines == [f"device_check: no CUDA GPU here (torch {torch.__version__}): nothing to check"]
    assert not out.exists()  # nothing written


@pytest.mark.slow
@no_gpu
def test_cuda_peak_check_exits_2_without_a_gpu(tmp_path):
    done = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "cuda_peak_check.py"), "--out", str(tmp_path / "peak.json")],
        cwd=ROOT, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 2
    assert "no CUDA GPU here" in done.stderr
    assert not (tmp_path / "peak.json").exists()


def test_device_check_is_valid_bash():
    done = subprocess.run(["bash", "-n", str(ROOT / "scripts" / "device_check.sh")], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


def test_cuda_peak_check_rebuilds_the_sweeps_cuda_cells(tmp_path):
    """The cross-check measures the cells the sweep measured: one per method and solver, from the records."""
    import importlib.util
    import json

    spec = importlib.util.spec_from_file_location("cuda_peak_check", ROOT / "scripts" / "cuda_peak_check.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    base = {"workload": "mlp", "solver": "rk4", "steps": 10, "batch": 16, "width": 32, "dim": 2, "horizon": 2.0}
    records = [
        {**base, "method": "own-adjoint", "device": "cuda", "status": "ok", "cuda_peak_bytes": 1000, "nfe": 40},
        {**base, "method": "own-adjoint", "device": "cuda", "status": "ok", "cuda_peak_bytes": 999},  # same cell
        {**base, "method": "aca", "device": "cuda", "status": "error", "cuda_peak_bytes": None},
        {**base, "method": "direct", "device": "cpu", "status": "ok", "cpu_peak_bytes": 5},
    ]
    (tmp_path / "results.jsonl").write_text("".join(json.dumps(record) + "\n" for record in records))
    cells = module.sweep_cells(tmp_path)
    assert [(config.method, config.solver, config.horizon, config.device, peak) for config, peak in cells] == [
        ("own-adjoint", "rk4", 2.0, "cuda", 1000)
    ]
    assert module.sweep_cells(tmp_path / "missing") == []
