"""The whole cell measurement: every metric filled, provenance recorded."""

from conftest import SMALL, requires_cuda

from neural_ode import METRICS, CellConfig, measure_cell


def test_a_full_cpu_cell_fills_every_cpu_metric():
    record = measure_cell(CellConfig(**SMALL, method="adjoint", solver="rk4", steps=6, repeats=3), rss="fresh")
    assert record.status == "ok", record.error
    assert (record.nfe_forward, record.nfe_backward) == (24, 24)
    # not measured here by design: CUDA peaks (a CPU cell), instruction counts (opt-in: run --instructions)
    # and accepted/rejected step counts (adaptive solvers only; this cell is rk4)
    skipped = {"cuda_peak_bytes", "instructions_forward", "instructions_backward"} | {
        name for name in METRICS if name.startswith("steps_")
    }
    for name in METRICS:
        if name not in skipped:
            assert getattr(record, name) is not None, name
    assert record.cuda_peak_bytes is None  # a CPU cell has no CUDA figure
    assert record.time_repeats == 3
    assert record.time_forward_min_s <= record.time_forward_s <= record.time_forward_max_s
    assert record.params == (16 * 64 + 64) + (64 * 16 + 16)
    assert record.rss_peak_bytes > 0
    assert record.torch_version.startswith("2.") and record.threads >= 1 and record.device_name


def test_conv_workload_is_measured():
    record = measure_cell(
        CellConfig(workload="conv", batch=2, width=8, solver="euler", steps=3, repeats=1),
        rss="skip",
        reference=False,
    )
    assert record.status == "ok", record.error
    assert record.nfe_forward == 3
    assert record.saved_bytes > 0


@requires_cuda
def test_cuda_peak_grows_with_steps_for_direct_and_stays_flat_for_adjoint():
    def peak(method, steps):
        config = CellConfig(**SMALL, method=method, solver="rk4", steps=steps, device="cuda")
        record = measure_cell(config, rss="skip", timing=False, reference=False)
        assert record.status == "ok", record.error
        return record.cuda_peak_bytes

    assert peak("direct", 80) / peak("direct", 40) > 1.8
    assert peak("adjoint", 80) / peak("adjoint", 40) < 1.1


def test_a_sweep_records_the_commit_it_started_at():
    from neural_ode.measuring import provenance

    assert provenance.provenance("cpu", "0123abc")["git_commit"] == "0123abc"
    assert provenance.provenance("cpu")["git_commit"] == provenance.checkout_commit()
