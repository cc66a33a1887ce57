"""The report: growth fits, claims verdicts, advice, and the rendered files (md, html, figures)."""

from __future__ import annotations

import json
import math
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from neural_ode.cli import main as cli_main
from neural_ode.reporting import render_report
from neural_ode.reporting.claims.growth import fit_growth, growth_table
from neural_ode.reporting.claims.paper import FAILS, HOLDS, NOT_MEASURED, claims_table
from neural_ode.reporting.columns import prepare
from neural_ode.reporting.tables.recommend import budget_table, head_to_head, timing_noise

PROVENANCE = {
    "torch_version": "2.13.0",
    "torchdiffeq_version": "0.2.5",
    "python_version": "3.11.2",
    "device_name": "Test CPU @ 1 GHz",
    "threads": 2,
    "hostname": "testhost",
    "git_commit": "abc123def",
}
UNDERFLOW = "AssertionError: underflow in dt 0.0"
STEPS = (8, 16, 32, 64)
TOLS = (1e-3, 1e-4, 1e-5, 1e-6)
DOPRI_NFE = {1e-3: 20, 1e-4: 32, 1e-5: 50, 1e-6: 80}
#: backward/forward NFE ratio of each adjoint method on adaptive cells
NFE_RATIO = {"adjoint": 0.5, "adjoint-seminorm": 0.4}


def _row(method, solver, *, steps=None, rtol=None, nfe, **figures) -> dict:
    """One cell's row, figures consistent with the paper's model of each method."""
    adjoint = method != "direct"
    base = {"workload": "mlp", "method": method, "solver": solver, "steps": steps, "horizon": 1.0}
    base.update(rtol=rtol, atol=rtol, batch=64, width=128, dim=32, device="cpu", dtype="float32", seed=0)
    base.update(status="ok", error=None, nfe_forward=nfe)
    if solver == "dopri5":
        base["nfe_backward"] = int(NFE_RATIO[method] * nfe) if adjoint else 0
    else:
        base["nfe_backward"] = nfe if adjoint else 0
    base["saved_bytes"] = 250_000 if adjoint else 300_000 * nfe  # adjoint flat, direct ∝ NFE
    base["cpu_peak_bytes"] = 700_000 if adjoint else 2 * 300_000 * nfe
    base["time_forward_s"] = 1e-3 * nfe
    base["time_backward_s"] = (3.5e-3 if adjoint else 2e-3) * nfe  # total time ratio adjoint/direct 1.5
    base["time_forward_iqr_s"] = 0.01 * base["time_forward_s"]
    base["time_backward_iqr_s"] = 0.01 * base["time_backward_s"]
    base["time_forward_min_s"] = 0.9e-3 * nfe
    base["time_backward_min_s"] = (3.2e-3 if adjoint else 1.8e-3) * nfe
    base["grad_rel_error"] = (2.0 if adjoint else 1.0) / nfe**2
    base.update(PROVENANCE, **figures)
    return base


def synthetic_frame() -> pd.DataFrame:
    """Fixed-grid rk4 over four depths, dopri5 over four tolerances, one underflow, three methods."""
    rows = []
    for method in ("direct", "adjoint", "adjoint-seminorm"):
        rows += [_row(method, "rk4", steps=s, nfe=4 * s) for s in STEPS]
        rows += [_row(method, "dopri5", rtol=t, nfe=DOPRI_NFE[t]) for t in TOLS]
    failed = _row("direct", "dopri5", rtol=1e-13, nfe=1)
    failed.update(status="step_size_underflow", error=UNDERFLOW)
    for name in ("nfe_forward", "nfe_backward", "saved_bytes", "cpu_peak_bytes", "grad_rel_error"):
        failed[name] = None
    for name in ("time_forward_s", "time_backward_s", "time_forward_min_s", "time_backward_min_s"):
        failed[name] = None
    for name in ("time_forward_iqr_s", "time_backward_iqr_s"):
        failed[name] = None
    rows.append(failed)
    return pd.DataFrame(rows)


EXPECTED_FIGURES = {
    "memory_precision",
    "memory_saved",
    "memory_cpu_peak",
    "time_vs_depth",
    "nfe_backward_vs_forward",
    "tolerance_vs_nfe",
    "nfe_vs_time",
    "work_precision",
}


