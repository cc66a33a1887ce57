"""The lean integration core: same numbers and NFE as torchdiffeq, its own step control, its errors."""

from __future__ import annotations

import pytest
import torch
import torchdiffeq
from torch import nn

from neural_ode.integrators import (
    ADAPTIVE_TABLEAUX,
    FIXED_TABLEAUX,
    AdaptiveSolver,
    Stepper,
    adaptive_solver,
    fixed_grid,
    integrate,
    make_grid,
)
from neural_ode.measuring.counting import CountingField
from neural_ode.measuring.failures import classify
from neural_ode.workloads.mlp import MLPField


def small_problem(dtype=torch.float64):
    torch.manual_seed(0)
    field = MLPField(3, 16).to(dtype)
    y0 = torch.randn(5, 3, dtype=dtype)
    return field, y0


def grid_options(steps, dtype=torch.float64):
    return {"grid_constructor": lambda func, y0, t: torch.linspace(float(t[0]), float(t[-1]), steps + 1, dtype=dtype)}


def relative(a, b):
    return float((a - b).norm() / b.norm())


@pytest.mark.parametrize("solver", sorted(FIXED_TABLEAUX))
def test_fixed_grid_matches_torchdiffeq_values_and_nfe(solver):
    field, y0 = small_problem()
    t = torch.tensor([0.0, 0.4, 1.0], dtype=torch.float64)
    options = grid_options(10)
    counter = CountingField(field)
    stepper = Stepper(FIXED_TABLEAUX[solver])
    with torch.no_grad():
        ours = integrate(counter, y0, fixed_grid(counter, y0, t, options, stepper), stepper)
        theirs = torchdiffeq.odeint(field, y0, t, method=solver, options=options)
    assert ours.shape == (3, 5, 3)
    assert relative(ours, theirs) < 1e-13
    assert counter.nfe == 10 * stepper.evals_per_step
    assert stepper.evals_per_step == {"euler": 1, "midpoint": 2, "heun2": 2, "heun3": 3, "rk4": 4}[solver]


def test_fixed_grid_keep_all_and_grad_mode_agree():
    field, y0 = small_problem()
    t = torch.tensor([0.0, 1.0], dtype=torch.float64)
    stepper = Stepper(FIXED_TABLEAUX["rk4"])
    grid = fixed_grid(field, y0, t, grid_options(130), stepper)  # more than one chunk of stage times
    with torch.no_grad():
        every = integrate(field, y0, grid, stepper, keep="all")
    with_graph = integrate(field, y0, grid, stepper, keep="all")
    assert every.shape == (131, 5, 3)
    assert with_graph.requires_grad
    assert torch.equal(every, with_graph.detach())


def test_stage_times_across_chunks():
    times = torch.linspace(0.0, 2.0, 151, dtype=torch.float64)
    grid = make_grid(times, times[[0, -1]], FIXED_TABLEAUX["rk4"].c)
    for n in (0, 63, 64, 149):
        forward = torch.stack(grid.stage_times(n))
        backward = torch.stack(grid.reverse_stage_times(n))
        dt = float(times[n + 1] - times[n])
        c = torch.tensor(FIXED_TABLEAUX["rk4"].c, dtype=torch.float64)
        torch.testing.assert_close(forward, times[n] + c * dt, rtol=0, atol=1e-15)
        torch.testing.assert_close(backward, times[n + 1] - c * dt, rtol=0, atol=1e-15)


def test_output_time_off_the_grid_is_refused():
    field, y0 = small_problem()
    stepper = Stepper(FIXED_TABLEAUX["euler"])
    t = torch.tensor([0.0, 0.33, 1.0], dtype=torch.float64)
    with pytest.raises(ValueError, match="output time 0.33 is not a point of the fixed grid"):
        fixed_grid(field, y0, t, grid_options(10), stepper)
    with pytest.raises(ValueError, match="unknown fixed-grid options \\['rtol'\\]"):
        fixed_grid(field, y0, t[[0, 2]], {"rtol": 1e-3}, stepper)


def test_step_size_option_follows_torchdiffeq():
    field, y0 = small_problem()
    t = torch.tensor([0.0, 1.0], dtype=torch.float64)
    stepper = Stepper(FIXED_TABLEAUX["midpoint"])
    with torch.no_grad():
        ours = integrate(field, y0, fixed_grid(field, y0, t, {"step_size": 0.1}, stepper), stepper)
        theirs = torchdiffeq.odeint(field, y0, t, method="midpoint", options={"step_size": 0.1})
    assert relative(ours, theirs) < 1e-13


