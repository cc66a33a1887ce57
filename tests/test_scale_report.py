"""Issue 33: a report's cost is bounded by what it shows; the tables behind it are grouped once.

The page covers the first problems and the first rows of its long tables and says how many more
there are; the CSVs carry every row; the grouped computations equal the per-problem ones they replace.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from neural_ode.reporting import bounds
from neural_ode.reporting.bounds import first_problems, first_rows
from neural_ode.reporting.claims.growth import CONFIDENCE, MEASURABLE_GROWTH, fit_growth
from neural_ode.reporting.claims.line_fits import LINE_FIT_COLUMNS, derived_columns, fit_lines
from neural_ode.reporting.columns import prepare
from neural_ode.reporting.tables.choices import (
    CRITERIA,
    TARGETS,
    candidates,
    cheapest,
    choices_table,
    decided_by_roundoff,
    problems,
)

QUICK = Path(__file__).parent.parent / "reports" / "quick" / "results.jsonl"


def _problems_frame() -> pd.DataFrame:
    # three problems (seeds 2, 0, 1 in frame order), two rows each
    return pd.DataFrame({"workload": ["mlp"] * 6, "seed": [2, 2, 0, 0, 1, 1], "value": range(6)})


def test_first_problems_keeps_the_first_in_key_order_and_counts_the_rest():
    shown = first_problems(_problems_frame(), limit=2)
    assert (shown.shown, shown.total, shown.left_out) == (2, 3, 1)
    assert sorted(shown.frame["seed"]) == [0, 0, 1, 1]  # seeds 0 and 1 come first in key order


def test_first_problems_leaves_a_small_frame_as_it_is():
    frame = _problems_frame()
    shown = first_problems(frame, limit=3)
    assert shown.frame is frame and shown.left_out == 0


def test_first_rows_counts_what_it_leaves_out():
    table = pd.DataFrame({"a": range(5)})
    head, left_out = first_rows(table, limit=3)
    assert list(head["a"]) == [0, 1, 2] and left_out == 2
    assert first_rows(table, limit=5) == (table, 0)


def _per_problem_choices(frame: pd.DataFrame) -> list[tuple]:
    """The picks the way choices_table made them before issue 33: one filter and sort per problem and target."""
    out = []
    for criterion in CRITERIA:
        for _problem, cells in problems(candidates(frame, criterion)):
            for target in TARGETS:
                pick = cheapest(cells, target)
                if pick is not None:
                    rounded = decided_by_roundoff(target, pick.get("grad_roundoff_floor"))
                    picked = (pick["seed"], target, pick["method"], pick["solver"], pick["value"], rounded)
                    out.append((criterion, *picked))
    return sorted(out, key=repr)


@pytest.mark.skipif(not QUICK.is_file(), reason="no committed reports/quick/results.jsonl")
def test_grouped_choices_equal_the_per_problem_picks():
    quick = prepare(pd.read_json(QUICK, lines=True))
    # three copies of the quick cells as three seeds: three times the problems
    frame = prepare(pd.concat([quick.assign(seed=s) for s in (0, 1, 2)], ignore_index=True))
    table = choices_table(frame)
    grouped = sorted(
        zip(table["criterion"], table["seed"], table["target_grad_rel_error"], table["method"], table["solver"],
            table["value"], table["decided_by_roundoff"], strict=True),
        key=repr,
    )  # fmt: skip
    assert grouped == _per_problem_choices(frame)
    assert set(table["seed"]) == {0, 1, 2}


def test_grouped_line_fits_equal_one_fit_per_line():
    rng = np.random.default_rng(0)
    depth = np.array([1, 2, 4, 8, 1, 2, 4, 8, 16, 3, 5, 2, 2, 2, 4, 8], dtype=float)
    line = np.array([0, 0, 0, 0, 1, 1, 1, 1, 1, 2, 2, 3, 3, 3, 4, 4])
    value = 1e6 + 3e4 * depth + rng.normal(0, 5e3, depth.size)  # noisy lines
    value[line == 1] = 2e6 + 1e5 * depth[line == 1]  # an exact line
    value[line == 4] = 7.0  # a flat exact line
    fitted = fit_lines(line, depth, value, CONFIDENCE)
    assert list(fitted.index) == [0, 1, 2, 4]  # line 3 has one distinct depth: no fit
    for number, row in fitted.iterrows():
        one = fit_growth(depth[line == number], value[line == number])
        for name in LINE_FIT_COLUMNS:
            if name == "value_at_max":
                expected = value[(line == number) & (depth == one.depth_max)].mean()
            else:
                expected = getattr(one, name)
            assert _close(row[name], expected), (number, name, row[name], expected)
    derived = derived_columns(fitted, MEASURABLE_GROWTH)
    grows = []
    for position, number in enumerate(fitted.index):
        one = fit_growth(depth[line == number], value[line == number])
        assert derived["growth"][position] == one.growth
        grows.append(one.growth)
        for name, expected in (("share", one.share), ("exponent", one.measurable_exponent),
                               ("coefficient", one.coefficient)):  # fmt: skip
            assert _close(derived[name][position], expected), (number, name)
    assert set(grows) == {"grows", "flat"}  # both readings are checked


def _close(a: float, b: float) -> bool:
    return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-9) or (math.isnan(a) and math.isnan(b))


@pytest.mark.slow
@pytest.mark.skipif(not QUICK.is_file(), reason="no committed reports/quick/results.jsonl")
def test_a_capped_report_says_what_it_leaves_out_and_its_csvs_keep_every_row(tmp_path, monkeypatch):
    from neural_ode.reporting import render_report

    frame = pd.read_json(QUICK, lines=True)
    monkeypatch.setattr(bounds, "MAX_PROBLEMS", 2)
    monkeypatch.setattr(bounds, "MAX_TABLE_ROWS", 10)
    render_report(frame, tmp_path, figures=False, progress=False)
    text = (tmp_path / "report.md").read_text()
    assert "covers the first 2 of 6 problems" in text and "4 more are left out" in text
    measured = int(prepare(frame)["ok"].sum())
    assert f"_{measured - 10} more cells are not shown here" in text
    html = (tmp_path / "report.html").read_text()
    assert "covers the first 2 of 6 problems" in html and f"{measured - 10} more cells are not shown here" in html
    choices = pd.read_csv(tmp_path / "choices.csv")
    assert len(choices) == len(choices_table(prepare(frame)))  # every problem's picks, not the 2 shown
    keys = ["workload", "horizon", "batch", "width", "dim", "outputs"]
    assert choices.groupby(keys, dropna=False).ngroups == 6


def test_intervals_from_samples_equal_one_median_interval_per_row():
    from neural_ode.measuring.intervals import median_interval

    rng = np.random.default_rng(1)
    samples = [list(rng.uniform(1.0, 2.0, n)) for n in (5, 6, 10, 10, 20, 7)]  # 5: too few for an interval
    frame = pd.DataFrame({"workload": "mlp", "method": "direct", "solver": "rk4", "status": "ok",
                          "time_forward_samples_s": samples, "time_backward_samples_s": samples})  # fmt: skip
    prepared = prepare(frame)
    for row, values in zip(prepared.to_dict("records"), samples, strict=True):
        low, high = median_interval(values)
        for phase in ("forward", "backward"):
            got = (row[f"time_{phase}_ci_low_s"], row[f"time_{phase}_ci_high_s"])
            assert _close(got[0], low) and _close(got[1], high), (len(values), got, (low, high))
    assert np.isnan(prepared["time_forward_ci_low_s"].iloc[0])  # 5 samples reach no 95 % interval