@pytest.fixture(scope="module")
def report(tmp_path_factory) -> Path:
    """The report of the synthetic frame; returns its directory."""
    out = tmp_path_factory.mktemp("report")
    html = render_report(synthetic_frame(), out)
    assert html == out / "report.html"
    return out


# --- growth fits ------------------------------------------------------------------------------


def test_growth_exponent_is_one_for_data_proportional_to_depth():
    fit = fit_growth([8, 16, 32, 64], [3 * d for d in (8, 16, 32, 64)])
    assert fit.exponent == pytest.approx(1.0, abs=1e-12)
    assert fit.coefficient == pytest.approx(3.0, rel=1e-12)
    assert fit.r2 == pytest.approx(1.0)
    assert (fit.points, fit.depths, fit.depth_min, fit.depth_max) == (4, 4, 8.0, 64.0)


def test_affine_fit_separates_the_constant_from_the_per_depth_cost():
    """Memory = constant + per-depth cost: the power law through the constant reads k ≈ 0.3; the affine fit
    recovers both parts and extrapolates exactly."""
    depths = [8, 16, 32, 64]
    fit = fit_growth(depths, [50e6 + 0.3e6 * d for d in depths])
    assert fit.intercept == pytest.approx(50e6) and fit.slope == pytest.approx(0.3e6)
    assert fit.slope_low == pytest.approx(fit.slope) == pytest.approx(fit.slope_high)  # exact data: no spread
    assert fit.exponent == pytest.approx(1.0)
    assert fit.predict(1024) == pytest.approx(50e6 + 0.3e6 * 1024)
    assert fit.depth_within(1e9) == pytest.approx((1e9 - 50e6) / 0.3e6)


def test_slope_interval_is_the_t_interval_of_least_squares():
    from scipy import stats

    depths, values = [8, 16, 32, 64, 8, 16, 32, 64], [10.0, 19.0, 35.0, 70.0, 11.0, 18.0, 36.0, 66.0]
    fit = fit_growth(depths, values)
    ref = stats.linregress(depths, values)
    half = stats.t.ppf(0.975, len(depths) - 2) * ref.stderr
    assert fit.slope == pytest.approx(ref.slope) and fit.intercept == pytest.approx(ref.intercept)
    assert (fit.slope_low, fit.slope_high) == (pytest.approx(ref.slope - half), pytest.approx(ref.slope + half))
    assert fit.r2 == pytest.approx(ref.rvalue**2)


def test_growth_exponent_is_zero_for_flat_data():
    fit = fit_growth([8, 16, 32, 64], [263_000] * 4)
    assert fit.exponent == 0.0 and fit.slope == 0.0
    assert fit.coefficient == pytest.approx(263_000)
    assert fit.depth_within(1e9) == float("inf")


def test_growth_fit_needs_two_positive_depths():
    assert fit_growth([8, 8], [1.0, 2.0]) is None
    assert fit_growth([8, 16], [1.0, float("nan")]) is None
    assert fit_growth([0, 16], [1.0, 5.0]) is None  # only one usable depth
    assert fit_growth([8, 16, 32], [2.0, 4.0, 8.0]).slope == pytest.approx(0.25, rel=1e-9)


def test_growth_table_per_line():
    table = growth_table(prepare(synthetic_frame()), "saved_bytes").set_index(["method", "solver"])
    assert table.loc[("direct", "rk4"), "exponent"] == pytest.approx(1.0, abs=1e-9)
    assert table.loc[("direct", "dopri5"), "exponent"] == pytest.approx(1.0, abs=1e-9)  # depth = forward NFE
    assert math.isnan(table.loc[("adjoint", "rk4"), "exponent"])  # flat: no exponent, "flat"
    assert table.loc[("adjoint", "rk4"), "growth"] == "flat"
    assert table.loc[("direct", "rk4"), "growth"] == "grows"
    assert table.loc[("direct", "rk4"), "depth_max"] == 64  # fixed grid: depth is steps
    assert table.loc[("direct", "dopri5"), "depth_max"] == 80  # adaptive: depth is forward NFE
    assert len(table) == 6


