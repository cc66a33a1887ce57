"""``saved_bytes`` of ``checkpoint`` against an allocator-level count, at three depths.

``saved_bytes`` sees what the autograd graph holds through the saved-tensor hooks. What it cannot
see is a tensor kept as a plain attribute: ``torch.utils.checkpoint`` kept the CPU RNG state (5,056
bytes a segment) that way until ``preserve_rng_state=False``. The independent count is the CPU
allocator's own: the torch profiler (``profile_memory=True``) records every allocation and free of
the CPU allocator, whoever holds the tensor (graph, attribute, closure), so the sum of the events
over the forward pass is what the forward pass allocated and still holds when it ends. Less the
returned states (the caller holds them, not the graph), that is what backward needs; the two
counts must agree within 5 %. The state is 4 KB (batch 64 x 16 float32): the grid's own
bookkeeping (a few bytes per step) stays below 3 % of it, and one RNG copy per segment would be
more than 100 %.
"""

from __future__ import annotations

import pytest
import torch
from torch.autograd import DeviceType
from torch.profiler import ProfilerActivity, profile

from neural_ode import CellConfig
from neural_ode.measuring.cell import build_pass
from neural_ode.measuring.memory import saved_bytes
from neural_ode.measuring.options import solver_options
from neural_ode.methods import METHODS


def allocated_and_kept(run) -> tuple[int, object]:
    """Bytes the CPU allocator handed out during ``run()`` and that are still allocated after it; and its result."""
    with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        result = run()
    events = prof.profiler.kineto_results.events()
    kept = sum(e.nbytes() for e in events if e.name() == "[memory]" and e.device_type() == DeviceType.CPU)
    return kept, result


@pytest.mark.parametrize("steps", [16, 64, 256])
def test_checkpoint_saved_bytes_matches_the_allocator_within_5_percent(steps):
    config = CellConfig(workload="mlp", method="checkpoint", solver="rk4", steps=steps, batch=64, width=16, dim=16)
    problem = build_pass(config).problem
    method, times = METHODS["checkpoint"], torch.linspace(0.0, 1.0, 2)

    def forward():
        return method.solve(
            problem.field, problem.y0, times, solver="rk4", rtol=None, atol=None, options=solver_options(config)
        )

    # what existed before the forward pass (parameters, the initial state) is not the allocator's to count
    graph, _ = saved_bytes(forward, exclude=[*problem.parameters(), problem.y0])
    kept, states = allocated_and_kept(forward)
    allocator = kept - states.untyped_storage().nbytes()
    segments = -(-steps // int(steps**0.5))  # ceil(sqrt N) boundaries, y0 excluded: one state each after the first
    assert graph >= (segments - 1) * problem.y0.untyped_storage().nbytes()
    assert abs(allocator - graph) <= 0.05 * graph, (steps, graph, allocator)
