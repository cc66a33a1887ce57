"""``neural-ode-bench compare``: exact figures gate exactly, noisy timings do not, bad input exits 2."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from neural_ode.cli import main as cli_main
from neural_ode.config import CellConfig
from neural_ode.results.compare import Thresholds, commit_order, compare_frames, select_commit
from neural_ode.results.record import CellRecord

#: one machine's identity (as neural_ode.measuring.provenance.machine_identity records it)
MACHINE = dict(machine_id="5f3a9c0e11d2b7a4", cpu_flags="0badc0ffee123456", cpu_caches="L1d 32K, L1i 32K, L2 512K",
               kernel_release="6.1.0-test")  # fmt: skip
#: a quiet machine's recorded conditions
QUIET = dict(load_before=0.2, load_after=0.3, other_cpu_cores=0.05, contended=False)


def _record(method: str, steps: int, commit: str = "c0ffee1", when: str = "2026-11-01T10:00:00+00:00", **figures):
    config = CellConfig(workload="mlp", method=method, solver="rk4", steps=steps, batch=4, width=8, dim=4)
    adjoint = method != "direct"
    values = dict(
        nfe_forward=4 * steps,
        nfe_backward=4 * steps if adjoint else 0,
        saved_bytes=1000 if adjoint else 5000 * steps,
        cpu_peak_bytes=3000 if adjoint else 9000 * steps,
        rss_peak_bytes=2_000_000,
        grad_rel_error=1e-6,
        sol_rel_error=1e-7,
        params=76,
        time_forward_s=1e-3 * steps,
        time_forward_iqr_s=1e-4 * steps,
        time_forward_min_s=0.9e-3 * steps,
        time_forward_max_s=1.2e-3 * steps,
        time_backward_s=2e-3 * steps,
        time_backward_iqr_s=2e-4 * steps,
        time_backward_min_s=1.8e-3 * steps,
        time_backward_max_s=2.4e-3 * steps,
        time_repeats=8,
        hostname="testhost",
        git_commit=commit,
        measured_at=when,
        **MACHINE,
        **QUIET,
    )
    values.update(figures)
    return CellRecord(config=config, **values).to_dict()


def _rows(**kwargs) -> list[dict]:
    return [_record(method, steps, **kwargs) for method in ("direct", "adjoint") for steps in (4, 8)]


def _write(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return path


def test_same_results_compare_clean(tmp_path, capsys):
    base = _write(tmp_path / "base.jsonl", _rows())
    new = _write(tmp_path / "new.jsonl", _rows())
    assert cli_main(["compare", str(base), str(new)]) == 0
    assert "4 cells paired" in capsys.readouterr().out


def test_timing_jitter_within_the_spread_is_not_a_regression(tmp_path):
    rows = _rows()
    jittered = [dict(row, time_forward_s=row["time_forward_s"] * 1.15) for row in rows]
    assert (
        cli_main(["compare", str(_write(tmp_path / "a.jsonl", rows)), str(_write(tmp_path / "b.jsonl", jittered))]) == 0
    )


def test_saved_bytes_raised_20_percent_is_a_regression_naming_saved_bytes(tmp_path, capsys):
    rows = _rows()
    raised = [dict(row) for row in rows]
    raised[2]["saved_bytes"] = int(raised[2]["saved_bytes"] * 1.2)
    code = cli_main(["compare", str(_write(tmp_path / "a.jsonl", rows)), str(_write(tmp_path / "b.jsonl", raised))])
    out = capsys.readouterr().out
    assert code == 1
    assert "saved_bytes" in out and "+20.0 %" in out and "REGRESSION in saved_bytes" in out
    assert "adjoint" in out.splitlines()[1]  # the row names the cell


def test_exact_figures_have_no_tolerance_and_decreases_are_improvements():
    base = pd.DataFrame(_rows())
    new = pd.DataFrame(_rows())
    new.loc[0, "nfe_forward"] += 1
    new.loc[1, "cpu_peak_bytes"] -= 8
    table = compare_frames(base, new).changed.set_index("metric")
    assert table.loc["nfe_forward", "change"] == "regression"
    assert table.loc["cpu_peak_bytes", "change"] == "improvement"


def test_errors_compare_within_the_relative_tolerance():
    base = pd.DataFrame(_rows())
    new = base.copy()
    new.loc[0, "grad_rel_error"] *= 1.04
    new.loc[1, "grad_rel_error"] *= 1.5
    changed = compare_frames(base, new).changed
    assert list(changed["metric"]) == ["grad_rel_error"]
    assert changed.iloc[0]["change"] == "regression"


def test_timings_need_a_significant_shift_and_the_factor():
    base = pd.DataFrame(_rows())
    slower = base.copy()
    for column in ("time_backward_s", "time_backward_min_s", "time_backward_max_s"):
        slower[column] *= 2  # every one of 8 repeats slower, twice the median: p = 2 / C(16, 8) = 1.6e-4
    comparison = compare_frames(base, slower)
    assert set(comparison.regressions["metric"]) == {"time_backward_s"}
    assert comparison.regressions.iloc[0]["test"].startswith("every repeat apart: Mann-Whitney U = 0, p=0.000155")
    assert compare_frames(base, slower, Thresholds(time_factor=2.5)).regressions.empty
    assert compare_frames(base, slower, Thresholds(timings="report")).regressions.empty
    # with 5 repeats a side every repeat apart is p = 0.0079: not below asv's 0.002, so no verdict
    few = compare_frames(base.assign(time_repeats=5), slower.assign(time_repeats=5), Thresholds(min_samples=5))
    assert few.regressions.empty


def test_without_samples_the_medians_95_percent_intervals_are_evidence_only():
    base = pd.DataFrame(_rows()).assign(time_backward_ci_low_s=0.9e-2, time_backward_ci_high_s=1.1e-2)
    base = base.drop(columns=["time_backward_min_s", "time_backward_max_s"])
    slower = base.assign(time_backward_s=base["time_backward_s"] * 2)
    apart = slower.assign(time_backward_ci_low_s=1.5e-2, time_backward_ci_high_s=2.5e-2)
    comparison = compare_frames(base, apart)
    assert comparison.regressions.empty  # 95 % intervals apart cannot show p < 0.002
    rows = comparison.table.query("metric == 'time_backward_s'")
    assert set(rows["change"]) == {"not judged"} and set(rows["why"]) == {"samples"}
    assert rows["test"].str.contains("95 % intervals of the medians apart").all()
    assert rows["evident"].all()


def test_timing_samples_are_tested_with_mann_whitney_at_p_below_0_002():
    base = pd.DataFrame(_rows()).assign(time_total_s=0.01)
    new = base.copy().assign(time_total_s=0.03)
    base["time_total_samples_s"] = [[0.010, 0.011, 0.009, 0.010, 0.012, 0.0105, 0.0095, 0.0102]] * len(base)
    new["time_total_samples_s"] = [[0.030, 0.031, 0.029, 0.033, 0.030, 0.0305, 0.0295, 0.0302]] * len(new)
    regressions = compare_frames(base, new).regressions
    assert set(regressions["metric"]) == {"time_total_s"}
    assert regressions.iloc[0]["test"].startswith("Mann-Whitney U p=")


def test_a_shift_at_p_0_007_is_no_regression_at_asvs_0_002_but_was_at_0_05():
    base = pd.DataFrame(_rows()).assign(time_total_s=0.0105)
    new = base.copy().assign(time_total_s=0.0145)
    base["time_total_samples_s"] = [[0.010, 0.011, 0.012, 0.013, 0.0105, 0.0095, 0.0102, 0.0098]] * len(base)
    new["time_total_samples_s"] = [[0.0101, 0.0125, 0.0128, 0.015, 0.016, 0.0145, 0.017, 0.0135]] * len(new)
    from scipy.stats import mannwhitneyu

    p = mannwhitneyu(base["time_total_samples_s"][0], new["time_total_samples_s"][0]).pvalue
    assert 0.002 < p < 0.05
    assert compare_frames(base, new).regressions.empty
    assert set(compare_frames(base, new, Thresholds(alpha=0.05)).regressions["metric"]) == {"time_total_s"}


def test_the_grouped_mann_whitney_equals_one_scipy_call_per_cell():
    from scipy.stats import mannwhitneyu

    from neural_ode.results.timing_evidence import mann_whitney

    rng = np.random.default_rng(0)
    base = [list(rng.lognormal(0, 0.2, size)) for size in (8, 8, 9, 12, 1)] + [None]
    new = [list(rng.lognormal(0.1, 0.2, size)) for size in (8, 10, 9, 7, 8, 8)]
    p = mann_whitney(base, new)
    for i in range(4):
        assert p[i] == pytest.approx(mannwhitneyu(base[i], new[i], alternative="two-sided").pvalue, rel=1e-12)
    assert np.isnan(p[4]) and np.isnan(p[5])  # one repeat, no samples: no test


def test_a_cell_that_fails_in_new_is_a_status_regression():
    base = pd.DataFrame(_rows())
    new = base.copy()
    new.loc[3, "status"] = "oom"
    regressions = compare_frames(base, new).regressions
    assert list(regressions["metric"]) == ["status"]


def test_each_side_keeps_its_newest_commit_unless_one_is_named():
    rows = _rows(commit="aaaa", when="2026-11-01T10:00:00+00:00") + _rows(
        commit="bbbb", when="2026-11-02T10:00:00+00:00", saved_bytes=1
    )
    frame = pd.DataFrame(rows)
    assert commit_order(frame) == ["aaaa", "bbbb"]
    assert select_commit(frame)[1] == "bbbb"
    assert select_commit(frame, "aa")[1] == "aaaa"
    comparison = compare_frames(frame, frame, base_commit="aaaa")
    assert (comparison.base_commit, comparison.new_commit) == ("aaaa", "bbbb")
    assert set(comparison.changed["metric"]) == {"saved_bytes"}


@pytest.mark.parametrize(
    "args, message",
    [
        (["missing.jsonl", "b.jsonl"], "no such file"),
        (["a.jsonl"], "two inputs"),
        (["a.jsonl", "other.jsonl"], "nothing to compare"),
        (["a.jsonl", "b.jsonl", "--base-commit", "zzz"], "not a commit"),
        (["a.jsonl", "b.jsonl", "--time-factor", "0.5"], "--time-factor takes a number above 1"),
    ],
)
def test_bad_input_exits_2_with_one_line(tmp_path, monkeypatch, capsys, args, message):
    monkeypatch.chdir(tmp_path)
    _write(tmp_path / "a.jsonl", _rows())
    _write(tmp_path / "b.jsonl", _rows())
    other = [dict(row, width=16) for row in _rows()]
    _write(tmp_path / "other.jsonl", other)
    assert cli_main(["compare", *args]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0]


def test_our_records_keep_every_repeat_so_two_sweeps_compare_with_mann_whitney(tmp_path):
    from neural_ode import measure_cell
    from neural_ode.results.frame import results_frame, write_csv
    from neural_ode.sweeping.runner import ResultsLog

    config = CellConfig(workload="mlp", method="direct", solver="euler", steps=3, batch=2, width=8, dim=3,
                        repeats=7, warmup=0)  # fmt: skip
    for side in ("base", "new"):
        record = measure_cell(config, rss="skip", reference=False, peak=False)
        assert len(record.time_forward_samples_s) == len(record.time_backward_samples_s) == 7
        assert record.time_forward_s == sorted(record.time_forward_samples_s)[3]  # the median of the 7
        ResultsLog(tmp_path / side / "results.jsonl").append(record)
    csv = write_csv(results_frame(ResultsLog(tmp_path / "base" / "results.jsonl").records()), tmp_path / "r.csv")
    assert "samples" not in csv.read_text().splitlines()[0]  # one value per CSV cell; the lists stay in the jsonl
    table = compare_frames(*(_frame(tmp_path / side) for side in ("base", "new")), Thresholds(timings="report")).table
    timed = table[table["metric"].isin(["time_forward_s", "time_backward_s"])]
    # judged where the two runs' load stayed within 0.5, else evidence: the test says which
    assert len(timed) == 2 and all("Mann-Whitney U p=" in test for test in timed["test"])
    assert set(timed["change"]) <= {"same", "changed", "improvement", "not judged"}


def _frame(folder: Path) -> pd.DataFrame:
    from neural_ode.results.readers import read_results

    return read_results([folder])


def test_a_timing_with_too_few_repeats_is_not_enough_samples_and_never_a_regression(tmp_path, capsys):
    # one repeat a side, the new one 2.58x slower (as once seen between two identical --repeats 1 runs)
    base_rows = _rows(time_repeats=1, time_forward_samples_s=[1e-3], time_backward_samples_s=[2e-3])
    new_rows = _rows(time_repeats=1, time_forward_samples_s=[2.58e-3], time_backward_samples_s=[2e-3])
    for row in new_rows:
        row["time_forward_s"] *= 2.58
    table = compare_frames(pd.DataFrame(base_rows), pd.DataFrame(new_rows)).table
    timed = table[table["metric"] == "time_forward_s"]
    assert set(timed["change"]) == {"not enough samples"}
    assert timed["test"].iloc[0] == "1 and 1 repeats: a test needs 7 a side"
    assert not (table["change"] == "regression").any()
    base, new = _write(tmp_path / "base.jsonl", base_rows), _write(tmp_path / "new.jsonl", new_rows)
    assert cli_main(["compare", str(base), str(new), "--min-samples", "1"]) == 2  # at least 2
    assert cli_main(["compare", str(base), str(new), "--min-samples", "2"]) == 0
    assert "not enough samples" in capsys.readouterr().out


def test_two_identical_one_repeat_runs_compare_clean_with_not_enough_samples(tmp_path, capsys):
    from neural_ode import measure_cell

    config = CellConfig(workload="mlp", method="direct", solver="rk4", steps=2, batch=4, width=8, dim=4, repeats=1,
                        warmup=0)  # fmt: skip
    runs = [measure_cell(config, rss="skip").to_dict() for _ in range(2)]  # reference, peak, round-off included
    base, new = _write(tmp_path / "base.jsonl", runs[:1]), _write(tmp_path / "new.jsonl", runs[1:])
    assert cli_main(["compare", str(base), str(new)]) == 0
    out = capsys.readouterr().out
    assert "not enough samples" in out and "0 regressions" in out
    # the README's promise: two runs of the same code compare clean in their exact figures and errors
    table = compare_frames(*(pd.DataFrame(runs[i : i + 1]) for i in (0, 1))).table
    exact = table[table["metric"].isin(["nfe_forward", "nfe_backward", "saved_bytes", "cpu_peak_bytes", "params",
                                        "grad_rel_error", "sol_rel_error"])]  # fmt: skip
    assert len(exact) == 7 and set(exact["change"]) == {"same"}


def _timed(rows: list[dict], factor: float = 1.0, **conditions) -> list[dict]:
    """``rows`` with 8 forward samples each (scaled by ``factor``) and the given recorded conditions."""
    samples = [1.00e-3, 1.02e-3, 0.98e-3, 1.01e-3, 0.99e-3, 1.03e-3, 0.97e-3, 1.00e-3]
    return [
        dict(row, time_forward_s=1e-3 * factor, time_forward_samples_s=[s * factor for s in samples], **conditions)
        for row in rows
    ]


def test_a_timing_change_under_another_load_is_evidence_printed_with_why_not_a_regression(tmp_path, capsys):
    # issue 29: two runs of identical code, the load risen from 1.3 to 2.2, NEW 2x slower at p = 9e-4
    base = _write(tmp_path / "base.jsonl", _timed(_rows(), load_before=1.3, load_after=1.3))
    new = _write(tmp_path / "new.jsonl", _timed(_rows(), 2.0, load_before=2.2, load_after=2.2))
    assert cli_main(["compare", str(base), str(new)]) == 0
    out = capsys.readouterr().out
    assert "not judged" in out and "conditions differ: load 1.30 vs 2.20 (over 0.5 apart)" in out
    assert "evidence: Mann-Whitney U p=0.000923 (alpha 0.002), factor 1.25" in out
    assert "8 figures not judged (8 load or contention differ" in out and "0 regressions" in out
    assert "4 show a change, listed above" in out  # the backward times did not move: not listed
    # the same change under the same recorded conditions is a verdict
    calm = _write(tmp_path / "calm.jsonl", _timed(_rows(), 2.0, load_before=1.3, load_after=1.3))
    assert cli_main(["compare", str(base), str(calm)]) == 1
    assert "REGRESSION in time_forward_s" in capsys.readouterr().out


def test_a_contended_cell_is_not_judged_and_names_the_side():
    base = pd.DataFrame(_timed(_rows()))
    new = pd.DataFrame(_timed(_rows(), 2.0, contended=True, other_cpu_cores=1.6))
    table = compare_frames(base, new).table.query("metric == 'time_forward_s'")
    assert set(table["change"]) == {"not judged"}
    assert table["test"].str.startswith("conditions differ: timed under contention in NEW").all()
    assert table["evident"].all()


def test_records_without_a_machine_identity_judge_exact_figures_but_not_timings(tmp_path, capsys):
    old = [{k: v for k, v in row.items() if k not in MACHINE} for row in _timed(_rows())]
    newer = _timed(_rows(), 2.0)
    newer[0]["saved_bytes"] += 8
    assert cli_main(["compare", str(_write(tmp_path / "a.jsonl", old)), str(_write(tmp_path / "b.jsonl", newer))]) == 1
    out = capsys.readouterr().out
    assert "REGRESSION in saved_bytes" in out  # exact figures stay exact
    assert "BASE records no machine_id, cpu_flags, cpu_caches, kernel_release (an older record): not known to be the " \
        "same machine" in out  # fmt: skip
    assert "time_forward_s" not in out.split("REGRESSION")[1]


def test_two_vms_with_one_hostname_and_cpu_name_are_not_one_machine(tmp_path, capsys):
    # issue 29: reports/quick and a run on another VM were paired as one machine: both "vm", "AMD EPYC"
    rows = [dict(row, hostname="vm", device_name="AMD EPYC") for row in _timed(_rows())]
    other = [dict(row, machine_id="99aa99aa99aa99aa", time_forward_s=row["time_forward_s"] * 2,
                  time_forward_samples_s=[s * 2 for s in row["time_forward_samples_s"]]) for row in rows]  # fmt: skip
    base, new = _write(tmp_path / "a.jsonl", rows), _write(tmp_path / "b.jsonl", other)
    assert cli_main(["compare", str(base), str(new)]) == 2
    assert "different machines or library versions (machine_id 5f3a9c0e11d2b7a4 vs 99aa99aa99aa99aa)" in (
        capsys.readouterr().err
    )
    assert cli_main(["compare", str(base), str(new), "--across-machines"]) == 0
    out = capsys.readouterr().out
    assert "measured on different machines (machine_id differ)" in out and "0 regressions" in out


def test_provenance_records_the_machine_identity():
    import platform

    from neural_ode.measuring.provenance import machine_identity, provenance

    identity = machine_identity()
    assert set(identity) == {"machine_id", "cpu_flags", "cpu_caches", "kernel_release"}
    assert identity["kernel_release"] == platform.release()
    if Path("/etc/machine-id").is_file():
        raw = Path("/etc/machine-id").read_text().strip()
        assert identity["machine_id"] and len(identity["machine_id"]) == 16 and raw not in identity["machine_id"]
    assert set(identity) <= set(provenance("cpu"))
    assert set(identity) <= set(CellRecord(config=CellConfig()).to_dict())


@pytest.mark.parametrize("bad", ["NaN", "Infinity"])
def test_a_gradient_error_gone_non_finite_in_new_is_a_regression_not_an_unpaired_cell(tmp_path, capsys, bad):
    # issue 32: the reader dropped a NaN/inf record as invalid, so the cell was "only in BASE" and compare exited 0
    from neural_ode.results.readers import read_results
    from neural_ode.results.readers.jsonl import NON_FINITE

    rows = _rows()
    base = _write(tmp_path / "base.jsonl", rows)
    text = "".join(json.dumps(row) + "\n" for row in rows)
    new = tmp_path / "new.jsonl"
    new.write_text(text.replace('"grad_rel_error": 1e-06', f'"grad_rel_error": {bad}', 1))
    frame = read_results([new])  # the reader keeps the record, naming the non-finite figure (keep in any rewrite)
    assert len(frame) == 4 and list(frame[NON_FINITE].dropna()) == ["grad_rel_error"]
    assert cli_main(["compare", str(base), str(new)]) == 1
    out = capsys.readouterr().out
    assert "not a finite number in NEW" in out and "REGRESSION in grad_rel_error" in out
    assert ("nan" if bad == "NaN" else "inf") in out.splitlines()[1]
    assert "only in BASE" not in out
    # the other way round, the cell got a finite figure again: an improvement
    assert cli_main(["compare", str(new), str(base)]) == 0
    assert "not a finite number in BASE" in capsys.readouterr().out


def test_a_null_figure_does_not_crash_and_is_said_measured_on_one_side_only(tmp_path, capsys):
    # issue 32: saved_bytes null (the schema allows it) made compare exit 70 from int(NaN)
    rows = _rows()
    nulled = [dict(row, saved_bytes=None) if i == 1 else row for i, row in enumerate(rows)]
    base, new = _write(tmp_path / "base.jsonl", rows), _write(tmp_path / "new.jsonl", nulled)
    assert cli_main(["compare", str(base), str(new)]) == 0
    out = capsys.readouterr().out
    assert "1 figures recorded on one side only, not compared: saved bytes NEW lacks it (1)" in out
    assert cli_main(["compare", str(base), str(new), "--all"]) == 0
    line = next(line for line in capsys.readouterr().out.splitlines() if "one side only" in line)
    assert "saved_bytes" in line and "not measured" in line


def test_a_gradient_error_change_within_the_round_off_floor_is_no_change():
    # issue 34: 1.03e-7 -> 1.78e-7 with a recorded floor of 1.78e-7 was called a regression
    base = pd.DataFrame(_rows(grad_rel_error=1.03e-7, grad_roundoff_floor=1.78e-7))
    new = pd.DataFrame(_rows(grad_rel_error=1.78e-7, grad_roundoff_floor=1.78e-7))
    rows = compare_frames(base, new).table.query("metric == 'grad_rel_error'")
    assert set(rows["change"]) == {"same"}
    assert rows["test"].str.startswith("within the round-off floor 1.78e-07").all()
    beyond = pd.DataFrame(_rows(grad_rel_error=5e-7, grad_roundoff_floor=1.78e-7))
    assert set(compare_frames(base, beyond).regressions["metric"]) == {"grad_rel_error"}
    no_floor = pd.DataFrame(_rows(grad_rel_error=1.78e-7))
    assert set(compare_frames(pd.DataFrame(_rows(grad_rel_error=1.03e-7)), no_floor).regressions["metric"]) == {
        "grad_rel_error"
    }


def test_fixed_grid_cells_are_labelled_landed_in_compare_output(tmp_path, capsys):
    # issue 34: rk4 cells read "interpolated at the output times", which a fixed grid never does
    rows = [dict(row, land=False) for row in _rows()]
    raised = [dict(row, nfe_forward=row["nfe_forward"] + 1) for row in rows]
    assert cli_main(["compare", str(_write(tmp_path / "a.jsonl", rows)), str(_write(tmp_path / "b.jsonl", raised)),
                     "--timings", "off"]) == 1  # fmt: skip
    out = capsys.readouterr().out
    assert "interpolated" not in out
    dopri = [dict(row, solver="dopri5", steps=None, rtol=1e-5, atol=1e-7, land=False) for row in _rows()[:1]]
    from neural_ode.results.compare import cell_label

    assert "interpolated at the output times" in cell_label(dopri[0], ("method", "solver", "land"))
    assert "landed on the output times" in cell_label(rows[0], ("method", "solver", "land"))
