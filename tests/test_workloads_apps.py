"""The outputs axis and the application workloads (latent, cnf, stiff, spiral, digits): exact facts only."""

from __future__ import annotations

import pytest
import torch

from neural_ode import CellConfig, measure_cell
from neural_ode.measuring.cell import build_pass, fixed_grid_points
from neural_ode.workloads.cnf import CNFField, exact_divergence, hutchinson_divergence
from neural_ode.workloads.latent import observation_times

#: small versions of each workload (stiff on a horizon its explicit solvers can cross in a few steps)
SMALL = {
    "mlp": {"batch": 8, "width": 16, "dim": 4},
    "latent": {"batch": 8, "outputs": 6},
    "cnf": {"batch": 16, "width": 16},
    "cnf-hutchinson": {"batch": 16, "width": 16, "dim": 3},
    "stiff": {"batch": 4, "horizon": 0.001},
    "digits": {"batch": 4, "width": 8},
}


def exact(config: CellConfig):
    return measure_cell(config, rss="skip", peak=False, timing=False, reference=False)


@pytest.mark.parametrize("workload", SMALL)
def test_the_loss_depends_on_every_output_time(workload):
    outputs = SMALL[workload].get("outputs", 4)
    config = CellConfig(workload=workload, solver="rk4", steps=8, **{**SMALL[workload], "outputs": outputs})
    step = build_pass(config)
    loss = step.forward()
    step.trajectory.retain_grad()
    loss.backward()
    assert step.trajectory.shape[0] == outputs
    per_output = step.trajectory.grad.flatten(1).abs().sum(1)
    assert bool((per_output > 0).all()), per_output


def test_one_output_is_the_final_state_and_the_old_loss():
    config = CellConfig(workload="mlp", solver="rk4", steps=8, batch=8, width=16, dim=4)
    assert config.outputs == 1 and config.layers == 1
    step = build_pass(config)
    assert step.t.tolist() == [0.0, 1.0]
    loss = step.forward()
    assert torch.equal(loss, (step.final_state - step.problem.target).pow(2).mean())


def test_evenly_spaced_outputs_exclude_zero_and_end_at_the_horizon():
    step = build_pass(
        CellConfig(workload="mlp", solver="rk4", steps=8, horizon=2.0, outputs=4, batch=2, width=4, dim=2)
    )
    assert step.t.tolist() == [0.0, 0.5, 1.0, 1.5, 2.0]
    assert step.skip == 1


@pytest.mark.parametrize("workload", SMALL)
@pytest.mark.parametrize("method", ["direct", "adjoint"])
def test_nfe_is_exact_on_a_fixed_grid(workload, method):
    outputs = SMALL[workload].get("outputs", 4)
    config = CellConfig(
        workload=workload, method=method, solver="rk4", steps=8, **{**SMALL[workload], "outputs": outputs}
    )
    record = exact(config)
    assert record.status == "ok", record.error
    if workload == "latent":  # irregular observation times: each but the last (at T) adds one step
        expected = 4 * (8 + outputs - 1)
    else:  # 8 steps, outputs on the grid
        expected = 4 * 8
    step = build_pass(config)
    assert len(fixed_grid_points(8, step.t)) - 1 == expected // 4
    assert record.nfe_forward == expected
    assert record.nfe_backward == (expected if method == "adjoint" else 0)


def test_outputs_off_the_grid_add_one_step_each_and_the_adjoint_walks_the_same_grid():
    config = CellConfig(workload="mlp", method="adjoint", solver="rk4", steps=7, outputs=5, batch=4, width=8, dim=2)
    record = exact(config)
    assert record.nfe_forward == record.nfe_backward == 4 * (7 + 4)


def test_the_stiff_workload_blows_up_on_a_coarse_grid_with_a_reason():
    record = exact(CellConfig(workload="stiff", solver="rk4", steps=4, batch=2))
    assert record.status == "non_finite"
    assert "non-finite" in record.error


def test_cnf_exact_divergence_equals_the_trace_of_the_jacobian():
    torch.manual_seed(0)
    field = CNFField(dim=3, width=8, layers=2).double()
    z = torch.randn(5, 3, dtype=torch.float64, requires_grad=True)
    t = torch.tensor(0.3, dtype=torch.float64)
    div = exact_divergence(field.dynamics(t, z), z)
    for i in range(5):
        jacobian = torch.autograd.functional.jacobian(lambda x: field.dynamics(t, x[None])[0], z[i].detach())
        assert torch.allclose(div[i], torch.trace(jacobian), rtol=1e-12, atol=1e-12)
    noise = torch.tensor([[1.0, -1.0, 1.0]], dtype=torch.float64).expand(5, 3)
    estimate = hutchinson_divergence(field.dynamics(t, z), z, noise)
    jacobian = torch.autograd.functional.jacobian(lambda x: field.dynamics(t, x[None])[0], z[0].detach())
    assert torch.allclose(estimate[0], noise[0] @ jacobian @ noise[0], rtol=1e-12)


