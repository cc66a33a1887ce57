"""pytest-benchmark suite: adjoint vs direct backpropagation over the grid of :mod:`benchmarks.common`.

Run with ``pytest --benchmark-only`` (the plain ``pytest`` skips these tests: the project's
pytest options carry ``--benchmark-skip``, which ``--benchmark-only`` overrides). Two
benchmarks per cell: ``test_step`` times forward + backward, ``test_forward`` the forward pass
alone. Each stores the cell's config and its exact figures (NFE forward and backward, saved
bytes, CPU/CUDA peak bytes, errors against the float64 reference) in ``benchmark.extra_info``,
so ``--benchmark-json`` carries them, and sets its group to the configuration without the
method, so the terminal table puts direct and adjoint of one configuration side by side.
"""

from __future__ import annotations

import functools

import pytest

from neural_ode import build_pass, synchronizer
from neural_ode.results.readers.pytest_benchmark import figure_keys

from . import common

ARGNAMES = ("workload", "method", "solver", "steps", "horizon", "tol", "device")


def _param(config):
    values = (
        config.workload,
        config.method,
        config.solver,
        None if config.adaptive else config.steps,
        config.horizon,
        config.rtol,
        config.device,
    )
    marks = [] if common.available(config) else [pytest.mark.skip(reason=f"{config.device} is not available")]
    return pytest.param(*values, id=common.cell_id(config), marks=marks)


CELLS = [_param(config) for _, _, config in common.grid()]


def _config(workload, method, solver, steps, horizon, tol, device):
    if steps is None:
        return common.adaptive_cell(workload, method, solver, horizon, tol, device)
    return common.fixed_cell(workload, method, solver, steps, device)


@functools.cache
def _figures(config) -> dict:
    """The cell's exact figures, measured once per session (both benchmarks of a cell share them)."""
    return common.exact_figures(config)


def extra_info(row: dict, config, phase: str) -> dict:
    """What a benchmark stores in ``extra_info``: its phase, the cell's config and the record's
    figures that the report's reader reads back (:func:`figure_keys`, from the metric schema)."""
    return {"phase": phase, "config": config.to_dict(), **{name: row.get(name) for name in figure_keys()}}


def _prepare(benchmark, config, phase: str):
    """Measure the exact figures into extra_info, set the group, and build + warm up the step."""
    row = _figures(config)
    benchmark.group = f"{phase}: {common.group_name(config)}"
    benchmark.extra_info.update(extra_info(row, config, phase))
    if row["status"] != "ok":
        pytest.fail(f"cell {common.cell_id(config)} failed: {row['status']}: {row['error']}")
    step = build_pass(config)
    sync = synchronizer(config.device)
    step.run()  # warm-up: the first adjoint backward in a process pays one-off costs
    sync()
    return step, sync


@pytest.mark.parametrize(ARGNAMES, CELLS)
def test_step(benchmark, workload, method, solver, steps, horizon, tol, device):
    """Forward + backward of one cell (gradients reset first)."""
    step, sync = _prepare(benchmark, _config(workload, method, solver, steps, horizon, tol, device), "step")

    def run():
        step.run()
        sync()

    benchmark(run)


@pytest.mark.parametrize(ARGNAMES, CELLS)
def test_forward(benchmark, workload, method, solver, steps, horizon, tol, device):
    """The forward pass of one cell under its gradient method, loss included."""
    step, sync = _prepare(benchmark, _config(workload, method, solver, steps, horizon, tol, device), "forward")

    def forward():
        step.forward()
        sync()

    benchmark(forward)
