"""own-adjoint, checkpoint and aca: gradients, NFE, memory and refused combinations, as facts."""

from __future__ import annotations

import itertools
import math

import pytest
import torch
import torchdiffeq
from torch import nn

from neural_ode import CellConfig, ConfigError, measure_cell
from neural_ode.integrators import ADAPTIVE_TABLEAUX, FIXED_TABLEAUX, AdaptiveSolver
from neural_ode.measuring.cell import build_pass
from neural_ode.measuring.reference import flat_gradient, relative_error
from neural_ode.methods import METHODS
from neural_ode.methods.checkpoint import CheckpointMethod, segment_bounds
from neural_ode.solvers import TORCHDIFFEQ_SOLVERS

OWN = ("own-adjoint", "checkpoint", "aca")
SMALL = {"batch": 8, "width": 16, "dim": 3}


def gradient(method, solver="rk4", steps=None, dtype="float64", **sizes):
    """Flat dL/dtheta and final state of the seeded mlp problem through ``method``."""
    config = CellConfig(method=method, solver=solver, steps=steps, dtype=dtype, **{**SMALL, **sizes})
    step = build_pass(config)
    step.zero_grad()
    step.backward(step.forward())
    return flat_gradient(step.problem.parameters()), step.final_state.detach()


def exact_figures(method, solver="rk4", steps=None, **fields):
    """NFE and memory figures of one cell, no timing, no reference."""
    record = measure_cell(
        CellConfig(method=method, solver=solver, steps=steps, **{**SMALL, **fields}),
        rss="skip",
        reference=False,
        timing=False,
    )
    assert record.ok, record.error
    return record


# -- registry and refused combinations ----------------------------------------------------------


def test_registered_with_solver_lists():
    for name in OWN:
        assert METHODS[name].name == name
        assert METHODS[name].description
    assert set(METHODS["checkpoint"].supported_solvers) == set(FIXED_TABLEAUX)
    assert set(METHODS["aca"].supported_solvers) == set(FIXED_TABLEAUX) | {"dopri5"}
    assert set(METHODS["own-adjoint"].supported_solvers) == set(FIXED_TABLEAUX) | {"dopri5"}
    assert set(METHODS["direct"].supported_solvers) == set(TORCHDIFFEQ_SOLVERS)  # every solver but tsit5


@pytest.mark.parametrize(
    ("method", "solver"),
    [("own-adjoint", "bosh3"), ("aca", "dopri8"), ("checkpoint", "dopri5"), ("aca", "implicit_adams")],
)
def test_unsupported_solver_is_a_config_error(method, solver):
    with pytest.raises(ConfigError) as caught:
        CellConfig(method=method, solver=solver)
    message = str(caught.value)
    assert f"method {method!r} supports solvers" in message
    assert f"got {solver!r}" in message
    assert "rk4" in message


def test_unsupported_solver_in_solve_is_a_value_error():
    field = nn.Linear(2, 2)
    supported = "euler, midpoint, heun2, heun3, rk4, dopri5"
    with pytest.raises(ValueError, match=f"method 'own-adjoint' supports solvers {supported}; got 'bosh3'"):
        METHODS["own-adjoint"].solve(
            lambda t, y: field(y),
            torch.zeros(1, 2),
            torch.tensor([0.0, 1.0]),
            solver="bosh3",
            rtol=1e-6,
            atol=1e-6,
            options={},
        )


# -- gradients -----------------------------------------------------------------------------------


@pytest.mark.parametrize("solver", sorted(FIXED_TABLEAUX))
@pytest.mark.parametrize("method", ["checkpoint", "aca"])
def test_discrete_gradient_equals_direct(method, solver):
    expected, state = gradient("direct", solver, steps=12)
    got, got_state = gradient(method, solver, steps=12)
    assert relative_error(got, expected) < 1e-10
    assert relative_error(got_state, state) < 1e-12