def test_cnf_state_carries_the_log_density_and_the_loss_is_an_nll():
    step = build_pass(CellConfig(workload="cnf", solver="rk4", steps=4, batch=8, width=8))
    assert step.problem.y0.shape == (8, 3)
    assert torch.equal(step.problem.y0[:, 2], torch.zeros(8))
    loss = step.forward()
    assert loss.ndim == 0 and torch.isfinite(loss)


def test_latent_observation_times_are_irregular_and_reproducible_from_the_seed():
    def times(seed):
        return build_pass(CellConfig(workload="latent", solver="rk4", steps=4, seed=seed, batch=4)).problem.times

    first, again, other = times(0), times(0), times(1)
    assert torch.equal(first, again)
    assert not torch.equal(first, other)
    assert len(first) == 20 and float(first[0]) > 0
    gaps = torch.diff(first)
    assert bool((gaps > 0).all()) and float(gaps.max() - gaps.min()) > 1e-3  # increasing, not evenly spaced
    assert torch.equal(
        observation_times(5, 2.0, torch.Generator().manual_seed(3)),
        observation_times(5, 2.0, torch.Generator().manual_seed(3)),
    )


def test_latent_gradients_reach_the_encoder_and_decoder_through_the_adjoint():
    config = CellConfig(workload="latent", method="adjoint", solver="rk4", steps=4, batch=4, outputs=3)
    step = build_pass(config)
    step.run()
    encoder, decoder = step.problem.encoder, step.problem.decoder
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in (*encoder.parameters(), *decoder.parameters()))


def test_layers_set_the_parameter_count():
    one = build_pass(CellConfig(workload="mlp", solver="rk4", batch=2, width=8, dim=4))
    three = build_pass(CellConfig(workload="mlp", solver="rk4", batch=2, width=8, dim=4, layers=3))
    count = lambda step: sum(p.numel() for p in step.problem.parameters())  # noqa: E731
    assert count(one) == 4 * 8 + 8 + 8 * 4 + 4
    assert count(three) == count(one) + 2 * (8 * 8 + 8)
    conv = build_pass(CellConfig(workload="conv", solver="rk4", batch=2, width=8, layers=3))
    assert len([name for name, _ in conv.problem.field.named_children() if name.startswith("conv")]) == 3


@pytest.mark.slow
def test_the_trained_spiral_field_gives_an_adaptive_solve_of_over_a_hundred_evaluations():
    record = exact(CellConfig(workload="spiral", method="direct", solver="dopri5", rtol=1e-5, atol=1e-5))
    assert record.status == "ok", record.error
    assert record.nfe_forward >= 100
    fixed = exact(CellConfig(workload="spiral", method="adjoint", solver="rk4", steps=16, outputs=4))
    assert fixed.nfe_forward == fixed.nfe_backward == 64


def test_the_spiral_field_is_fitted_even_when_first_built_under_no_grad(tmp_path, monkeypatch):
    from neural_ode.workloads import spiral

    monkeypatch.setenv("NEURAL_ODE_BENCH_CACHE", str(tmp_path))
    monkeypatch.setattr(spiral, "FIT_ITERATIONS", 2)  # the loop's grad mode, not the fit, is under test
    with torch.no_grad():
        state = spiral.fit_state(8, 1)
    assert state and all(torch.isfinite(v).all() for v in state.values())


def test_fitted_fields_and_solved_data_are_cached_on_disk_and_recomputed_when_corrupt(tmp_path, monkeypatch):
    from neural_ode.workloads.cache import disk_cached

    monkeypatch.setenv("NEURAL_ODE_BENCH_CACHE", str(tmp_path))
    calls = []

    def compute():
        calls.append(1)
        return torch.arange(6, dtype=torch.float64).reshape(3, 2)

    first = disk_cached("probe", "probe-key", compute)
    again = disk_cached("probe", "probe-key", compute)
    assert len(calls) == 1 and torch.equal(first, again)
    (stored,) = tmp_path.glob("*-probe.pt")
    stored.write_bytes(b"not a torch file")
    assert torch.equal(disk_cached("probe", "probe-key", compute), first) and len(calls) == 2
    assert torch.equal(disk_cached("probe", "another key", compute), first) and len(calls) == 3


def test_the_digits_block_is_fitted_once_to_the_digits_and_classifies_them(tmp_path, monkeypatch):
    from neural_ode.workloads import digits

    monkeypatch.setenv("NEURAL_ODE_BENCH_CACHE", str(tmp_path))
    model, accuracy = digits.fitted(8, 2)
    again, same = digits.fitted(8, 2)  # read back from the disk cache
    assert len(list(tmp_path.glob("*-digits.pt"))) == 1 and same == accuracy
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), again.state_dict().values(), strict=True))
    assert accuracy > 0.2  # twice chance for this 8-channel block (the default 64-channel one reaches 0.956)
    problem = digits.DigitsWorkload().build(CellConfig(workload="digits", batch=4, width=8, solver="rk4", steps=4))
    assert problem.y0.shape == (4, 8, 4, 4)
    assert len(problem.parameters()) == len(list(model.field.parameters())) + len(list(model.head.parameters()))
