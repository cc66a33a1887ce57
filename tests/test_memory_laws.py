"""Each method's memory law: lines fitted in their own unit, checked against it, extrapolated in it."""

from __future__ import annotations

import pandas as pd
import pytest

from neural_ode import CellConfig, measure_cell, records_to_frame
from neural_ode.methods import METHODS
from neural_ode.methods.laws import MEMORY_LAWS, law_of, longest_segment
from neural_ode.reporting.claims.growth import fit_growth, law_table
from neural_ode.reporting.columns import prepare
from neural_ode.reporting.tables.recommend import budget_table


def test_every_method_declares_a_law():
    for name, method in METHODS.items():
        assert (method.memory_unit or "flat") in MEMORY_LAWS, name
    assert law_of("direct").name == "evaluation" and law_of("aca").name == "step"
    assert law_of("checkpoint").name == "checkpoint" and law_of("adjoint").name == "flat"
    assert [longest_segment(n) for n in (8, 16, 32, 128)] == [3, 4, 6, 11]


@pytest.fixture(scope="module")
def checkpoint_cells():
    sizes = {"workload": "mlp", "method": "checkpoint", "solver": "rk4", "batch": 32, "width": 64, "dim": 16}
    records = [
        measure_cell(CellConfig(steps=steps, **sizes), rss="skip", timing=False, reference=False)
        for steps in (8, 16, 32, 128)
    ]
    assert all(r.ok for r in records), [r.error for r in records]
    return prepare(records_to_frame(records))


@pytest.mark.slow  # four profiled cells, about 4 s
@pytest.mark.parametrize(("metric", "unit"), [("saved_bytes", "segments"), ("cpu_peak_bytes", "steps per segment")])
def test_checkpoint_fitted_in_its_own_unit_on_8_to_32_steps_predicts_128_steps_within_5_percent(
    checkpoint_cells, metric, unit
):
    shallow, deep = (
        checkpoint_cells[checkpoint_cells["steps"] <= 32],
        checkpoint_cells[checkpoint_cells["steps"] == 128],
    )
    line = law_table(shallow, metric).iloc[0]
    assert line["depth_axis"] == unit and not line["leaves_law"]
    measured = float(deep[metric].iloc[0])
    depth = law_of("checkpoint").depth(metric, deep["steps"], deep["nfe_forward"], deep["adaptive"])[0]
    assert abs(line["fit"].predict(depth) / measured - 1) < 0.05
    # the same line in steps misses by far more (the audit: +46 % at 128 steps)
    in_steps = fit_growth(shallow["steps"], shallow[metric])
    assert in_steps.predict(128) / measured - 1 > 0.2
    # the budget table reads the line in its own unit and says it in steps too (N = u²)
    if metric == "cpu_peak_bytes":
        row = budget_table(shallow).iloc[0]
        assert row["depth axis (the method's law)"] == "steps per segment"
        assert "steps" in row["max depth in 1 GB"]
        whole = law_table(checkpoint_cells, metric).iloc[0]
        assert not whole["leaves_law"], whole["law_check"]


def test_a_line_that_leaves_its_law_is_flagged():
    rows = []
    for steps, value in ((4, 100.0), (8, 200.0), (16, 400.0), (32, 800.0)):  # an adjoint that grows
        rows.append({"workload": "mlp", "method": "adjoint", "solver": "rk4", "steps": steps, "status": "ok",
                     "saved_bytes": value, "nfe_forward": 4 * steps})  # fmt: skip
    for steps, value in ((4, 100.0), (8, 200.0), (16, 900.0), (32, 1000.0)):  # a direct line off its straight line
        rows.append({"workload": "mlp", "method": "direct", "solver": "rk4", "steps": steps, "status": "ok",
                     "saved_bytes": value, "nfe_forward": 4 * steps})  # fmt: skip
    frame = prepare(pd.DataFrame(rows))
    table = law_table(frame, "saved_bytes").set_index("method")
    assert table.loc["adjoint", "leaves_law"] and "flat law" in table.loc["adjoint", "law_check"]
    assert table.loc["direct", "leaves_law"] and table.loc["direct", "depth_axis"] == "evaluations"
    budget = budget_table(frame.assign(cpu_peak_bytes=frame["saved_bytes"])).set_index("method")
    assert budget.loc["adjoint", "max depth in 1 GB"] == "—"
    assert budget.loc["adjoint", "extrapolation"].startswith("no bound: the line leaves its method's law")
