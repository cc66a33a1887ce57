"""A failing cell is a record with a status, never an exception."""

import pytest
import torch
from conftest import SMALL
from torch import nn

from neural_ode import CellConfig, measure_cell
from neural_ode.measuring.failures import STATUSES, classify
from neural_ode.workloads import WORKLOADS, Workload


class NaNField(nn.Module):
    def __init__(self, dim):
        super().__init__()
        self.linear = nn.Linear(dim, dim)

    def forward(self, t, y):
        return self.linear(y) * float("nan")


class NaNWorkload(Workload):
    name = "nan"
    description = "a vector field that returns NaN"
    defaults = {"batch": 4, "width": 8, "dim": 8}

    def make_field(self, width, dim, layers):
        return NaNField(dim)

    def state_shape(self, batch, width, dim):
        return (batch, dim)


@pytest.fixture
def nan_workload(monkeypatch):
    monkeypatch.setitem(WORKLOADS, "nan", NaNWorkload())


@pytest.mark.parametrize("solver", ["rk4", "dopri5"])
@pytest.mark.parametrize("method", ["direct", "adjoint"])
def test_a_nan_vector_field_gives_a_non_finite_record(nan_workload, solver, method):
    record = measure_cell(CellConfig(workload="nan", method=method, solver=solver), rss="skip")
    assert record.status == "non_finite"
    assert "non-finite" in record.error or "nan" in record.error
    assert record.params == 8 * 8 + 8  # what was measured before the failure is kept


def test_dopri5_at_a_tolerance_float32_cannot_reach_fails_cleanly():
    config = CellConfig(**SMALL, method="direct", solver="dopri5", rtol=1e-14, atol=1e-14, max_num_steps=200)
    record = measure_cell(config, rss="skip", timing=False)
    assert record.status in ("step_size_underflow", "too_many_steps")
    assert record.error and record.nfe_forward is None


def test_a_cell_past_its_timeout_is_recorded_as_timeout():
    config = CellConfig(**SMALL, solver="dopri5", rtol=1e-12, atol=1e-12, dtype="float64", timeout_s=0.05)
    record = measure_cell(config, rss="skip")
    assert record.status == "timeout"
    assert "timeout of 0.05 s" in record.error


@pytest.mark.parametrize(
    ("exc", "status"),
    [
        (torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2 GiB"), "out_of_memory"),
        (RuntimeError("DefaultCPUAllocator: can't allocate memory: you tried to allocate"), "out_of_memory"),
        (MemoryError(), "out_of_memory"),
        (AssertionError("underflow in dt 0.0"), "step_size_underflow"),
        (AssertionError("underflow in dt nan"), "non_finite"),
        (AssertionError("max_num_steps exceeded (20000>=20000)"), "too_many_steps"),
        (ValueError("something else"), "error"),
    ],
)
def test_classify_names_each_failure(exc, status):
    assert classify(exc)[0] == status
    assert status in STATUSES
