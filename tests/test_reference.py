"""The float64 reference: lands on t1, resolves float64 cells, carries its own error, guards its cache."""

import warnings

import pytest
import torch
import torchdiffeq
from conftest import SMALL

from neural_ode import CellConfig, measure_cell
from neural_ode.measuring import reference as ref


def test_a_float64_rk4_cell_with_many_steps_agrees_with_the_reference_far_below_1e_9():
    # rk4 at h = 1/400 has a global error near 1e-12 on this smooth problem: the reference must resolve it
    config = CellConfig(**SMALL, method="direct", solver="rk4", steps=400, dtype="float64")
    record = measure_cell(config, rss="skip", timing=False, peak=False)
    assert record.status == "ok", record.error
    assert record.grad_rel_error < 1e-9
    assert record.sol_rel_error < 1e-9
    assert 0 < record.ref_grad_rel_error < 1e-9
    assert 0 < record.ref_sol_rel_error < 1e-9
    assert record.interpolated is False


def test_torchdiffeq_adaptive_cells_say_whether_their_final_value_was_interpolated():
    base = CellConfig(**SMALL, method="direct", solver="dopri5")
    interpolated = measure_cell(base, rss="skip", timing=False, peak=False, reference=False)
    landed = measure_cell(base.replace(land=True), rss="skip", timing=False, peak=False, reference=False)
    own = measure_cell(base.replace(method="aca"), rss="skip", timing=False, peak=False, reference=False)
    assert (interpolated.interpolated, landed.interpolated, own.interpolated) == (True, False, False)


def _key_path(config):
    ref.reference_for(config)  # computes and stores it
    (path,) = ref.cache_dir().glob("reference-*.pt")
    return path


def test_a_corrupted_or_wrong_shape_cache_entry_is_recomputed_with_a_warning(tmp_path, monkeypatch):
    monkeypatch.setenv("NEURAL_ODE_BENCH_CACHE", str(tmp_path))
    config = CellConfig(workload="mlp", batch=2, width=8, dim=3, method="direct", solver="rk4")
    ref._CACHE.clear()
    path = _key_path(config)
    good = ref.reference_for(config)
    stored = torch.load(path, weights_only=True)

    stored["gradient"] = stored["gradient"] + 1.0  # corrupted: the checksum no longer matches
    torch.save(stored, path)
    ref._CACHE.clear()
    with pytest.warns(UserWarning, match="checksum mismatch"):
        again = ref.reference_for(config)
    assert torch.equal(again.gradient, good.gradient)

    stored = torch.load(path, weights_only=True)
    stored["solution"] = stored["solution"][..., :1]  # a state of the wrong size
    stored["checksum"] = ref._checksum(stored["solution"], stored["gradient"])
    torch.save(stored, path)
    ref._CACHE.clear()
    with pytest.warns(UserWarning, match="shapes"):
        again = ref.reference_for(config)
    assert torch.equal(again.solution, good.solution)

    path.write_bytes(b"not a torch file")
    ref._CACHE.clear()
    with pytest.warns(UserWarning, match="unusable"):
        ref.reference_for(config)
    ref._CACHE.clear()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the rewritten entry is good again
        assert torch.equal(ref.reference_for(config).gradient, good.gradient)
    ref._CACHE.clear()


def test_below_resolution_is_within_10x_of_the_reference_own_error():
    assert ref.below_resolution(5e-11, 1e-11)
    assert not ref.below_resolution(5e-10, 1e-11)
    assert not ref.below_resolution(1e-12, None)


TINY_CONV = dict(workload="conv", batch=2, width=4, dim=3, layers=2, horizon=0.25, outputs=2)


def _grid_by_plain_backprop(config, steps_per_unit):
    """The grid reference recomputed independently: one torchdiffeq rk4 call, plain backprop, no checkpoints."""
    problem, t, skip = ref._problem(*ref._settings(config))
    grid = torch.cat([torch.linspace(float(a), float(b), round((b - a) * steps_per_unit) + 1, dtype=torch.float64)[:-1]
                      for a, b in zip(t[:-1].tolist(), t[1:].tolist())] + [t[-1:]])  # fmt: skip
    states = torchdiffeq.odeint(problem.field, problem.initial_state(), grid, method="rk4")
    on_outputs = torch.stack([states[int(torch.nonzero(grid == time)[0])] for time in t])[skip:]
    problem.loss(on_outputs).backward()
    return on_outputs.detach(), ref.flat_gradient(problem.parameters())