def test_aca_dopri5_equals_direct_backprop_through_the_same_solver():
    config = CellConfig(method="aca", solver="dopri5", dtype="float64", rtol=1e-5, atol=1e-5, **SMALL)
    step = build_pass(config)
    field, y0 = step.problem.field, step.problem.y0
    # direct backpropagation through the lean core's own dopri5 (the graph kept over every step)
    solver = AdaptiveSolver(lambda t, s: (field(t, s[0]),), ADAPTIVE_TABLEAUX["dopri5"], rtol=1e-5, atol=1e-5)
    step.problem.loss(solver.solve((y0,), [0.0, 1.0])[-1][0][None]).backward()  # a one-output trajectory
    expected = flat_gradient(step.problem.parameters())
    assert solver.stats.accepted >= 3
    step.zero_grad()
    step.backward(step.forward())
    assert relative_error(flat_gradient(step.problem.parameters()), expected) < 1e-10


class TinyField(nn.Module):
    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(2, 3), nn.Tanh(), nn.Linear(3, 2))

    def forward(self, t, y):
        return self.net(y)


@pytest.mark.parametrize("method", ["checkpoint", "aca"])
def test_gradcheck(method):
    torch.manual_seed(0)
    field = TinyField().double()
    y0 = torch.randn(2, 2, dtype=torch.float64, requires_grad=True)
    t = torch.tensor([0.0, 0.5, 1.0], dtype=torch.float64)  # an output time inside the grid
    options = {"grid_constructor": lambda func, y0, t: torch.linspace(0.0, 1.0, 7, dtype=torch.float64)}
    weight = field.net[0].weight  # gradcheck perturbs it in place, so the field sees the change

    def solve(y0, weight):
        return METHODS[method].solve(field, y0, t, solver="rk4", rtol=None, atol=None, options=options)

    assert torch.autograd.gradcheck(solve, (y0, weight))


def test_own_adjoint_is_torchdiffeqs_adjoint_scheme():
    """Same augmented system, same scheme, same grid: the two adjoints agree to rounding."""
    for solver in ("euler", "rk4"):
        ours, _ = gradient("own-adjoint", solver, steps=9)
        theirs, _ = gradient("adjoint", solver, steps=9)
        assert relative_error(ours, theirs) < 1e-12


def test_own_adjoint_converges_to_the_reference(tmp_path, monkeypatch):
    monkeypatch.setenv("NEURAL_ODE_BENCH_CACHE", str(tmp_path))

    def error(**fields):
        record = measure_cell(
            CellConfig(method="own-adjoint", dtype="float64", **SMALL, **fields), rss="skip", timing=False
        )
        assert record.ok, record.error
        return record.grad_rel_error

    rk4 = [error(solver="rk4", steps=n) for n in (2, 4, 8, 16)]
    assert all(a > 8 * b for a, b in itertools.pairwise(rk4))  # fourth order: ~16x per halving
    assert rk4[-1] < 1e-6
    dopri5 = [error(solver="dopri5", rtol=tol, atol=tol) for tol in (1e-3, 1e-6, 1e-9)]
    assert dopri5[0] > dopri5[1] > dopri5[2]
    assert dopri5[-1] < 1e-7


def test_several_output_times():
    """A loss on y(0.5) and y(1): checkpoint and aca are exact, own-adjoint converges."""
    torch.manual_seed(1)
    field = TinyField().double()
    y0 = torch.randn(4, 2, dtype=torch.float64)
    t = torch.tensor([0.0, 0.5, 1.0], dtype=torch.float64)

    def grads(method, solver, steps=None):
        options = (
            {}
            if steps is None
            else {"grid_constructor": lambda func, y0, t: torch.linspace(0.0, 1.0, steps + 1, dtype=torch.float64)}
        )
        tols = (1e-10, 1e-10) if steps is None else (None, None)
        field.zero_grad()
        ys = METHODS[method].solve(field, y0, t, solver=solver, rtol=tols[0], atol=tols[1], options=options)
        (ys[1].sin().sum() + ys[2].pow(2).sum()).backward()
        return flat_gradient(field.parameters())

    direct = grads("direct", "rk4", 20)
    assert relative_error(grads("checkpoint", "rk4", 20), direct) < 1e-12
    assert relative_error(grads("aca", "rk4", 20), direct) < 1e-12
    fine = grads("direct", "rk4", 400)
    assert relative_error(grads("own-adjoint", "rk4", 400), fine) < 1e-9
    assert relative_error(grads("own-adjoint", "dopri5"), fine) < 1e-8
    assert relative_error(grads("aca", "dopri5"), fine) < 1e-8


