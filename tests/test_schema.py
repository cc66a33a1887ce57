"""The metric schema: one declaration of a metric reaches every place that shows it."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from neural_ode.results.schema import METRICS, Metric, declare, tracked

ROOT = Path(__file__).resolve().parents[1]

# Declares a throwaway metric before anything else is imported, gives it a measurement (a value
# the exact run writes into the record's fields), and follows it through every consumer.
SCRIPT = textwrap.dedent(
    """
    import json, sys
    from pathlib import Path

    from neural_ode.results.schema import Metric, declare

    declare(Metric("throwaway_bytes", "bytes", "a metric declared by the test", "throwaway", int))

    import neural_ode.measuring.cell as cell
    from neural_ode import CellConfig, measure_cell
    from neural_ode.reporting import render_report
    from neural_ode.results.frame import results_frame, write_csv

    measure_exact = cell._measure_exact

    def measure_exact_and_throwaway(step, deadline, fields):  # the metric's measurement
        measured = measure_exact(step, deadline, fields)
        fields["throwaway_bytes"] = 4096 * fields["nfe_forward"]
        return measured

    cell._measure_exact = measure_exact_and_throwaway
    out = Path(sys.argv[1])
    config = CellConfig(workload="mlp", method="direct", solver="euler", steps=3, batch=2, repeats=1, warmup=0)
    record = measure_cell(config, rss="skip", reference=False)
    assert record.status == "ok", record.error
    frame = results_frame([record])
    write_csv(frame, out / "results.csv")
    render_report(frame, out / "report", figures=False, progress=False)  # the checks read report.md's text

    sys.path.insert(0, sys.argv[2])
    from benchmarks import bench_gradients
    from benchmarks.test_bench_gradients import extra_info

    track = bench_gradients.FixedGridFigures.track_throwaway_bytes
    suite = bench_gradients.FixedGridFigures()
    suite.row = record.to_dict()
    print(json.dumps({
        "record": record.throwaway_bytes,
        "dtype": str(frame["throwaway_bytes"].dtype),
        "asv_value": track(suite, {}, "cell"),
        "asv_unit": track.unit,
        "extra_info": extra_info(record.to_dict(), config, "step").get("throwaway_bytes"),
    }))
    """
)


@pytest.mark.slow
def test_a_declared_metric_reaches_record_csv_report_and_both_suites(tmp_path):
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(tmp_path), str(ROOT)],
        capture_output=True, text=True, cwd=ROOT, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    seen = __import__("json").loads(done.stdout.strip().splitlines()[-1])
    assert seen == {
        "record": 4096 * 3,
        "dtype": "Int64",
        "asv_value": 4096 * 3,
        "asv_unit": "bytes",
        "extra_info": 4096 * 3,
    }
    header, row = (tmp_path / "results.csv").read_text().splitlines()[:2]
    column = header.split(",").index("throwaway_bytes")
    assert row.split(",")[column] == "12288"  # an integer column, not 12288.0
    report = (tmp_path / "report" / "report.md").read_text()
    assert "`throwaway_bytes` [bytes, exact]: a metric declared by the test" in report  # the glossary
    assert "throwaway (MB)" in report  # the all-cells table, in the display unit
    assert "0.0123" in report  # 12288 bytes as MB, three significant digits


def test_declaring_a_name_twice_is_refused():
    with pytest.raises(ValueError, match="already declared"):
        declare(Metric("nfe_forward", "evaluations", "again", "again", int))


@pytest.mark.parametrize(
    "change, message",
    [({"unit": "parsecs"}, "unknown unit 'parsecs'"), ({"kind": "guessed"}, "unknown kind"), ({"dtype": str}, "dtype")],
)
def test_a_bad_declaration_names_what_is_allowed(change, message):
    fields = {"name": "x", "unit": "bytes", "description": "d", "label": "l", "dtype": int} | change
    with pytest.raises(ValueError, match=message):
        Metric(**fields)


def test_tracked_metrics_are_the_exact_and_accuracy_ones_on_their_devices():
    assert {m.name for m in tracked()} == {n for n, m in METRICS.items() if m.kind in ("exact", "accuracy")} - {
        n for n, m in METRICS.items() if not m.track
    }
    assert "cuda_peak_bytes" not in {m.name for m in tracked("cpu")}
    assert "cpu_peak_bytes" not in {m.name for m in tracked("cuda")}
    assert METRICS["time_forward_s"].spread_fields == (
        "time_forward_iqr_s", "time_forward_min_s", "time_forward_max_s", "time_forward_ci_low_s",
        "time_forward_ci_high_s",
    )  # fmt: skip
    assert METRICS["saved_bytes"].axis_label == "saved for backward (MB)"
