"""Cell configs: defaults filled in, bad input refused with a message naming what is allowed."""

import pytest

from neural_ode import CellConfig, CellRecord, ConfigError, records_to_frame


def test_fixed_grid_defaults_and_workload_sizes():
    config = CellConfig(workload="conv", solver="rk4")
    assert (config.steps, config.rtol, config.atol) == (10, None, None)
    assert (config.batch, config.width, config.dim) == (32, 64, 6)
    assert config.depth == 10 and not config.adaptive


def test_adaptive_defaults_take_tolerances_and_the_horizon_is_the_depth():
    config = CellConfig(solver="dopri5", horizon=2.5)
    assert (config.rtol, config.atol, config.steps) == (1e-6, 1e-6, None)
    assert config.adaptive and config.depth == 2.5


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"workload": "resnet"}, "unknown workload 'resnet'; allowed: mlp, conv"),
        ({"method": "magic"}, "unknown method 'magic'; allowed: direct, adjoint, adjoint-seminorm"),
        ({"solver": "rk45"}, "unknown solver 'rk45'; allowed: euler"),
        ({"dtype": "float16"}, "unknown dtype 'float16'; allowed: float32, float64"),
        ({"steps": 0}, "steps must be a positive integer, got 0"),
        ({"steps": 2.5}, "steps must be a positive integer, got 2.5"),
        ({"batch": -1}, "batch must be a positive integer, got -1"),
        ({"horizon": 0.0}, "horizon must be a positive number, got 0.0"),
        ({"solver": "dopri5", "rtol": -1e-3}, "rtol must be a positive number"),
        ({"solver": "rk4", "rtol": 1e-3}, "takes no tolerance; rtol/atol apply to adaptive solvers only: dopri5"),
        ({"solver": "dopri5", "steps": 10}, "is adaptive: its depth is --horizon, not --steps"),
    ],
)
def test_bad_configs_are_refused_with_what_is_allowed(fields, message):
    with pytest.raises(ConfigError) as info:
        CellConfig(**fields)
    assert message in str(info.value)


def test_record_round_trips_through_a_flat_dict_and_into_pandas():
    record = CellRecord(config=CellConfig(solver="bosh3"), nfe_forward=12, saved_bytes=1024)
    row = record.to_dict()
    assert row["solver"] == "bosh3" and row["rtol"] == 1e-6 and row["nfe_forward"] == 12
    assert CellRecord.from_dict(row) == record
    frame = records_to_frame([record, record.to_dict()])
    assert list(frame["saved_bytes"]) == [1024, 1024]
    assert {"workload", "status", "time_forward_s", "cuda_peak_bytes", "git_commit"} <= set(frame.columns)