# -- NFE -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(("solver", "per_step"), [("euler", 1), ("rk4", 4)])
def test_nfe_fixed_grid(solver, per_step):
    for method in OWN:
        record = exact_figures(method, solver, steps=7)
        assert (record.nfe_forward, record.nfe_backward) == (per_step * 7, per_step * 7), method


def test_nfe_dopri5():
    """Forward: 2 start-up evaluations + 6 per attempted step; aca backward: 6 per accepted step."""
    config = CellConfig(method="aca", solver="dopri5", rtol=1e-7, atol=1e-7, **SMALL)
    step = build_pass(config)
    solver = AdaptiveSolver(
        lambda t, s: (step.problem.field(t, s[0]),), ADAPTIVE_TABLEAUX["dopri5"], rtol=1e-7, atol=1e-7
    )
    with torch.no_grad():
        solver.solve((step.problem.y0,), [0.0, 1.0])
    accepted, attempted = solver.stats.accepted, solver.stats.accepted + solver.stats.rejected
    aca = exact_figures("aca", "dopri5", rtol=1e-7, atol=1e-7)
    assert aca.nfe_forward == 2 + 6 * attempted
    assert aca.nfe_backward == 6 * accepted
    own = exact_figures("own-adjoint", "dopri5", rtol=1e-7, atol=1e-7)
    assert own.nfe_forward == aca.nfe_forward
    assert own.nfe_backward >= 2 + 6 * 2 and (own.nfe_backward - 2) % 6 == 0


# -- memory --------------------------------------------------------------------------------------


def test_checkpoint_memory_grows_like_sqrt_steps():
    """Fitted exponent of saved and peak bytes over 16..256 steps: at most 0.6 (direct: 1.0)."""
    figures = {n: exact_figures("checkpoint", "rk4", steps=n, width=8, dim=4) for n in (16, 64, 256)}

    def exponent(metric):
        x = [math.log(n) for n in figures]
        y = [math.log(getattr(r, metric)) for r in figures.values()]
        mx, my = sum(x) / len(x), sum(y) / len(y)
        return sum((a - mx) * (b - my) for a, b in zip(x, y)) / sum((a - mx) ** 2 for a in x)

    assert 0.2 < exponent("saved_bytes") <= 0.6
    assert 0.2 < exponent("cpu_peak_bytes") <= 0.6


def test_checkpoint_segments_are_configurable():
    """Each extra segment keeps one more boundary state: bytes grow by exactly a state per segment."""
    config = CellConfig(method="checkpoint", solver="rk4", steps=32, **SMALL)
    state_bytes = SMALL["batch"] * SMALL["dim"] * 4
    saved = {}
    for segments in (2, 8):
        step = build_pass(config)
        step.method = CheckpointMethod(segments=segments)
        from neural_ode.measuring.memory import saved_bytes

        saved[segments], loss = saved_bytes(step.forward)
        loss.backward()
    assert saved[8] - saved[2] == 6 * state_bytes
    assert segment_bounds(10, 3) == [(0, 3), (3, 7), (7, 10)]
    assert segment_bounds(10, 3, cuts=[5]) == [(0, 3), (3, 5), (5, 7), (7, 10)]
    with pytest.raises(ValueError, match="segments must be a positive integer"):
        CheckpointMethod(segments=0)


