"""Decisions from the Pareto front (choices.csv) and methods compared at equal accuracy."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from neural_ode.reporting import render_report
from neural_ode.reporting.columns import prepare
from neural_ode.reporting.figures.base import coincidence_text, coinciding
from neural_ode.reporting.tables.choices import TARGETS, choices_table, pareto_front
from neural_ode.reporting.tables.decisions import decision_sentences
from neural_ode.reporting.tables.matching import cost_at, equal_accuracy_table, pairs_table, precision_line
from neural_ode.results.frame import results_frame, summary_table, write_csv
from neural_ode.units import duration, error, megabytes, tolerance


def _cell(method, solver, *, steps=None, rtol=None, error, time_s, peak, status="ok", horizon=1.0, **more) -> dict:
    row = {"workload": "mlp", "method": method, "solver": solver, "steps": steps, "horizon": horizon}
    row.update(rtol=rtol, atol=rtol, batch=16, width=32, dim=8, device="cpu", dtype="float32", seed=0)
    row.update(status=status, error=None if status == "ok" else "boom", nfe_forward=10, nfe_backward=5)
    row.update(time_forward_s=0.4 * time_s, time_backward_s=0.6 * time_s, cpu_peak_bytes=peak)
    row.update(grad_rel_error=error, **more)
    return row


def small_sweep() -> pd.DataFrame:
    """Three methods, fixed-grid and adaptive cells, one failed cell cheaper than every ok one, one CUDA peak."""
    rows = [
        _cell("direct", "rk4", steps=8, error=3e-3, time_s=0.010, peak=4_000_000),
        _cell("direct", "rk4", steps=32, error=2e-5, time_s=0.040, peak=16_000_000),
        _cell("direct", "dopri5", rtol=1e-3, error=5e-2, time_s=0.006, peak=3_000_000),
        _cell("direct", "dopri5", rtol=1e-6, error=4e-7, time_s=0.030, peak=9_000_000),
        _cell("adjoint", "rk4", steps=8, error=3e-3, time_s=0.025, peak=1_000_000),
        _cell("adjoint", "rk4", steps=32, error=2e-5, time_s=0.100, peak=1_000_000),
        _cell("adjoint", "dopri5", rtol=1e-6, error=8e-7, time_s=0.070, peak=1_500_000),
        _cell("aca", "dopri5", rtol=1e-4, error=9e-6, time_s=0.020, peak=2_000_000),
        _cell("aca", "dopri5", rtol=1e-8, error=1e-9, time_s=0.002, peak=100, status="timeout"),
        _cell("aca", "rk4", steps=8, error=3e-3, time_s=0.015, peak=2_500_000, cuda_peak_bytes=500_000),
    ]
    return pd.DataFrame(rows)


def _expected(results: pd.DataFrame, target: float, criterion: str) -> pd.Series:
    """The cheapest ok cell reaching ``target``, recomputed from results.csv by hand."""
    ok = results[results["status"] == "ok"].copy()
    ok["time"] = ok["time_forward_s"] + ok["time_backward_s"]
    ok["memory"] = ok["cuda_peak_bytes"].where(ok["cuda_peak_bytes"].notna(), ok["cpu_peak_bytes"])
    reaching = ok[ok["grad_rel_error"] <= target]
    return reaching.loc[reaching[criterion].idxmin()]


@pytest.fixture(scope="module")
def rendered(tmp_path_factory) -> Path:
    """A report of :func:`small_sweep` rendered from its results.csv; returns the directory."""
    out = tmp_path_factory.mktemp("choices")
    write_csv(results_frame(small_sweep().to_dict("records")), out / "results.csv")
    render_report(pd.read_csv(out / "results.csv"), out)
    return out


def test_choices_csv_picks_the_cheapest_ok_cell_reaching_each_target(rendered):
    results = pd.read_csv(rendered / "results.csv")
    choices = pd.read_csv(rendered / "choices.csv")
    assert list(choices.columns[:3]) == ["workload", "target_grad_rel_error", "criterion"]
    assert list(choices.columns[-4:]) == ["value", "grad_rel_error", "grad_roundoff_floor", "decided_by_roundoff"]
    ok_errors = results.loc[results["status"] == "ok", "grad_rel_error"]
    reached = [t for t in TARGETS if (ok_errors <= t).any()]
    assert reached == [1e-1, 1e-2, 1e-3, 1e-4, 1e-5, 1e-6]  # 1e-7 and 1e-8 only by the failed cell
    for criterion in ("time", "memory"):
        picks = choices[choices["criterion"] == criterion]
        assert picks["target_grad_rel_error"].tolist() == pytest.approx(reached)
        for pick in picks.to_dict("records"):
            want = _expected(results, pick["target_grad_rel_error"], criterion)
            assert (pick["method"], pick["solver"]) == (want["method"], want["solver"])
            assert pick["value"] == pytest.approx(want[criterion])
            assert pick["grad_rel_error"] == pytest.approx(want["grad_rel_error"])
            assert pick["grad_rel_error"] <= pick["target_grad_rel_error"]


def test_choices_use_the_cuda_peak_where_there_is_one():
    choices = choices_table(prepare(small_sweep()))
    memory = choices[(choices["criterion"] == "memory") & (choices["target_grad_rel_error"] == 1e-2)].iloc[0]
    assert (memory["method"], memory["solver"], memory["value"]) == ("aca", "rk4", 500_000)


def test_choices_separate_problems_and_leave_out_unreached_targets():
    frame = small_sweep()
    frame = pd.concat(
        [frame, pd.DataFrame([_cell("direct", "rk4", steps=8, error=0.05, time_s=1, peak=1, horizon=4.0)])]
    )
    choices = choices_table(prepare(frame))
    long = choices[choices["horizon"] == 4.0]
    assert long["target_grad_rel_error"].tolist() == [0.1, 0.1]  # only 1e-1 is reached at t1 = 4
    assert set(long["criterion"]) == {"time", "memory"}


def test_a_pick_whose_target_is_below_twice_its_round_off_floor_is_decided_by_round_off():
    from neural_ode.reporting.tables.cells import choices_display

    # the quick mlp's direct rk4: more steps, more rounding; the 1e-7 target is met by rounding
    rows = [
        _cell("direct", "rk4", steps=4, error=7.4e-7, time_s=0.010, peak=3e6, grad_roundoff_floor=9.8e-8),
        _cell("direct", "rk4", steps=8, error=9.4e-8, time_s=0.020, peak=4e6, grad_roundoff_floor=1.2e-7),
        _cell("direct", "dopri5", rtol=1e-5, error=4e-5, time_s=0.005, peak=2e6),  # no floor (older results)
    ]
    frame = prepare(pd.DataFrame(rows))
    choices = choices_table(frame).set_index(["criterion", "target_grad_rel_error"])
    assert choices.loc[("time", 1e-7), "steps"] == 8 and choices.loc[("time", 1e-7), "decided_by_roundoff"]
    assert not choices.loc[("time", 1e-6), "decided_by_roundoff"]  # floor 9.8e-8: under half of 1e-6
    assert not choices.loc[("time", 1e-4), "decided_by_roundoff"]  # no floor measured: not flagged
    shown = choices_display(choices_table(frame))
    flagged = shown[shown["grad error (fastest)"].str.contains("decided by round-off")]
    assert flagged["target ≤"].tolist() == ["1e-7"]
    assert "floor 1.2e-7" in flagged["grad error (fastest)"].iloc[0]
    sentences = dict(decision_sentences(frame))
    (heading,) = [h for h in sentences if h.startswith("gradient error ≤ 1e-7")]
    assert "Decided by round-off" in sentences[heading] and "1.2e-7 (direct · rk4 · 8 steps)" in sentences[heading]
    assert not any("round-off" in text for h, text in sentences.items() if h != heading)


def test_pareto_front_keeps_only_undominated_cells():
    cells = pd.DataFrame({"value": [1.0, 2.0, 3.0, 2.5, 4.0], "grad_rel_error": [1e-2, 1e-4, 1e-3, 1e-5, 1e-5]})
    front = pareto_front(cells)
    assert front.index.tolist() == [0, 1, 3]


def test_equal_accuracy_ratio_on_a_power_law():
    """Method A costs 1/e, method B costs 2/√e: at e = 1e-4 B/A = 2·1e-2/1e4 = 0.02 exactly (log-log linear)."""
    rows = []
    for e in (1e-2, 1e-3, 1e-5, 1e-6):  # no cell at 1e-4: the value there is interpolated
        rows.append(_cell("direct", "dopri5", rtol=e, error=e, time_s=1 / e * 1e-6, peak=1e6))
        rows.append(_cell("adjoint", "dopri5", rtol=e, error=e, time_s=2 / math.sqrt(e) * 1e-6, peak=1e6))
    frame = prepare(pd.DataFrame(rows))
    table = equal_accuracy_table(frame)
    time = table[table["criterion"] == "time"].set_index("grad_rel_error")
    assert time.index.tolist() == pytest.approx([1e-2, 1e-3, 1e-4, 1e-5, 1e-6])
    assert time.loc[1e-4, "value_a"] == pytest.approx(1e4 * 1e-6)
    assert time.loc[1e-4, "ratio"] == pytest.approx(0.02)
    assert time["ratio"].tolist() == pytest.approx([2 * math.sqrt(e) for e in (1e-2, 1e-3, 1e-4, 1e-5, 1e-6)])
    pairs = pairs_table(frame).iloc[0]
    assert pairs["memory B/A at equal accuracy"] == "1×"
    # at equal settings (same rtol) the ratios 2·√e of the four cells: median (√1e-3 + √1e-5), min 2e-3, max 0.2
    assert pairs["time B/A at equal settings"] == "0.035× (0.002–0.2×)"


def test_cost_at_is_flat_beyond_the_loosest_cell_and_undefined_tighter():
    line = precision_line(pd.DataFrame({"value": [1.0, 10.0], "grad_rel_error": [1e-2, 1e-4]}))
    assert cost_at(line, 1e-3) == pytest.approx(math.sqrt(10.0))
    assert cost_at(line, 0.5) == 1.0
    assert np.isnan(cost_at(line, 1e-5))


def test_decision_sentences_name_the_measured_picks():
    sentences = dict(decision_sentences(prepare(small_sweep())))
    loose = sentences["gradient error ≤ 1e-1 on mlp"]
    assert loose.startswith("fastest is direct · dopri5 · rtol 1e-3 — 6 ms")
    assert "least memory is aca · rk4 · 8 steps — 0.5 MB" in loose  # its CUDA peak
    tight = sentences["gradient error ≤ 1e-6 on mlp"]
    assert tight.startswith("fastest is direct · dopri5 · rtol 1e-6 — 30 ms")
    assert "least memory is adjoint · dopri5 · rtol 1e-6 — 1.5 MB" in tight


def test_units_are_decimal_megabytes_and_milliseconds():
    assert megabytes(3_200_000) == "3.2 MB"
    assert megabytes(2.5e9) == "2.5 GB"
    assert duration(0.0166) == "16.6 ms" and duration(1.5) == "1.5 s"
    assert tolerance(1e-5) == "1e-5" and tolerance(3e-5) == "3e-5"
    assert error(1.53e-4) == "1.5e-4" and error(1e-4) == "1e-4" and error(0.095) == "0.095" and error(0) == "0"


def test_figures_render_on_a_small_frame(rendered):
    names = {p.stem for p in (rendered / "figures").glob("*.png")}
    assert {"work_precision", "memory_precision", "time_vs_depth", "nfe_backward_vs_forward"} <= names
    for path in (rendered / "figures").glob("*.png"):
        with Image.open(path) as image:
            assert image.format == "PNG" and image.width > 300 and image.height > 200


def test_coinciding_lines_are_grouped_and_named():
    lines = {"adjoint": ([1, 2], [5, 6]), "seminorm": ([1, 2], [5.05, 6.0]), "direct": ([1, 2], [1, 2])}
    groups = coinciding(lines)
    assert groups == [["adjoint", "seminorm"]]
    assert coincidence_text(groups) == "coincide: adjoint = seminorm"


def test_report_reads_the_choices_in_sentences(rendered):
    html = (rendered / "report.html").read_text()
    assert "gradient error ≤ 1e-1" in html and "equal accuracy" in html and "equal settings" in html


def test_console_summary_has_labelled_columns_in_the_report_units():
    table = summary_table(results_frame(small_sweep().to_dict("records")))
    assert list(table.columns) == [
        "solver", "depth", "rtol", "method", "NFE fwd", "NFE bwd", "time fwd+bwd (ms)", "peak memory (MB)",
        "grad error", "status",
    ]  # fmt: skip
    first = table.iloc[0]  # direct · rk4 · 8 steps: 10 ms, 4 MB (10**6 bytes, as in the report)
    assert (first["method"], first["depth"], first["time fwd+bwd (ms)"], first["peak memory (MB)"]) == (
        "direct", "8 steps", "10", "4",
    )  # fmt: skip
    assert table.loc[table["status"] == "timeout", "peak memory (MB)"].tolist() == [""]


def test_a_rounded_error_prints_without_a_dangling_point():
    assert error(1.04e-6) == "1e-6" and error(3.3e-7) == "3.3e-7" and error(0.095) == "0.095"
