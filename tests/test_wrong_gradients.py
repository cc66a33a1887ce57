"""Wrong gradients: measured (status ok), flagged ``gradient_wrong``, kept out of picks, fronts and medians."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from neural_ode import CellConfig, measure_cell
from neural_ode.reporting.columns import prepare, trusted, wrong_gradients
from neural_ode.reporting.tables.choices import choices_table, fronts_table
from neural_ode.reporting.tables.decisions import decision_sentences
from neural_ode.reporting.tables.gradients import wrong_gradient_section
from neural_ode.results.frame import results_frame
from neural_ode.results.trust import gradient_wrong, gradient_wrong_column


@pytest.mark.parametrize(
    ("grad", "sol", "wrong"),
    [
        (1.4e4, 2.7e-4, True),  # the audit's stiff dopri5 rtol 1e-3
        (14.0, 1.6e-6, True),  # ... at rtol 1e-6
        (1.01, 1.9e-3, True),  # larger than the gradient itself
        (0.05, 1e-5, True),  # 5000x the solution error, above the floor
        (1e-3, 1e-8, False),  # 1e5x a tiny solution error, but an accurate gradient
        (5e-3, 1e-5, False),  # 540x (the largest healthy ratio seen): not beyond
        (float("nan"), 1e-3, False),  # not measured
        (None, None, False),
    ],
)
def test_the_rule(grad, sol, wrong):
    assert gradient_wrong(grad, sol) is wrong
    assert bool(gradient_wrong_column([grad if grad is not None else math.nan], [sol or math.nan])[0]) is wrong


#: a stiff cell with a wrong gradient, cheap: 104 forward evaluations, gradient error ~1e5, state ~3e-4
WRONG = {"workload": "stiff", "method": "direct", "solver": "dopri5", "horizon": 0.02, "rtol": 1e-3, "atol": 1e-3}
#: the same problem on a fixed grid below the stability limit (h = 5e-4): a right gradient
RIGHT = {"workload": "stiff", "method": "direct", "solver": "rk4", "steps": 40, "horizon": 0.02}


@pytest.fixture(scope="module")
def stiff_cells():
    common = {"batch": 2, "repeats": 1, "warmup": 0}
    return [measure_cell(CellConfig(**spec, **common), rss="skip", peak=True, timing=True) for spec in (WRONG, RIGHT)]


@pytest.mark.slow  # the stiff reference: a 20,000-step float64 grid (about 5 s)
def test_a_stiff_cell_is_ok_but_its_gradient_is_flagged_wrong(stiff_cells):
    wrong, right = stiff_cells
    assert wrong.status == "ok" and right.status == "ok"
    assert wrong.gradient_wrong is True and wrong.grad_rel_error > 1e3 and wrong.sol_rel_error < 1e-2
    assert right.gradient_wrong is False and right.grad_rel_error < 1e-3
    csv = results_frame(stiff_cells)
    assert csv["gradient_wrong"].tolist() == [True, False]


@pytest.mark.slow
def test_a_wrong_gradient_is_no_pick_no_front_and_is_counted(stiff_cells):
    frame = prepare(results_frame(stiff_cells))
    assert wrong_gradients(frame)["solver"].tolist() == ["dopri5"]
    assert trusted(frame, "grad_rel_error")["solver"].tolist() == ["rk4"]
    choices = choices_table(frame)
    assert len(choices) and set(choices["solver"]) == {"rk4"}  # dopri5 is cheaper, but wrong
    assert set(fronts_table(frame)["solver"]) == {"rk4"}
    assert "dopri5" not in " ".join(text for _, text in decision_sentences(frame))
    section = wrong_gradient_section(frame)
    assert section["wrong_gradient_count"] == 1 and section["wrong_gradient_judged"] == 2
    assert "788 evaluations instead of 758" in section["wrong_gradient_remedy"]
    assert section["wrong_gradients"]["solver"].tolist() == ["dopri5"]


def test_results_from_before_the_flag_are_judged_from_their_errors():
    rows = pd.DataFrame(
        {"workload": ["stiff"] * 2, "method": ["direct"] * 2, "solver": ["bosh3", "rk4"], "status": ["ok"] * 2,
         "grad_rel_error": [2.5e5, 1.4e-5], "sol_rel_error": [1.5e-3, 3.2e-5]}
    )  # fmt: skip
    assert prepare(rows)["gradient_wrong"].tolist() == [True, False]
