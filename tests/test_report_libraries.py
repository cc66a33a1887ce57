"""The report's "Which library?" section: identical cells side by side, and costs at equal gradient error."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from neural_ode.reporting import render_report
from neural_ode.reporting.columns import prepare
from neural_ode.reporting.tables.libraries import equal_error, equal_tolerance, libraries_section, library_of

TOLS = (1e-3, 1e-4, 1e-5)
#: method -> (gradient error at each tolerance, total time in s at each tolerance)
LINES = {
    "direct": ((1e-2, 1e-3, 1e-4), (0.001, 0.010, 0.100)),
    "torchode": ((1e-3, 1e-4, 1e-5), (0.002, 0.020, 0.200)),
    "own-adjoint": ((1e-2, 1e-3, 1e-4), (0.004, 0.008, 0.016)),
}


def frame() -> pd.DataFrame:
    rows = []
    for method, (errors, times) in LINES.items():
        for tol, error, time_s in zip(TOLS, errors, times):
            rows.append(
                dict(
                    workload="mlp",
                    method=method,
                    solver="dopri5",
                    horizon=1.0,
                    rtol=tol,
                    atol=tol,
                    batch=8,
                    width=16,
                    dim=4,
                    device="cpu",
                    dtype="float32",
                    seed=0,
                    status="ok",
                    nfe_forward=20,
                    nfe_backward=0,
                    time_forward_s=time_s / 2,
                    time_backward_s=time_s / 2,
                    saved_bytes=1e6,
                    cpu_peak_bytes=2e6 if method == "torchode" else 1e6,
                    grad_rel_error=error,
                    solver_overhead=2.0,
                )  # fmt: skip
            )
    return prepare(pd.DataFrame(rows))


def test_methods_name_their_library():
    assert library_of("direct") == library_of("adjoint") == "torchdiffeq"
    assert library_of("torchode-backsolve") == "torchode"
    assert library_of("own-adjoint") == library_of("checkpoint") == "neural-ode-bench"
    assert library_of("no-such-method") == "unknown"


def test_equal_tolerance_puts_every_library_of_a_cell_side_by_side():
    table = equal_tolerance(frame())
    assert len(table) == 9
    first = table[table["cell"] == "rtol 0.001"]
    assert sorted(first["library"]) == ["neural-ode-bench", "torchdiffeq", "torchode"]
    assert list(first.loc[first["method"] == "torchode", "CPU peak (MB)"]) == [2.0]


def test_equal_error_interpolates_each_line_in_log_log_and_never_extrapolates():
    table = equal_error(frame())
    at = table[np.isclose(table["grad error"], 1e-3)].set_index("method")
    assert at.loc["direct", "time total (ms)"] == pytest.approx(10.0)  # a measured point
    assert at.loc["torchode", "time total (ms)"] == pytest.approx(2.0)
    # own-adjoint is slower than torchode at 1e-3 but its cost grows slower: 8 ms
    assert at.loc["own-adjoint", "time total (ms)"] == pytest.approx(8.0)
    # 1e-5: only torchode reaches it, one line: no target; 1e-2: torchode does not reach it
    assert not np.isclose(table["grad error"], 1e-5).any()
    at_1e2 = table[np.isclose(table["grad error"], 1e-2)]
    assert set(at_1e2["method"]) == {"direct", "own-adjoint"}
    assert list(table[np.isclose(table["grad error"], 1e-3)]["method"]) == ["torchode", "own-adjoint", "direct"]


def test_interpolation_between_points_is_log_log():
    from neural_ode.reporting.tables.libraries import _interpolate

    value = _interpolate(pd.Series([1e-2, 1e-4]).to_numpy(), pd.Series([1.0, 100.0]).to_numpy(), 1e-3)
    assert value == pytest.approx(10.0)
    assert math.isnan(_interpolate(pd.Series([1e-2, 1e-4]).to_numpy(), pd.Series([1.0, 100.0]).to_numpy(), 1e-5))


@pytest.mark.slow
def test_report_has_the_section_when_two_libraries_were_measured(tmp_path):
    render_report(frame(), tmp_path)
    text = (tmp_path / "report.md").read_text()
    assert "## Which library?" in text and "### At equal gradient error" in text
    assert 'id="libraries"' in (tmp_path / "report.html").read_text()


def test_the_section_is_left_out_with_one_library():
    data = frame()
    assert libraries_section(data)["libraries_measured"] == ["neural-ode-bench", "torchdiffeq", "torchode"]
    assert libraries_section(data[data["method"] != "torchode"])["libraries_measured"] == [
        "neural-ode-bench",
        "torchdiffeq",
    ]
    assert libraries_section(data[data["method"] == "direct"])["libraries_measured"] == ["torchdiffeq"]