# --- claims -----------------------------------------------------------------------------------


def _verdicts(frame: pd.DataFrame) -> dict:
    table = claims_table(prepare(frame))
    return {(row["claim"], row["metric"]): row["verdict"] for row in table.to_dict("records")}


def test_claims_hold_on_consistent_data():
    verdicts = _verdicts(synthetic_frame())
    for metric in ("saved_bytes", "cpu_peak_bytes"):
        assert verdicts[("adjoint (ODE-Net) memory is O(1) in depth", metric)] == HOLDS
        assert verdicts[("direct backpropagation (RK-Net) memory is O(L̃)", metric)] == HOLDS
    assert verdicts[("direct: time is O(L̃)", "time_total_s")] == HOLDS
    assert verdicts[("adjoint: time is O(L̃)", "time_total_s")] == HOLDS
    half = "backward NFE ≈ ½ forward NFE (adaptive solver)"
    assert verdicts[(f"adjoint: {half}", "nfe_backward / nfe_forward")] == HOLDS
    assert verdicts[(f"adjoint-seminorm: {half}", "nfe_backward / nfe_forward")] == HOLDS
    assert ("adjoint (ODE-Net) memory is O(1) in depth", "rss_peak_bytes") not in verdicts  # not measured at all


def test_claims_fail_where_the_data_disagrees():
    frame = synthetic_frame()
    adjoint = frame["method"] == "adjoint"
    frame.loc[adjoint, "saved_bytes"] = 1000 * frame.loc[adjoint, "nfe_forward"]  # adjoint memory growing
    frame.loc[adjoint, "nfe_backward"] = frame.loc[adjoint, "nfe_forward"]  # backward = forward
    table = claims_table(prepare(frame))
    row = table[(table["metric"] == "saved_bytes") & table["claim"].str.startswith("adjoint (ODE-Net)")].iloc[0]
    assert row["verdict"] == "mixed"  # adjoint grows, adjoint-seminorm stays flat
    # the dopri5 cells interpolate and the rk4 ones land: the labels say so, since it varies among the lines
    assert "adjoint · rk4 · landed on the output times: grows linearly" in row["measured"]
    half = table[table["claim"] == "adjoint: backward NFE ≈ ½ forward NFE (adaptive solver)"].iloc[0]
    assert half["verdict"] == FAILS
    assert half["measured"].startswith("median 1.00 ")


def test_claims_not_measured_without_the_cells():
    frame = synthetic_frame()
    only_direct_fixed = frame[(frame["method"] == "direct") & (frame["solver"] == "rk4")]
    table = claims_table(prepare(only_direct_fixed.drop(columns=["cpu_peak_bytes"])))
    verdict = dict(zip(table["claim"], table["verdict"], strict=True))
    assert verdict["adjoint (ODE-Net) memory is O(1) in depth"] == NOT_MEASURED
    assert verdict["direct backpropagation (RK-Net) memory is O(L̃)"] == HOLDS
    assert verdict["backward NFE ≈ ½ forward NFE (adaptive solver)"] == NOT_MEASURED
    assert verdict["adjoint: time is O(L̃)"] == NOT_MEASURED


# --- which method to pick ---------------------------------------------------------------------


def test_head_to_head_compares_identical_cells_at_the_deepest_depth():
    table = head_to_head(prepare(synthetic_frame())).set_index(["adjoint method", "solver"])
    rk4 = table.loc[("adjoint", "rk4")]
    assert rk4["cell"] == "64 steps"
    assert rk4["depth L̃"] == 64
    assert rk4["time ratio adjoint/direct"] == pytest.approx(1.5)
    assert rk4["direct memory (MB)"] == pytest.approx(2 * 300_000 * 256 / 1e6)  # cpu_peak is preferred
    assert rk4["memory ratio adjoint/direct"] == pytest.approx(700_000 / (2 * 300_000 * 256))
    assert table.loc[("adjoint", "dopri5"), "cell"] == "horizon 1, rtol 1e-6"


