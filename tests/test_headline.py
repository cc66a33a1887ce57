"""The report's first screen (reporting/tables/headline.py): one answer per question, agreeing with the picks."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pandas as pd
import pytest

from neural_ode.reporting.columns import prepare
from neural_ode.reporting.tables.choices import choices_table
from neural_ode.reporting.tables.decisions import picks
from neural_ode.reporting.tables.headline import bracket_notes, headline, pick_text
from neural_ode.reporting.tables.recommend import advice, head_to_head


def _cell(method, solver, *, steps=None, rtol=None, error, time_s, peak, **more) -> dict:
    row = {"workload": "mlp", "method": method, "solver": solver, "steps": steps, "horizon": 1.0}
    row.update(rtol=rtol, atol=rtol, batch=32, width=32, dim=8, device="cpu", dtype="float32", seed=0)
    row.update(status="ok", error=None, nfe_forward=10, nfe_backward=5)
    row.update(time_forward_s=0.4 * time_s, time_backward_s=0.6 * time_s, cpu_peak_bytes=peak)
    row.update(grad_rel_error=error, **more)
    return row


def issue_case() -> pd.DataFrame:
    """The issue's own model: direct · dopri5 fastest and least memory at every target it reaches; the
    adjoint 2.3x slower, 1.9x the memory, and alone at 1e-7 only by float32 round-off (floor 8e-8)."""
    return prepare(
        pd.DataFrame(
            [
                _cell("direct", "dopri5", rtol=1e-3, error=5e-3, time_s=0.010, peak=2e6, grad_roundoff_floor=1e-8),
                _cell("direct", "dopri5", rtol=1e-6, error=5e-7, time_s=0.020, peak=3e6, grad_roundoff_floor=4e-8),
                _cell("adjoint", "dopri5", rtol=1e-3, error=5e-3, time_s=0.023, peak=3.8e6, grad_roundoff_floor=1e-8),
                _cell("adjoint", "dopri5", rtol=1e-6, error=6e-7, time_s=0.046, peak=5.7e6, grad_roundoff_floor=4e-8),
                _cell("adjoint", "dopri5", rtol=1e-8, error=9e-8, time_s=0.050, peak=5.7e6, grad_roundoff_floor=8e-8),
            ]
        )
    )


def _fair_counts(frame: pd.DataFrame, criterion: str) -> Counter:
    table = choices_table(frame)
    rows = table[(table["criterion"] == criterion) & ~table["decided_by_roundoff"].astype(bool)]
    return Counter(rows["method"])


def test_the_method_answer_counts_the_picks_and_leaves_round_off_out():
    frame = issue_case()
    assert _fair_counts(frame, "time") == Counter({"direct": 6}) == _fair_counts(frame, "memory")
    answers = {a["question"]: a["answer"] for a in headline(frame)}
    method = answers["Which method?"]
    assert method.startswith("direct: the fastest and the least memory at every one of the 6 picks")
    assert "1 pick decided by float32 round-off left out" in method
    assert "adjoint" not in method
    # the advice's "Pick" is the same sentence: it cannot say "prefer the adjoint" against the picks
    (pick,) = [text for topic, text in advice(frame, head_to_head(frame)) if topic == "Pick"]
    assert pick.startswith(pick_text(frame)) and "prefer" not in pick


def test_a_split_answer_names_every_picked_method_with_its_count():
    frame = issue_case()
    frame = pd.concat(
        [frame, prepare(pd.DataFrame([_cell("aca", "dopri5", rtol=1e-3, error=4e-3, time_s=0.030, peak=1e6)]))],
        ignore_index=True,
    )
    memory = _fair_counts(frame, "memory")
    assert memory == Counter({"direct": 4, "aca": 2})  # aca only reaches 1e-1 and 1e-2
    (method,) = [a["answer"] for a in headline(frame) if a["question"] == "Which method?"]
    assert "fastest: direct at every one of the 6 picks" in method
    assert "least memory: direct at 4 of 6, aca at 2" in method


def _rounds(total_s: float, factors) -> dict:
    """Per-round samples of a cell timed in group g: forward 40 %, backward 60 % of each round's total."""
    totals = total_s * np.asarray(factors)
    return {"time_group": "g", "time_forward_samples_s": list(0.4 * totals),
            "time_backward_samples_s": list(0.6 * totals)}  # fmt: skip


def test_a_tie_with_another_method_is_said_as_a_tie():
    rng = np.random.default_rng(0)
    noise = [rng.uniform(0.95, 1.05, 20) for _ in range(2)]
    frame = prepare(
        pd.DataFrame(
            [
                _cell("direct", "rk4", steps=4, error=1e-3, time_s=0.0100, peak=3e6, **_rounds(0.0100, noise[0])),
                _cell("adjoint", "rk4", steps=4, error=1e-3, time_s=0.0101, peak=1e6, **_rounds(0.0101, noise[1])),
                _cell("direct", "rk4", steps=8, error=1e-2, time_s=0.02, peak=3e6),  # brackets 1e-3 from above
            ]
        )
    )
    (first, *_rest) = list(picks(frame))
    assert first["fast"]["method"] == "direct" and first["ties"]  # the two 4-step cells: interval holds 1
    (method,) = [a["answer"] for a in headline(frame) if a["question"] == "Which method?"]
    assert "the fastest is a tie, not a win" in method
    assert "direct · rk4 · 4 steps is tied with adjoint · rk4 · 4 steps: 1" in method


