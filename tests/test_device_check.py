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
