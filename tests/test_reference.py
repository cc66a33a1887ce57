"""The float64 reference: lands on t1, resolves float64 cells, carries its own error, guards its cache."""

import warnings

import pytest
import torch
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
    ref._reference.cache_clear()
    path = _key_path(config)
    good = ref.reference_for(config)
    stored = torch.load(path, weights_only=True)

    stored["gradient"] = stored["gradient"] + 1.0  # corrupted: the checksum no longer matches
    torch.save(stored, path)
    ref._reference.cache_clear()
    with pytest.warns(UserWarning, match="checksum mismatch"):
        again = ref.reference_for(config)
    assert torch.equal(again.gradient, good.gradient)

    stored = torch.load(path, weights_only=True)
    stored["solution"] = stored["solution"][..., :1]  # a state of the wrong size
    stored["checksum"] = ref._checksum(stored["solution"], stored["gradient"])
    torch.save(stored, path)
    ref._reference.cache_clear()
    with pytest.warns(UserWarning, match="shapes"):
        again = ref.reference_for(config)
    assert torch.equal(again.solution, good.solution)

    path.write_bytes(b"not a torch file")
    ref._reference.cache_clear()
    with pytest.warns(UserWarning, match="unusable"):
        ref.reference_for(config)
    ref._reference.cache_clear()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the rewritten entry is good again
        assert torch.equal(ref.reference_for(config).gradient, good.gradient)
    ref._reference.cache_clear()


def test_below_resolution_is_within_100x_of_the_reference_own_error():
    assert ref.below_resolution(5e-10, 1e-11)
    assert not ref.below_resolution(5e-9, 1e-11)
    assert not ref.below_resolution(1e-12, None)