def test_targets_no_cell_brackets_are_said_with_the_setting_to_try():
    # every cell at 2.3e-6 or better: 1e-1 … 1e-5 are met by all; 1e-7 by none
    frame = prepare(
        pd.DataFrame(
            [
                _cell("direct", "dopri5", rtol=1e-5, error=2.3e-6, time_s=0.01, peak=2e6),
                _cell("direct", "dopri5", rtol=1e-7, error=4e-7, time_s=0.02, peak=2e6),
                _cell("direct", "rk4", steps=8, error=1e-6, time_s=0.03, peak=2e6),
            ]
        )
    )
    met, missed = bracket_notes(list(picks(frame)), frame)
    assert met == ["≤ 1e-1 … 1e-5 on mlp (worst 2.3e-6; try --tol 1e-1 (loosest measured: 1e-5) or --steps 4 "
                   "(fewest measured: 8))"]  # fmt: skip
    assert missed == ["≤ 1e-7 on mlp (best 4e-7, direct · dopri5 · rtol 1e-7)"]
    (solver,) = [a["answer"] for a in headline(frame) if a["question"] == "Which solver and tolerance?"]
    assert "No cell brackets these targets, every cell met them: " + met[0] in solver
    assert "Not reached by any cell: " + missed[0] in solver
    assert solver.startswith("the fastest at the tightest gradient error each problem reached: ≤ 1e-6 on mlp: "
                             "direct · dopri5 · rtol 1e-7")  # fmt: skip


def test_a_bracketed_sweep_says_nothing_about_brackets():
    frame = prepare(
        pd.DataFrame(
            [
                _cell("direct", "dopri5", rtol=1e-2, error=0.5, time_s=0.01, peak=2e6),
                _cell("direct", "dopri5", rtol=1e-9, error=2e-9, time_s=0.02, peak=2e6),
            ]
        )
    )
    assert bracket_notes(list(picks(frame)), frame) == ([], [])


@pytest.mark.parametrize("figures", [(), ("work_precision",)])
def test_each_answer_names_a_drawn_figure_or_none(figures, tmp_path):
    from neural_ode.reporting.figures.base import FigureResult

    drawn = [FigureResult(name, name, "", tmp_path / f"{name}.png") for name in figures]
    answers = headline(issue_case(), drawn)
    assert [a["question"] for a in answers] == ["Which method?", "Which solver and tolerance?"]  # one library
    assert {a["figure"] for a in answers} == ({"work_precision"} if figures else {None})


@pytest.mark.slow
def test_the_report_leads_with_the_answers_and_prints_no_empty_section(tmp_path):
    from neural_ode.reporting import render_report

    render_report(issue_case(), tmp_path)  # one commit, no failed cell
    md, html = (tmp_path / "report.md").read_text(), (tmp_path / "report.html").read_text()
    assert md.index("**Which method?** direct: the fastest and the least memory") < md.index("## What to run")
    assert "- **Pick**: direct: the fastest and the least memory at every one of the 6 picks" in md
    for empty in ("History across commits", "One commit only", "Failed cells", "(none)"):
        assert empty not in md and empty not in html
    assert 'id="answers"' in html and html.index('id="answers"') < html.index('id="decide"')
    assert html.count("<details>") >= 4  # the big tables, collapsed (an empty one is left out)
    assert "<details><summary>Every cell (also in <code>results.csv</code>)</summary>" in html


def test_a_sweep_reaching_no_target_says_so_with_its_best_error():
    frame = prepare(pd.DataFrame([_cell("direct", "dopri5", rtol=1e-3, error=0.7, time_s=0.01, peak=2e6)]))
    answers = headline(frame)
    assert [a["question"] for a in answers] == ["Which method?"]
    assert answers[0]["answer"].startswith("no cell reached a gradient error of 1e-1 or better (the best was 0.7)")


def test_equal_accuracy_matches_under_twice_the_round_off_floor_are_flagged_and_leave_the_advice():
    from neural_ode.reporting.tables.matching import equal_accuracy_table

    frame = issue_case().assign(grad_roundoff_floor=6e-7)  # matched errors under 1.2e-6 are rounding's
    table = equal_accuracy_table(frame)
    time = table[table["criterion"] == "time"]
    assert len(time) and (time["decided_by_roundoff"] == (time["grad_rel_error"] < 1.2e-6)).all()
    assert time["decided_by_roundoff"].any() and not time["decided_by_roundoff"].all()
    (text,) = [t for topic, t in advice(frame, head_to_head(frame)) if topic == "Time against direct"]
    kept = time[~time["decided_by_roundoff"]]["ratio"]
    assert f"adjoint {kept.median():.2g}×" in text
