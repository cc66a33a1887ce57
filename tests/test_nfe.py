"""NFE: each solver's known evaluation counts, forward and backward, per gradient method."""

import pytest
from conftest import SMALL

from neural_ode import CellConfig, measure_cell


def exact(**fields):
    record = measure_cell(CellConfig(**SMALL, **fields), rss="skip", timing=False, peak=False, reference=False)
    assert record.status == "ok", record.error
    return record


@pytest.mark.parametrize("steps", [1, 7, 25])
@pytest.mark.parametrize(("solver", "per_step"), [("euler", 1), ("midpoint", 2), ("heun3", 3), ("rk4", 4)])
def test_fixed_grid_forward_nfe_is_evaluations_per_step_times_steps(solver, per_step, steps):
    record = exact(method="direct", solver=solver, steps=steps)
    assert record.nfe_forward == per_step * steps


@pytest.mark.parametrize("steps", [3, 30])
def test_direct_backward_evaluates_the_field_zero_times(steps):
    assert exact(method="direct", solver="rk4", steps=steps).nfe_backward == 0


@pytest.mark.parametrize("steps", [5, 20])
def test_adjoint_rk4_backward_re_evaluates_four_per_step(steps):
    record = exact(method="adjoint", solver="rk4", steps=steps)
    assert (record.nfe_forward, record.nfe_backward) == (4 * steps, 4 * steps)


def test_the_seminorm_on_a_fixed_grid_is_refused():
    """A fixed grid has no error control for the seminorm to change: it would be ``adjoint`` under another name."""
    from neural_ode.axes import ConfigError
    from neural_ode.config import CellConfig

    with pytest.raises(ConfigError, match="method 'adjoint-seminorm' supports solvers dopri5"):
        CellConfig(method="adjoint-seminorm", solver="rk4", steps=4)


def test_adaptive_nfe_is_counted_and_grows_as_tolerance_tightens():
    loose = exact(method="adjoint", solver="dopri5", rtol=1e-3, atol=1e-3)
    tight = exact(method="adjoint", solver="dopri5", rtol=1e-8, atol=1e-8)
    assert 0 < loose.nfe_forward < tight.nfe_forward
    assert loose.nfe_backward > 0


def test_seminorm_backward_takes_no_more_evaluations_than_plain_adjoint():
    plain = exact(method="adjoint", solver="dopri5", rtol=1e-7, atol=1e-7)
    seminorm = exact(method="adjoint-seminorm", solver="dopri5", rtol=1e-7, atol=1e-7)
    assert seminorm.nfe_forward == plain.nfe_forward
    assert seminorm.nfe_backward <= plain.nfe_backward