def test_budget_table_extrapolates_the_fitted_growth():
    table = budget_table(prepare(synthetic_frame())).set_index(["method", "solver"])
    # direct rk4: cpu peak = 600 kB per evaluation (its law's unit), 4 evaluations per step -> 2.4 MB per step
    assert table.loc[("direct", "rk4"), "depth axis (the method's law)"] == "evaluations"
    expected = f"{1e9 / 6e5:,.0f} ≈ {1e9 / 2.4e6:,.0f} steps"  # exact data: no range
    assert table.loc[("direct", "rk4"), "max depth in 1 GB"] == expected
    assert table.loc[("direct", "rk4"), "extrapolation"].startswith("up to 521×")  # 80 GB: 133,333 evaluations
    assert table.loc[("adjoint", "rk4"), "max depth in 80 GB"] == "unbounded"


def test_a_few_bytes_of_growth_over_the_measured_depths_set_no_budget_bound():
    frame = synthetic_frame()
    adjoint_rk4 = (frame["method"] == "adjoint") & (frame["solver"] == "rk4")
    # as measured on the digits block: adjoint rk4's CPU peak 8,412,808 -> 8,412,856 bytes over its steps
    frame.loc[adjoint_rk4, "cpu_peak_bytes"] = 8_412_808 + 4 * frame.loc[adjoint_rk4, "steps"]
    row = budget_table(prepare(frame)).set_index(["method", "solver"]).loc[("adjoint", "rk4")]
    assert row["max depth in 1 GB"] == "unbounded"
    assert row["extrapolation"].startswith("memory does not grow measurably")
    two = prepare(frame[~adjoint_rk4 | frame["steps"].isin([STEPS[0], STEPS[-1]])])
    row = budget_table(two).set_index(["method", "solver"]).loc[("adjoint", "rk4")]
    assert row["MB per depth unit (95% CI)"].endswith("(2 cells: no interval)")


def test_timing_noise_counts_cells_with_a_wide_iqr():
    frame = synthetic_frame()
    assert timing_noise(prepare(frame)) == (0, 24)
    frame.loc[3, "time_backward_iqr_s"] = 0.5 * frame.loc[3, "time_backward_s"]
    assert timing_noise(prepare(frame)) == (1, 24)
    assert timing_noise(prepare(frame.drop(columns=["time_forward_iqr_s"]))) is None


# --- rendered files ---------------------------------------------------------------------------


def test_report_files_and_figures_exist(report):
    assert (report / "report.html").is_file() and (report / "report.md").is_file()
    names = {p.stem for p in (report / "figures").glob("*.png")}
    assert names == EXPECTED_FIGURES
    for path in (report / "figures").glob("*.png"):
        with Image.open(path) as image:
            image.verify()
        with Image.open(path) as image:
            assert image.format == "PNG" and image.width > 300 and image.height > 200


def test_html_is_self_contained(report):
    html = (report / "report.html").read_text()
    # each figure once in "Figures", and again beside the first-screen answer it supports
    answers = html.count('class="answer-figure"')
    assert 1 <= answers <= 3
    assert html.count('src="data:image/png;base64,') == len(EXPECTED_FIGURES) + answers
    references = re.findall(r"""(?:src|href)\s*=\s*["']?([^"'\s>]+)""", html)
    external = [r for r in references if not r.startswith(("data:image/png;base64,", "#"))]
    assert external == []
    assert "<link" not in html and "@import" not in html and "url(" not in html


def test_markdown_links_every_figure(report):
    md = (report / "report.md").read_text()
    for name in EXPECTED_FIGURES:
        assert f"](figures/{name}.png)" in md


def test_failed_cells_appear_with_their_reason(report):
    for name in ("report.md", "report.html"):
        text = (report / name).read_text()
        assert "step_size_underflow" in text
        assert UNDERFLOW in text


def test_report_states_provenance_claims_and_advice(report):
    md = (report / "report.md").read_text()
    for value in PROVENANCE.values():
        assert str(value) in md
    assert "## Which method should I pick?" in md
    # time against direct: at equal settings the constructed 1.5×; each statement names its basis
    assert "at equal settings (identical cells, whatever their gradient error): adjoint 1.5×" in md
    assert "at equal accuracy (each method's cost interpolated along its work-precision front" in md
    # the pick is counted from the picks of the first section (choices.csv), as the headline is
    pick = "fastest: direct at every one of the 4 picks; least memory: adjoint at every one of the 4 picks"
    assert f"**Pick**: {pick}" in md and f"**Which method?** {pick}" in md
    # gradient accuracy per solver: fixed-grid and adaptive errors never share one median
    assert "rk4 (fixed grid): direct 1.5e-4, adjoint 3.1e-4" in md
    assert "adjoint-seminorm took a median 0.80× the backward NFE of the plain adjoint" in md
    assert "**Timing noise**: 0 of 24 timed cells" in md
    assert md.count("**holds**") == 8
    html = (report / "report.html").read_text()
    assert html.count('class="verdict holds"') == 8