def test_aca_memory_lies_between_adjoint_and_direct():
    figures = {m: exact_figures(m, "rk4", steps=64) for m in ("adjoint", "aca", "direct")}
    for metric in ("saved_bytes", "cpu_peak_bytes"):
        adjoint, aca, direct = (getattr(figures[m], metric) for m in ("adjoint", "aca", "direct"))
        assert adjoint < aca < direct, metric


def test_own_adjoint_memory_is_flat():
    """10 -> 160 steps: saved bytes identical, peak bytes within 10 %.

    The state (64 x 16) outweighs the time grid (steps + 1 scalars, the one input that grows).
    """
    sizes = {"batch": 64, "dim": 16, "width": 32}
    few, many = (exact_figures("own-adjoint", "rk4", steps=n, **sizes) for n in (10, 160))
    assert few.saved_bytes == many.saved_bytes
    assert abs(many.cpu_peak_bytes - few.cpu_peak_bytes) <= 0.1 * few.cpu_peak_bytes


def test_own_adjoint_adaptive_peak_is_the_same_with_rejected_steps():
    """dopri5 at horizon 4 (no rejected backward step) and 16 (86 backward evaluations, with
    rejections): the same CPU peak to the byte. A rejected attempt's state, stages and error
    estimate are freed before the retry; kept, they raised the peak at 16 by 15 %."""
    sizes = {"batch": 8, "dim": 8, "width": 32}
    short, long = (
        exact_figures("own-adjoint", "dopri5", rtol=1e-5, atol=1e-5, horizon=h, **sizes) for h in (4.0, 16.0)
    )
    assert long.nfe_backward > short.nfe_backward + 40
    assert long.cpu_peak_bytes == short.cpu_peak_bytes


def test_own_adjoint_saves_what_torchdiffeqs_adjoint_saves():
    ours, theirs = exact_figures("own-adjoint", "rk4", steps=20), exact_figures("adjoint", "rk4", steps=20)
    assert ours.saved_bytes == theirs.saved_bytes


def test_float32_agrees_with_torchdiffeq():
    for method, reference in (("checkpoint", "direct"), ("aca", "direct"), ("own-adjoint", "adjoint")):
        ours, _ = gradient(method, "rk4", steps=10, dtype="float32")
        theirs, _ = gradient(reference, "rk4", steps=10, dtype="float32")
        assert relative_error(ours, theirs) < 1e-5, method


def test_torchdiffeq_is_untouched():
    """The lean core imports nothing from torchdiffeq's internals (no monkey-patching)."""
    assert torchdiffeq.odeint.__module__.startswith("torchdiffeq")


@pytest.mark.parametrize("solver", sorted(FIXED_TABLEAUX))
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_generated_adjoint_step_is_the_loop_to_the_bit(solver, dtype):
    """own-adjoint's backward runs a straight-line step generated per tableau; it returns
    exactly (bitwise) what the readable loop ``adjoint_step`` returns: y, a and dL/dtheta."""
    from neural_ode.integrators import Stepper
    from neural_ode.methods.own_adjoint import adjoint_step, generated_adjoint_step

    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(3, 8), nn.Tanh(), nn.Linear(8, 3)).to(dtype)
    params = tuple(net.parameters())

    def field(t, y):
        return net(y) * (1 + t)  # time-dependent, so the stage times matter

    stepper = Stepper(FIXED_TABLEAUX[solver])
    y, a = torch.randn(4, 3, dtype=dtype), torch.randn(4, 3, dtype=dtype)
    times = tuple(torch.tensor(0.3 - c * 0.1, dtype=dtype) for c in stepper.c)
    g_loop, g_generated = [torch.zeros_like(p) for p in params], [torch.zeros_like(p) for p in params]
    loop = adjoint_step(field, stepper, times, y, a, g_loop, 0.1, params)
    generated = generated_adjoint_step(stepper)(field, times, y, a, g_generated, 0.1, params)
    for expected, got in zip((*loop, *g_loop), (*generated, *g_generated)):
        assert torch.equal(expected, got)
    assert any(bool(g.abs().sum() > 0) for g in g_generated)  # the quadrature did accumulate