def plain_solver(field, rtol=1e-7, atol=1e-7, **kwargs):
    return AdaptiveSolver(lambda t, s: (field(t, s[0]),), ADAPTIVE_TABLEAUX["dopri5"], rtol=rtol, atol=atol, **kwargs)


def test_dopri5_accuracy_and_nfe():
    field, y0 = small_problem()
    counter = CountingField(field)
    solver = plain_solver(counter)
    with torch.no_grad():
        states = solver.solve((y0,), [0.0, 0.5, 1.0])
        exact = torchdiffeq.odeint(
            field, y0, torch.tensor([0.0, 1.0], dtype=torch.float64), method="dopri8", rtol=1e-12, atol=1e-12
        )[-1]
    assert relative(states[-1][0], exact) < 1e-6
    stats = solver.stats
    assert stats.accepted > 2
    # f0 and the initial-step probe, then 6 evaluations per attempted step (first same as last)
    assert counter.nfe == 2 + 6 * (stats.accepted + stats.rejected)


def test_dopri5_tightens_with_tolerance():
    field, y0 = small_problem()
    with torch.no_grad():
        exact = torchdiffeq.odeint(
            field, y0, torch.tensor([0.0, 1.0], dtype=torch.float64), method="dopri8", rtol=1e-12, atol=1e-12
        )[-1]
        errors = [
            relative(plain_solver(field, tol, tol).solve((y0,), [0.0, 1.0])[-1][0], exact) for tol in (1e-3, 1e-6, 1e-9)
        ]
    assert errors[0] > errors[1] > errors[2]


def test_dopri5_backwards_in_time_inverts_forwards():
    field, y0 = small_problem()
    with torch.no_grad():
        (y1,) = plain_solver(field, 1e-10, 1e-10).solve((y0,), [0.0, 1.0])[-1]
        (back,) = plain_solver(field, 1e-10, 1e-10).solve((y1,), [1.0, 0.0])[-1]
    assert relative(back, y0) < 1e-8


def test_max_num_steps_is_classified():
    field, y0 = small_problem()
    solver = adaptive_solver(
        lambda t, s: (field(t, s[0]),),
        ADAPTIVE_TABLEAUX["dopri5"],
        rtol=1e-10,
        atol=1e-10,
        options={"max_num_steps": 3},
    )
    with pytest.raises(RuntimeError) as caught:
        solver.solve((y0,), [0.0, 1.0])
    assert classify(caught.value)[0] == "too_many_steps"


class BlowUp(nn.Module):
    """dy/dt = y^2 from y = 1: the solution 1 / (1 - t) blows up at t = 1."""

    def forward(self, t, y):
        return y * y


def test_blow_up_is_an_underflow_or_non_finite():
    solver = plain_solver(BlowUp(), 1e-6, 1e-6)
    with pytest.raises(Exception) as caught:
        solver.solve((torch.ones(1, dtype=torch.float64),), [0.0, 2.0])
    assert classify(caught.value)[0] in ("step_size_underflow", "non_finite")


def test_adaptive_options_are_checked():
    with pytest.raises(ValueError, match="unknown adaptive-solver options \\['step_size'\\]"):
        adaptive_solver(lambda t, s: s, ADAPTIVE_TABLEAUX["dopri5"], rtol=1e-6, atol=1e-6, options={"step_size": 0.1})
    with pytest.raises(ValueError, match="needs rtol and atol"):
        adaptive_solver(lambda t, s: s, ADAPTIVE_TABLEAUX["dopri5"], rtol=None, atol=None, options={})


@pytest.mark.parametrize("solver", sorted(FIXED_TABLEAUX))
def test_generated_step_is_the_tableau_loop_to_the_bit(solver):
    """The straight-line step does exactly the arithmetic of a loop over the tableau's non-zero terms."""
    from neural_ode.integrators.fixed_grid import combine

    field, y0 = small_problem()
    stepper = Stepper(FIXED_TABLEAUX[solver])
    times = [torch.tensor(0.1 + 0.01 * c, dtype=torch.float64) for c in stepper.c]
    k = []
    for i, row in enumerate(stepper.rows):
        k.append(field(times[i], combine(y0, k, row, 0.01) if row else y0))
    expected = combine(y0, k, stepper.weights, 0.01)
    assert torch.equal(stepper.step(field, times, y0, 0.01), expected)
    out = torch.empty_like(y0)
    with torch.no_grad():
        assert stepper.step(field, times, y0, 0.01, out=out) is out
    assert torch.equal(out, expected)