def test_partial_rows_from_other_readers_are_tolerated(tmp_path):
    frame = synthetic_frame()
    benchmark_rows = pd.DataFrame(
        {"method": ["direct", "adjoint"], "solver": ["rk4", "rk4"], "steps": [10, 10], "time_forward_s": [0.1, 0.2]}
    )
    html = render_report(pd.concat([frame, benchmark_rows], ignore_index=True), tmp_path)
    assert {p.stem for p in (tmp_path / "figures").glob("*.png")} == EXPECTED_FIGURES
    text = html.read_text()  # every figure once, and again beside the first-screen answer it supports
    assert text.count("data:image/png;base64,") == len(EXPECTED_FIGURES) + text.count('class="answer-figure"')


def test_figures_without_data_are_skipped_with_a_note(tmp_path):
    frame = pd.DataFrame({"method": ["direct"], "solver": ["rk4"], "steps": [10], "time_forward_s": [0.1]})
    html = render_report(frame, tmp_path)
    assert [p.name for p in (tmp_path / "figures").glob("*.png")] == ["time_vs_depth.png"]  # one point
    md = (tmp_path / "report.md").read_text()
    assert "_Not drawn: no memory metric was measured._" in md
    assert "no adaptive solver measured at two or more tolerances" in md
    assert "Not drawn" in html.read_text()


def test_empty_frame_renders(tmp_path):
    render_report(pd.DataFrame(), tmp_path)
    assert "from 0 cells" in (tmp_path / "report.md").read_text()


def test_rerender_removes_stale_figures(tmp_path):
    render_report(
        pd.DataFrame({"method": ["direct"], "solver": ["rk4"], "steps": [4], "time_forward_s": [1]}), tmp_path
    )
    assert len(list((tmp_path / "figures").glob("*.png"))) == 1
    render_report(pd.DataFrame(), tmp_path)
    assert list((tmp_path / "figures").glob("*.png")) == []


# --- the subcommand ---------------------------------------------------------------------------


def _write_jsonl(path: Path, frame: pd.DataFrame) -> Path:
    with open(path, "w") as handle:
        for row in frame.to_dict("records"):
            clean = {k: (None if isinstance(v, float) and np.isnan(v) else v) for k, v in row.items()}
            handle.write(json.dumps(clean) + "\n")
    return path


def test_report_command_renders_a_jsonl_file(tmp_path, capsys):
    frame = synthetic_frame()
    frame = frame[(frame["solver"] == "rk4") | (frame["status"] != "ok")]  # fewer figures: a faster test
    # the seminorm takes adaptive solvers only: such a record is no valid cell, and the reader drops it
    frame = frame[~((frame["method"] == "adjoint-seminorm") & (frame["solver"] == "rk4"))]
    results = _write_jsonl(tmp_path / "results.jsonl", frame)
    assert cli_main(["report", str(results), "--out", str(tmp_path / "out")]) == 0
    assert f"{tmp_path / 'out' / 'report.html'} ({len(frame)} cells;" in capsys.readouterr().out
    md = (tmp_path / "out" / "report.md").read_text()
    assert "testhost" in md and UNDERFLOW in md and "](figures/memory_saved.png)" in md
    assert (tmp_path / "out" / "figures" / "memory_saved.png").is_file()


