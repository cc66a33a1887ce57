"""Verdicts that survive noise: leaving any one cell of the committed quick report out flips none."""

from pathlib import Path

import pandas as pd
import pytest

from neural_ode.reporting.claims.growth import fit_growth
from neural_ode.reporting.claims.paper import FLAT, GROWS, NOT_ENOUGH, NOT_MEASURED, claims_table, line_verdict
from neural_ode.reporting.columns import prepare

QUICK = Path(__file__).parent.parent / "reports" / "quick" / "results.jsonl"


def _verdicts(frame: pd.DataFrame) -> dict:
    table = claims_table(frame)
    return {(row["claim"], row["metric"]): row["verdict"] for row in table.to_dict("records")}


def _compatible(full: str, fewer: str) -> bool:
    """With one cell fewer a decided verdict may stay, or lose its evidence; it must never turn into another
    decision. Where the whole data could not decide, any reading of less data is no flip."""
    return full == NOT_ENOUGH or fewer in (full, NOT_ENOUGH, NOT_MEASURED)


@pytest.mark.slow
@pytest.mark.skipif(not QUICK.is_file(), reason="no committed reports/quick/results.jsonl")
def test_no_verdict_of_the_quick_report_flips_when_one_cell_is_left_out():
    frame = prepare(pd.read_json(QUICK, lines=True))
    full = _verdicts(frame)
    flips = []
    for index in frame.index:
        fewer = _verdicts(frame.drop(index=index))
        for key, verdict in full.items():
            if key in fewer and not _compatible(verdict, fewer[key]):
                flips.append(f"without row {index}: {key}: {verdict} -> {fewer[key]}")
    assert not flips, "\n".join(flips)


def test_a_line_verdict_comes_from_the_slope_and_its_uncertainty():
    depths = [8, 16, 32, 64]
    grows = fit_growth(depths, [5e6 + 160_000 * d for d in depths])
    flat = fit_growth(depths, [230_664] * 4)
    rss_flat = fit_growth([8, 16, 32, 64, 8, 16, 32, 64], [20e6, 20.3e6, 19.8e6, 20.1e6, 20.2e6, 19.9e6, 20e6, 20.2e6])
    assert line_verdict(grows, "saved_bytes")[0] == GROWS
    assert line_verdict(flat, "saved_bytes")[0] == FLAT
    assert line_verdict(rss_flat, "rss_peak_bytes")[0] == FLAT  # a 20 MB baseline is not growth
    label, reason = line_verdict(fit_growth([8, 64], [20e6, 21e6]), "rss_peak_bytes")
    assert label == NOT_ENOUGH and "2 depths" in reason  # a noisy figure needs three depths


def test_timing_verdicts_are_withheld_when_the_timings_are_noisy():
    depths = [8, 16, 32, 64]
    fit = fit_growth(depths, [1e-3 * d for d in depths])
    quiet = pd.DataFrame({"time_forward_s": [1.0] * 4, "time_forward_iqr_s": [0.01] * 4})
    noisy = quiet.assign(time_forward_iqr_s=[0.5, 0.5, 0.01, 0.01])
    assert line_verdict(fit, "time_total_s", quiet)[0] == GROWS
    label, reason = line_verdict(fit, "time_total_s", noisy)
    assert label == NOT_ENOUGH and "timings noisy" in reason


def test_every_verdict_says_what_it_was_measured_on():
    frame = pd.read_json(QUICK, lines=True) if QUICK.is_file() else None
    if frame is None:
        pytest.skip("no committed quick results")
    table = claims_table(prepare(frame))
    decided = table[table["verdict"] != "not measured"]
    assert decided["measured_on"].str.contains("untrained").all()
    assert decided["measured"].str.contains("measured on").all()


def test_growth_is_reported_as_a_slope_and_its_share_not_an_exponent():
    depth = [8.0, 16.0, 32.0]
    direct = fit_growth(depth, [1000 * d for d in depth])  # all slope
    adjoint = fit_growth(depth, [1e6 + 1000 * d for d in depth])  # +1.3 % ... a straight line above an intercept
    own = fit_growth(depth, [2.2e5 + 1000 * d for d in depth])  # +13 % over 4x depth
    # the exponent above the intercept reads 1 for every straight line: it cannot tell them apart
    assert direct.exponent == pytest.approx(1.0) and own.exponent == pytest.approx(1.0)
    # slope with its interval (exact here) and the share of the deepest value it explains
    assert (direct.slope, direct.slope_low, direct.slope_high) == pytest.approx((1000, 1000, 1000))
    assert direct.share == pytest.approx(1.0)
    assert own.share == pytest.approx(32000 / 252000)
    assert adjoint.growth == "flat"  # under 5 % over its depths: no slope reported


def test_the_report_tables_carry_no_exponent():
    from neural_ode.reporting.claims.growth import fits_table
    from neural_ode.reporting.tables.cells import growth_summary

    rows = pd.DataFrame({"workload": "mlp", "method": "direct", "solver": "rk4", "status": "ok",
                         "steps": [8, 16, 32], "saved_bytes": [8000, 16000, 32000],
                         "time_forward_s": [1.0, 2.0, 4.0], "time_backward_s": [1.0, 2.0, 4.0]})  # fmt: skip
    frame = prepare(rows)
    assert "exponent" not in fits_table(frame, ("saved_bytes",))
    summary = growth_summary(frame)
    assert "exponent" not in summary and summary["share at deepest"].tolist()[0] == "100%"