@pytest.mark.parametrize("solver", ["euler", "heun2", "rk4"])
def test_tensor_step_of_the_compiled_path_agrees_eagerly(solver):
    """The step ``integrators.compiled`` hands to torch.compile, run eagerly: the same solve to rounding."""
    from neural_ode.integrators.compiled import integrate_compiled, tensor_step

    field, y0 = small_problem()
    t = torch.tensor([0.0, 0.5, 1.0], dtype=torch.float64)
    stepper = Stepper(FIXED_TABLEAUX[solver])
    grid = fixed_grid(field, y0, t, grid_options(12), stepper)
    counter = CountingField(field)
    with torch.no_grad():
        ours = integrate_compiled(counter, y0, grid, tensor_step(stepper))
        lean = integrate(field, y0, grid, stepper)
    assert ours.shape == lean.shape == (3, 5, 3)
    assert relative(ours, lean) < 1e-13
    assert counter.nfe == 12 * stepper.evals_per_step


@pytest.mark.parametrize(("dtype", "times"), [(torch.float64, [0.0, 0.3, 1.0]), (torch.float32, [0.0, 0.3, 1.0]),
                                             (torch.float64, [1.0, 0.4, -0.5])])  # fmt: skip
def test_attempt_of_the_compiled_adaptive_path_agrees_eagerly(dtype, times):
    """The attempt ``integrators.compiled`` hands to torch.compile, run eagerly inside the adaptive
    solver: the same accepted and rejected steps, the same NFE, the same states to rounding."""
    from neural_ode.integrators.compiled import CompiledAdaptiveSolver, tensor_attempt

    field, y0 = small_problem(dtype)
    tableau = ADAPTIVE_TABLEAUX["dopri5"]
    eager_counter, tensor_counter = CountingField(field), CountingField(field)
    eager = plain_solver(eager_counter, rtol=1e-8, atol=1e-8)
    tensor = CompiledAdaptiveSolver(tensor_counter, tableau, rtol=1e-8, atol=1e-8, attempt=tensor_attempt(tableau))
    with torch.no_grad():
        ours = tensor.solve((y0,), times)  # the last case backwards in time: negative steps
        lean = eager.solve((y0,), times)
    assert (tensor.stats.accepted, tensor.stats.rejected) == (eager.stats.accepted, eager.stats.rejected)
    assert tensor.stats.accepted >= 3
    assert tensor_counter.nfe == eager_counter.nfe == 2 + 6 * (eager.stats.accepted + eager.stats.rejected)
    tolerance = 1e-12 if dtype == torch.float64 else 1e-5
    for mine, theirs in zip(ours, lean):
        assert relative(mine[0], theirs[0]) < tolerance


def test_compiled_adaptive_attempt_ratio_is_the_eager_error_ratio():
    """A step too long for the tolerance: both paths reject it with the same error ratio (to rounding)."""
    from neural_ode.integrators.compiled import CompiledAdaptiveSolver, tensor_attempt

    field, y0 = small_problem()
    tableau = ADAPTIVE_TABLEAUX["dopri5"]
    eager = plain_solver(field, rtol=1e-9, atol=1e-9)
    tensor = CompiledAdaptiveSolver(field, tableau, rtol=1e-9, atol=1e-9, attempt=tensor_attempt(tableau))
    with torch.no_grad():
        f0 = (field(torch.tensor(0.0, dtype=torch.float64), y0),)
        _, _, eager_ratio = eager.attempt(0.0, 0.5, 0.5, (y0,), f0)
        _, _, tensor_ratio = tensor.attempt(0.0, 0.5, 0.5, (y0,), f0)
    assert eager_ratio > 1.0
    assert tensor_ratio == pytest.approx(eager_ratio, rel=1e-10)


@pytest.mark.slow
def test_compiled_adaptive_solver_compiles_and_agrees():
    """torch.compile of the attempt (Inductor, C++ on CPU): the eager solver's steps, to rounding."""
    import shutil

    if not any(shutil.which(name) for name in ("g++", "c++", "clang++")):
        pytest.skip("no C++ compiler: Inductor cannot compile on this CPU")
    from neural_ode.integrators.compiled import CompiledAdaptiveSolver

    field, y0 = small_problem(torch.float32)
    eager = plain_solver(field, rtol=1e-5, atol=1e-5)
    compiled = CompiledAdaptiveSolver(field, ADAPTIVE_TABLEAUX["dopri5"], rtol=1e-5, atol=1e-5)
    with torch.no_grad():
        ours = compiled.solve((y0,), [0.0, 1.0])
        lean = eager.solve((y0,), [0.0, 1.0])
    assert (compiled.stats.accepted, compiled.stats.rejected) == (eager.stats.accepted, eager.stats.rejected)
    assert relative(ours[-1][0], lean[-1][0]) < 1e-5
