"""Shared test set-up: references cached in a per-session temporary directory."""

from __future__ import annotations

import os

import pytest
import torch


@pytest.fixture(scope="session", autouse=True)
def one_thread():
    """Tests assert exact figures, not speed: one thread keeps them fast on a busy machine."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


@pytest.fixture(scope="session", autouse=True)
def reference_cache(tmp_path_factory):
    """Keep the float64 reference cache out of the user's home during tests."""
    path = tmp_path_factory.mktemp("reference-cache")
    previous = os.environ.get("NEURAL_ODE_BENCH_CACHE")
    os.environ["NEURAL_ODE_BENCH_CACHE"] = str(path)
    yield path
    if previous is None:
        os.environ.pop("NEURAL_ODE_BENCH_CACHE", None)
    else:
        os.environ["NEURAL_ODE_BENCH_CACHE"] = previous


#: a small MLP problem that keeps exact-figure tests fast
SMALL = {"workload": "mlp", "batch": 32, "width": 64, "dim": 16}

requires_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
