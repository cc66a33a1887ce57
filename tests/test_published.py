"""Against published results: the joint-step counts and the table the ``published`` command writes."""

from __future__ import annotations

import pandas as pd
import pytest

from neural_ode.apps.published.table import COLUMNS, KINDS, PUBLISHED
from neural_ode.cli import main as cli_main

joint = pytest.importorskip("neural_ode.apps.published.joint")
pytest.importorskip("torchode")


def test_joint_steps_grow_with_the_spread_of_mu_and_two_libraries_count_the_joint_solve_alike():
    narrow, wide = joint.step_counts(1.0), joint.step_counts(100.0)
    # every sample alike: one step size fits all, joint = per sample
    assert narrow.per_sample_max == narrow.torchode_joint and narrow.joint_over_per_sample == 1.0
    # spread mu: the joint solve follows the stiffest sample (torchode's paper: up to 4x)
    assert wide.torchode_joint == wide.torchdiffeq_joint  # torchode holding the batch as one sample = torchdiffeq
    assert abs(wide.torchode_joint - wide.per_sample_max) <= 2
    assert 3.5 < wide.joint_over_per_sample < 4.5


def test_the_published_command_writes_every_row_with_its_source_and_verdict(tmp_path, capsys):
    assert cli_main(["published", "--out", str(tmp_path), "--no-training"]) == 0
    table = pd.read_csv(tmp_path / "published.csv")
    assert list(table.columns) == COLUMNS and len(table) == len(PUBLISHED) >= 7
    assert table["source"].notna().all() and table["published"].notna().all()
    assert set(table["kind"]) <= set(KINDS) and table["published setting"].notna().all()
    counted = table[table["claim"].str.contains("jointly")].iloc[0]
    assert counted["verdict"] == "reproduced at mu spread 1–100" and "4.01x (mu 1–100)" in counted["ours"]
    assert "stiffest sample" in counted["mechanism"]
    issue = table[table["source"].str.contains("issue 259")].iloc[0]
    assert issue["kind"] == "user report"
    # without results, the measured rows say what they lack instead of a number
    assert (table.loc[~table["claim"].str.contains("jointly"), "verdict"] == "not measured").all()
    assert "# Against published results" in (tmp_path / "published.md").read_text()


@pytest.mark.slow
def test_solver_dependence_trains_and_evaluates_every_model_at_every_solver():
    from neural_ode.apps.published.solver_dependence import EVAL_STEPS, solver_dependence

    models = solver_dependence(epochs=1, train_steps=(1, 2), train_limit=256)
    assert [m.train_steps for m in models] == [1, 2]
    for model in models:
        assert set(model.accuracy) == {*EVAL_STEPS, "dopri5"}
        assert all(0.0 <= a <= 1.0 for a in model.accuracy.values())
        assert model.drop_points == pytest.approx(100 * (model.accuracy[model.train_steps] - model.accuracy["dopri5"]))


def test_with_results_the_report_gets_the_section_against_published_results(tmp_path, capsys):
    """With result inputs, `published` also writes the report of those cells, the table as its section."""
    from pathlib import Path

    committed = Path(__file__).parent.parent / "reports" / "validation" / "results.jsonl"
    if not committed.is_file():
        pytest.skip("no committed reports/validation/results.jsonl")
    lines = committed.read_text().splitlines()
    results = tmp_path / "results.jsonl"
    results.write_text("\n".join(lines[:8]) + "\n")  # a few cells: enough to render, fast to draw
    out = tmp_path / "out"
    assert cli_main(["published", str(results), "--out", str(out), "--no-training"]) == 0
    table = pd.read_csv(out / "published.csv")
    md, html = (out / "report.md").read_text(), (out / "report.html").read_text()
    assert "## Against published results" in md and 'id="published"' in html
    for claim in table["claim"]:
        assert claim in md
    assert md.index("## Against published results") < md.index("## The paper's claims against this run")


def test_a_pass_counts_evaluations_and_steps_apart_in_each_direction():
    """dopri5 on one interval: 2 evaluations to pick the first step, then 6 per accepted or rejected step."""
    from neural_ode.apps.published.counted import count_pass
    from neural_ode.config import CellConfig

    mlp = {"workload": "mlp", "solver": "dopri5", "batch": 4, "width": 32, "dim": 2, "layers": 2}
    for rtol, atol in ((1e-5, 1e-5), (1e-5, 1e-8)):
        full, semi, no_time = (count_pass(CellConfig(rtol=rtol, atol=atol, **mlp), norm)
                               for norm in ("full", "seminorm", "seminorm-no-time"))  # fmt: skip
        for counts in (full, semi, no_time):
            assert counts.nfe_forward == 2 + 6 * (counts.accepted_forward + counts.rejected_forward)
            assert counts.nfe_backward == 2 + 6 * (counts.accepted_backward + counts.rejected_backward)
        # an autonomous field: its time adjoint stays zero, so dropping it from the seminorm changes nothing
        assert no_time == semi
        if atol == rtol:  # the parameter adjoint's tolerance is atol: at rtol = atol it limits nothing here
            assert semi.nfe_backward == full.nfe_backward
        else:
            assert semi.nfe_backward < full.nfe_backward


def test_a_measured_cell_records_its_accepted_and_rejected_steps():
    from neural_ode import CellConfig, measure_cell

    common = {"workload": "mlp", "solver": "dopri5", "batch": 4, "width": 16, "dim": 2, "repeats": 1, "warmup": 0}
    exact = {"rss": "skip", "reference": False, "peak": False, "timing": False, "roundoff": False}
    adjoint, direct = (measure_cell(CellConfig(**common, method=m), **exact) for m in ("adjoint", "direct"))
    assert adjoint.nfe_forward == 2 + 6 * (adjoint.steps_accepted_forward + adjoint.steps_rejected_forward)
    assert adjoint.nfe_backward == 2 + 6 * (adjoint.steps_accepted_backward + adjoint.steps_rejected_backward)
    assert direct.steps_accepted_forward == adjoint.steps_accepted_forward
    assert direct.steps_accepted_backward is None  # backpropagation solves nothing backwards
    grid = measure_cell(CellConfig(**{**common, "solver": "rk4", "steps": 4}, method="adjoint"), **exact)
    assert grid.steps_accepted_forward is None  # a fixed grid has no step control
