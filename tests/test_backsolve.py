"""``reverse_state_error``: how well a backward solve reconstructs the states an adjoint starts from."""

from __future__ import annotations

import math

import torch
import torchdiffeq

from neural_ode.config import CellConfig
from neural_ode.measuring.backsolve import reverse_state_error
from neural_ode.measuring.cell import build_pass, measure_cell

TINY = dict(workload="mlp", batch=2, width=4, dim=2, repeats=1, warmup=0)


def test_direct_cells_have_none_and_a_smooth_adjoint_reconstructs_its_states():
    direct = measure_cell(CellConfig(method="direct", solver="rk4", steps=4, **TINY), rss="skip", reference=False)
    assert direct.ok and direct.reverse_state_error is None
    adjoint = measure_cell(CellConfig(method="adjoint", solver="rk4", steps=8, **TINY), rss="skip", reference=False)
    assert adjoint.ok and 0 <= adjoint.reverse_state_error < 1e-5


def test_the_error_is_the_worst_interval_of_a_backward_torchdiffeq_solve():
    config = CellConfig(method="adjoint", solver="euler", steps=4, outputs=2, dtype="float64", **TINY)
    step = build_pass(config)
    step.forward()
    y0, (y1, y2) = step.problem.initial_state().detach(), step.trajectory.detach()
    field, errors = step.problem.field, []
    with torch.no_grad():  # euler backwards over each output interval, 2 steps each: the grid of the forward solve
        for start, end, t0, t1 in ((y2, y1, 1.0, 0.5), (y1, y0, 0.5, 0.0)):
            grid = torch.linspace(t0, t1, 3, dtype=torch.float64)
            back = torchdiffeq.odeint(field, start, grid, method="euler")[-1]
            errors.append(float(torch.linalg.vector_norm(back - end) / torch.linalg.vector_norm(end)))
    assert math.isclose(reverse_state_error(step), max(errors), rel_tol=1e-12)
    assert max(errors) > 1e-6  # euler backwards does not undo euler forwards: a visible error


def test_a_stiff_field_run_backwards_blows_up_and_says_so_before_the_adjoint_fails():
    config = CellConfig(workload="stiff", method="adjoint", solver="rk4", steps=50, horizon=0.02, repeats=1, warmup=0)
    record = measure_cell(config, rss="skip", reference=False)
    assert record.status == "non_finite"
    assert record.reverse_state_error == math.inf  # the reconstruction diverged: backsolve is unsafe here
