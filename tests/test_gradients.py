"""Gradients: adjoint and direct agree; errors against the float64 reference behave."""

import pytest
import torch
from conftest import SMALL

from neural_ode import CellConfig, measure_cell
from neural_ode.measuring.cell import build_pass
from neural_ode.measuring.reference import flat_gradient, reference_for, relative_error


def gradient(method, **fields):
    step = build_pass(CellConfig(**SMALL, method=method, **fields))
    step.run()
    return flat_gradient(step.problem.parameters())


def test_adjoint_and_direct_gradients_agree_in_float64_with_fine_rk4():
    direct = gradient("direct", solver="rk4", steps=200, dtype="float64")
    adjoint = gradient("adjoint", solver="rk4", steps=200, dtype="float64")
    assert relative_error(adjoint, direct) < 1e-6


def test_with_euler_direct_and_adjoint_differ_and_the_reference_says_by_how_much():
    fields = {"solver": "euler", "steps": 10, "dtype": "float64"}
    direct, adjoint = gradient("direct", **fields), gradient("adjoint", **fields)
    assert relative_error(adjoint, direct) > 1e-4  # the discrete vs the continuous gradient
    reference = reference_for(CellConfig(**SMALL, **fields)).gradient
    assert relative_error(direct, reference) < 0.2 and relative_error(adjoint, reference) < 0.2


@pytest.mark.parametrize("method", ["direct", "adjoint"])
def test_dopri5_gradient_error_shrinks_as_rtol_tightens(method):
    errors = [
        measure_cell(
            CellConfig(**SMALL, method=method, solver="dopri5", rtol=tol, atol=tol, dtype="float64", horizon=4.0),
            rss="skip",
            timing=False,
            peak=False,
        ).grad_rel_error
        for tol in (1e-3, 1e-5, 1e-7)
    ]
    assert errors[0] > errors[1] > errors[2]


def test_reference_is_float64_and_cached_on_disk(reference_cache):
    config = CellConfig(**SMALL, solver="rk4", steps=4, seed=3)
    reference = reference_for(config)
    assert reference.solution.dtype == torch.float64 and reference.gradient.dtype == torch.float64
    assert list(reference_cache.glob("reference-*.pt"))


def test_fine_rk4_error_is_small_and_float32_error_is_at_float32_precision():
    record = measure_cell(CellConfig(**SMALL, solver="rk4", steps=50), rss="skip", timing=False, peak=False)
    assert record.sol_rel_error < 1e-5 and record.grad_rel_error < 1e-4
