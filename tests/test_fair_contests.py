"""Head-to-heads pair like with like (landed with landed) and say what they compare."""

from __future__ import annotations

import pandas as pd

from neural_ode import CellConfig, measure_cell
from neural_ode.reporting.columns import prepare
from neural_ode.reporting.tables.matching import (
    contest,
    equal_accuracy_table,
    equal_settings_table,
    landing,
    pairs_table,
)


def _cell(method, rtol, land, error, time, interpolated):
    return {"workload": "mlp", "method": method, "solver": "dopri5", "horizon": 1.0, "rtol": rtol, "atol": rtol,
            "land": land, "interpolated": interpolated, "status": "ok", "grad_rel_error": error,
            "sol_rel_error": error / 10, "time_forward_s": time, "time_backward_s": time, "cpu_peak_bytes": 1e6,
            "nfe_forward": 20}  # fmt: skip


def _frame():
    rows = []
    for rtol, scale in ((1e-3, 1.0), (1e-5, 2.0), (1e-7, 4.0)):
        rows.append(_cell("direct", rtol, False, 100 * rtol, 1e-3 * scale, True))  # interpolated: 100x worse
        rows.append(_cell("direct", rtol, True, rtol, 1.1e-3 * scale, False))
        rows.append(_cell("aca", rtol, False, rtol, 0.8e-3 * scale, False))  # the lean core lands anyway
    return prepare(pd.DataFrame(rows))


def test_landing_comes_from_the_record_or_the_method():
    frame = _frame()
    assert list(landing(frame)[:3]) == ["interpolated", "landed", "landed"]
    old = frame.drop(columns=["interpolated"])
    assert list(landing(old)[:3]) == ["interpolated", "landed", "landed"]


def test_contests_say_what_they_compare():
    assert contest("direct", "aca") == "methods and implementations"
    assert contest("lean-direct", "aca") == "methods"
    assert contest("direct", "lean-direct") == "implementations"
    assert contest("direct", "adjoint") == "methods"


def test_equal_accuracy_and_equal_settings_never_mix_landed_and_interpolated():
    frame = _frame()
    accuracy = equal_accuracy_table(frame)
    pair = accuracy[(accuracy["method_a"] == "direct") & (accuracy["method_b"] == "aca")]
    assert set(pair["landing"]) == {"landed"} and set(pair["contest"]) == {"methods and implementations"}
    # landed direct against landed aca: 0.8/1.1, not 0.8/1.0 against the cheaper but 100x less accurate interpolation
    assert pair[pair["criterion"] == "time"]["ratio"].round(3).unique().tolist() == [round(0.8 / 1.1, 3)]
    settings = equal_settings_table(frame)
    pair = settings[(settings["method_a"] == "direct") & (settings["method_b"] == "aca")]
    assert len(pair) and set(pair["landing"]) == {"landed"}
    assert (pair["error_a"] == pair["error_b"]).all()  # the landed direct cell, never the interpolated one
    table = pairs_table(frame)
    assert table.iloc[0]["compares"] == "methods and implementations"
    assert table.iloc[0]["landing (like with like)"] == "landed"


def test_lean_direct_is_direct_on_the_lean_core():
    sizes = {"workload": "mlp", "batch": 8, "width": 16, "dim": 4, "solver": "rk4", "steps": 4}
    lean, direct = (
        measure_cell(CellConfig(method=m, **sizes), rss="skip", peak=False, timing=False)
        for m in ("lean-direct", "direct")
    )
    assert lean.ok and lean.nfe_forward == direct.nfe_forward == 16 and lean.nfe_backward == 0
    assert abs(lean.grad_rel_error - direct.grad_rel_error) < 1e-5
    adaptive = {**sizes, "solver": "dopri5", "steps": None, "rtol": 1e-5, "atol": 1e-5}
    record = measure_cell(CellConfig(method="lean-direct", **adaptive), rss="skip", peak=False, timing=False)
    assert record.ok and record.interpolated is False and record.grad_rel_error < 1e-5