def test_report_command_names_an_unreadable_input(tmp_path, capsys):
    garbage = tmp_path / "notes.txt"
    garbage.write_text("not results\n")
    assert cli_main(["report", str(garbage), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert str(garbage) in err and err.count("\n") == 1
    assert not (tmp_path / "out" / "report.html").exists()


def test_report_command_missing_input_exits_2(tmp_path):
    missing = tmp_path / "missing.jsonl"
    done = subprocess.run(
        [sys.executable, "-m", "neural_ode", "report", str(missing), "--out", str(tmp_path / "out")],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 2
    assert done.stderr.strip() == f"neural-ode-bench report: error: {missing}: no such file or directory"


# --- measured cells ---------------------------------------------------------------------------


def test_report_of_measured_cells(tmp_path):
    """Real records of tiny cells: the adjoint's saved bytes are flat in depth, direct's grow."""
    from neural_ode import CellConfig, measure_cell, records_to_frame

    sizes = {"solver": "rk4", "batch": 4, "width": 16, "dim": 4, "repeats": 1}
    records = [
        measure_cell(CellConfig(method=method, steps=steps, **sizes), rss="skip", reference=False)
        for method in ("direct", "adjoint")
        for steps in (2, 8)
    ]
    assert all(r.ok for r in records), [r.error for r in records]
    frame = prepare(records_to_frame(records))
    growth = growth_table(frame, "saved_bytes").set_index("method")["exponent"]
    assert math.isnan(growth["adjoint"])  # saved bytes are exact: identical at 2 and 8 steps: flat, no exponent
    assert growth["direct"] > 0.8
    claims = claims_table(frame)
    adjoint = claims[(claims["metric"] == "saved_bytes") & claims["claim"].str.startswith("adjoint (ODE-Net)")]
    assert adjoint["verdict"].tolist() == [HOLDS]
    render_report(records_to_frame(records), tmp_path)
    assert (tmp_path / "figures" / "memory_saved.png").is_file()
    assert records[0].torch_version in (tmp_path / "report.md").read_text()


def test_fits_csv_has_one_row_per_fitted_line_with_the_issue_columns(tmp_path):
    from neural_ode.reporting.tables.cells import write_fits

    table = write_fits(prepare(synthetic_frame()), tmp_path / "fits.csv")
    written = pd.read_csv(tmp_path / "fits.csv")
    head = ["metric", "method", "solver", "workload"]
    assert list(written.columns[:4]) == head
    for column in ("depth_axis", "intercept", "slope", "slope_low", "slope_high", "r2", "depth_min", "depth_max"):
        assert column in written
    direct = table[(table["metric"] == "saved_bytes") & (table["method"] == "direct") & (table["solver"] == "rk4")]
    by_axis = direct.set_index("depth_axis")
    assert by_axis.loc["steps", "slope"] == pytest.approx(4 * 300_000)  # bytes per step
    assert by_axis.loc["evaluations", "slope"] == pytest.approx(300_000)  # bytes per evaluation
    assert by_axis.loc["steps", "points"] == 4


def test_precision_figures_keep_their_own_titles(report):
    """The work- and memory-precision figures are titled as figures, never with their last panel's title
    (a loop variable once shadowed the figure's title)."""
    from neural_ode.reporting.figures.precision import PRECISION

    md = (report / "report.md").read_text()
    for name, title, *_ in PRECISION.values():
        assert f"![{title}](figures/{name}.png)" in md


def test_tolerance_lines_identical_across_landing_are_drawn_once():
    """Methods whose NFE against tolerance are identical share one line even when their cells differ
    in landing (as the own methods, which always land, differ from landed torchdiffeq cells): no
    line is drawn over another."""
    from neural_ode.reporting.figures.nfe import _panel_lines

    rows = [_row("adjoint", "dopri5", rtol=t, nfe=DOPRI_NFE[t], land=True) for t in TOLS]
    rows += [_row("adjoint-seminorm", "dopri5", rtol=t, nfe=DOPRI_NFE[t], land=False) for t in TOLS]
    rows += [_row("direct", "dopri5", rtol=t, nfe=DOPRI_NFE[t] + 2, land=False) for t in TOLS]
    lines = list(_panel_lines(prepare(pd.DataFrame(rows)), "nfe_forward"))
    merged = sorted(sorted(members) for _, _, members, _ in lines)
    # one line for the two identical methods, each still named with its landing
    assert merged == [["adjoint (landed on the output times)", "adjoint-seminorm (interpolated at the output times)"],
                      ["direct"]]  # fmt: skip
