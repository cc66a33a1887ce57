"""Memory: direct grows linearly with depth, the adjoint stays flat (exact byte figures)."""

import pytest
from conftest import SMALL

from neural_ode import CellConfig, measure_cell
from neural_ode.measuring.memory import cpu_peak_bytes, saved_bytes

MEMORY = ("saved_bytes", "cpu_peak_bytes")


def memory(method, steps):
    record = measure_cell(
        CellConfig(**SMALL, method=method, solver="rk4", steps=steps), rss="skip", timing=False, reference=False
    )
    assert record.status == "ok", record.error
    return record


@pytest.mark.parametrize("metric", MEMORY)
@pytest.mark.parametrize("steps", [10, 40])
def test_direct_memory_doubles_when_steps_double(metric, steps):
    ratio = getattr(memory("direct", 2 * steps), metric) / getattr(memory("direct", steps), metric)
    assert ratio == pytest.approx(2.0, rel=0.10)


@pytest.mark.parametrize("method", ["adjoint", "adjoint-seminorm"])
@pytest.mark.parametrize("metric", MEMORY)
def test_adjoint_memory_is_flat_from_10_to_160_steps(method, metric):
    shallow, deep = getattr(memory(method, 10), metric), getattr(memory(method, 160), metric)
    assert deep == pytest.approx(shallow, rel=0.10)


def test_adjoint_at_depth_holds_far_less_than_direct():
    assert memory("adjoint", 80).saved_bytes * 20 < memory("direct", 80).saved_bytes


def test_saved_bytes_counts_a_shared_storage_once():
    import torch

    x = torch.randn(1000, requires_grad=True)  # 4000 bytes
    total, _ = saved_bytes(lambda: (x * x).sum())  # mul saves x twice: one storage
    assert total == 4000


def test_cpu_peak_bytes_sees_a_temporary_freed_inside_the_run():
    import torch

    def run():
        big = torch.ones(1_000_000)  # 4 MB, freed before the run returns
        del big
        torch.ones(1000)

    assert cpu_peak_bytes(run) >= 4_000_000
