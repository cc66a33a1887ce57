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


@pytest.mark.parametrize("method", ["adjoint"])  # adjoint-seminorm takes adaptive solvers only
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


def saved(method, steps):
    """The saved bytes of an SMALL rk4 cell (no peak, no timing, no reference: fast)."""
    config = CellConfig(**SMALL, method=method, solver="rk4", steps=steps)
    record = measure_cell(config, rss="skip", timing=False, reference=False, peak=False)
    assert record.status == "ok", record.error
    return record


def test_saved_bytes_leaves_out_what_was_freed_before_the_forward_pass_ended():
    import torch

    x = torch.randn(1000, requires_grad=True)

    def forward():
        (x.exp() * x.sin()).sum()  # a graph dropped before the end: what it saved is not held
        return (x * 3).sum()  # mul by a constant saves nothing

    total, _ = saved_bytes(forward)
    assert total == 0


def test_the_finiteness_check_of_the_counting_field_saves_nothing():
    import torch

    from neural_ode.measuring.counting import CountingField

    field = torch.nn.Identity()
    y = torch.randn(1000, requires_grad=True)
    counted = CountingField(lambda t, y: field(y * 2), watch_finite=True)
    total, _ = saved_bytes(lambda: counted(0.0, y).sum())
    assert total == 0


def test_direct_rk4_holds_what_each_evaluation_of_the_mlp_must_keep():
    """Per evaluation, Linear(D, W) keeps its input (B x D), tanh its output (B x W), which the
    second Linear also saves (one storage): B·(D+W)·4 bytes in float32. Each RK4 step also saves
    its step size, a 4-byte scalar (``dt * k``)."""
    batch, width, dim = SMALL["batch"], SMALL["width"], SMALL["dim"]
    per_evaluation = batch * (dim + width) * 4
    shallow, deep = saved("direct", 8), saved("direct", 24)
    assert deep.nfe_forward - shallow.nfe_forward == 4 * 16
    assert deep.saved_bytes - shallow.saved_bytes == 16 * (4 * per_evaluation + 4)


@pytest.mark.parametrize("method", ["adjoint", "own-adjoint"])
def test_adjoint_saved_bytes_do_not_depend_on_the_step_count(method):
    assert saved(method, 3).saved_bytes == saved(method, 37).saved_bytes == saved(method, 160).saved_bytes


_ONE_CELL = """
import torch
from neural_ode import CellConfig, measure_cell
torch.set_num_threads(1)
config = CellConfig(workload="mlp", batch=32, width=64, dim=16, method="direct", solver="dopri5")
print(measure_cell(config, rss="skip", timing=False, reference=False, peak=False).saved_bytes)
"""


@pytest.mark.slow
def test_saved_bytes_are_the_same_in_three_fresh_processes():
    import os
    import subprocess
    import sys

    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    figures = {
        subprocess.run([sys.executable, "-c", _ONE_CELL], capture_output=True, text=True, env=env, check=True).stdout
        for _ in range(3)
    }
    assert len(figures) == 1 and int(figures.pop()) > 0


@pytest.mark.parametrize("method", ["direct", "aca"])
def test_an_affine_fit_on_8_to_64_steps_predicts_512_steps_within_5_percent(method):
    from neural_ode.reporting.claims.growth import fit_growth

    steps = (8, 16, 32, 64)
    fit = fit_growth(steps, [saved(method, s).saved_bytes for s in steps])
    assert fit.predict(512) == pytest.approx(saved(method, 512).saved_bytes, rel=0.05)