def test_a_field_with_kinks_gets_a_grid_reference_that_plain_backprop_reproduces(tmp_path, monkeypatch):
    monkeypatch.setenv("NEURAL_ODE_BENCH_CACHE", str(tmp_path))
    config = CellConfig(**TINY_CONV, method="direct", solver="dopri5")
    assert (ref.grid_steps("conv"), ref.grid_steps("stiff"), ref.grid_steps("mlp")) == (256, 20000, None)
    ref._CACHE.clear()
    reference = ref.reference_for(config)
    solution, gradient = _grid_by_plain_backprop(config, ref.grid_steps("conv"))
    assert reference.solution.shape == (2, 2, 4, 3, 3)
    assert ref.relative_error(solution, reference.solution) < 1e-13
    assert ref.relative_error(gradient, reference.gradient) < 1e-12
    # its own error: the distance from the same solve at half the steps
    half_solution, half_gradient = _grid_by_plain_backprop(config, ref.grid_steps("conv") // 2)
    assert reference.gradient_error == pytest.approx(ref.relative_error(half_gradient, reference.gradient), rel=1e-6)
    assert reference.solution_error == pytest.approx(ref.relative_error(half_solution, reference.solution), rel=1e-6)
    assert 0 < reference.solution_error < reference.gradient_error < 1e-2
    ref._CACHE.clear()


def test_a_reference_not_cached_is_abandoned_at_the_deadline(tmp_path, monkeypatch):
    monkeypatch.setenv("NEURAL_ODE_BENCH_CACHE", str(tmp_path))
    config = CellConfig(**TINY_CONV, method="direct", solver="rk4")
    ref._CACHE.clear()
    calls = []

    def check():
        calls.append(1)
        if len(calls) > 5:
            raise TimeoutError("deadline")

    with pytest.raises(TimeoutError):
        ref.reference_for(config, check=check)
    assert len(calls) == 6 and not ref.is_cached(config)
    ref._CACHE.clear()


def test_the_sweep_computes_missing_references_first_in_their_own_pass(tmp_path, monkeypatch):
    from neural_ode.sweeping.runner import prepare_references

    monkeypatch.setenv("NEURAL_ODE_BENCH_CACHE", str(tmp_path / "cache"))
    cells = [CellConfig(workload="mlp", batch=2, width=8, dim=3, method=m, solver="rk4", horizon=h)
             for m in ("direct", "adjoint") for h in (0.5, 1.0)]  # fmt: skip
    assert not any(ref.is_cached(cell) for cell in cells)
    assert prepare_references(cells, tmp_dir=tmp_path, progress=False) == {}
    assert all(ref.is_cached(cell) for cell in cells)
    assert len(list((tmp_path / "cache").glob("reference-*.pt"))) == 2  # one per problem, not per cell
    with pytest.warns(UserWarning, match="could not be computed"):
        failed = prepare_references([CellConfig(workload="mlp", batch=2, width=8, dim=3, horizon=2.0)],
                                    tmp_dir=tmp_path, timeout_s=0.01, progress=False)  # fmt: skip
    assert list(failed) == ["mlp batch 2 width 8 dim 3 layers 1 horizon 2 outputs 1 seed 0"]


def test_the_stiff_workload_gets_a_grid_reference_that_a_fine_rk4_cell_agrees_with(tmp_path, monkeypatch):
    # the adaptive float64 adjoint underflows its step on Van der Pol at mu = 1000; the grid does not
    monkeypatch.setenv("NEURAL_ODE_BENCH_CACHE", str(tmp_path))
    config = CellConfig(workload="stiff", batch=2, method="direct", solver="rk4", steps=2000, horizon=0.1,
                        dtype="float64")  # fmt: skip
    ref._CACHE.clear()
    record = measure_cell(config, rss="skip", timing=False, peak=False)
    assert record.status == "ok", record.error
    assert record.ref_grad_rel_error < 1e-8 and record.ref_sol_rel_error < 1e-10
    assert record.grad_rel_error < 1e-5  # h = 5e-5 against the reference's 5e-6: rk4's h^4 gap
    ref._CACHE.clear()


def test_a_refitted_field_gets_a_reference_of_its_own(monkeypatch):
    from neural_ode.measuring.reference import cache_key
    from neural_ode.workloads import spiral

    cell = CellConfig(workload="spiral", solver="rk4", steps=4)
    before = cache_key(cell)
    monkeypatch.setattr(spiral, "FIT_ITERATIONS", spiral.FIT_ITERATIONS + 1)
    assert cache_key(cell) != before
    from neural_ode.workloads.cache import library_versions

    versions = library_versions().replace(" ", "")  # torch, torchdiffeq and numpy: an upgrade recomputes
    assert f"torch{torch.__version__}" in versions
    assert cache_key(CellConfig(workload="mlp", solver="rk4", steps=4)).endswith(f"-o1-{versions}")
