"""Every record the schema allows, through ``compare`` and ``report`` (issue 32): hypothesis draws
records from the schema's declarations (:data:`neural_ode.results.schema.METRICS`, the record's
context fields), writes them as ``results.jsonl`` (NaN and infinity as JSON's ``NaN``/``Infinity``)
and checks the exit codes: identical runs compare clean, a figure gone non-finite or an exact figure
risen is a regression, a timing moved under another load never is, nothing crashes.
"""

from __future__ import annotations

import json
import math
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from neural_ode.cli import main
from neural_ode.config import CellConfig
from neural_ode.measuring.failures import STATUSES
from neural_ode.results.compare import EXACT_METRICS, compare_frames
from neural_ode.results.readers import read_results
from neural_ode.results.record import CellRecord
from neural_ode.results.schema import METRICS

#: the cells of a drawn result set (one configuration each)
CELLS = [dict(method=m, steps=s) for m in ("direct", "adjoint") for s in (2, 4)]
FINITE = st.floats(min_value=0, max_value=1e15, allow_nan=False, allow_infinity=False)
SAMPLES = st.lists(st.floats(min_value=1e-6, max_value=1.0), min_size=1, max_size=12)


def _metric(metric) -> st.SearchStrategy:
    """What the schema allows for one metric: null, a value of its dtype in range, and for floats NaN and inf."""
    if metric.dtype is int:
        return st.none() | st.integers(min_value=0, max_value=10**15)
    return st.none() | FINITE | st.sampled_from([math.nan, math.inf])


def _figures() -> st.SearchStrategy:
    fields = {name: _metric(m) for name, m in METRICS.items()}
    fields.update({name: st.none() | FINITE for m in METRICS.values() for name in m.spread_fields})
    fields.update(
        status=st.sampled_from(list(STATUSES)) if len(STATUSES) else st.just("ok"),
        time_repeats=st.none() | st.integers(min_value=1, max_value=50),
        time_forward_samples_s=st.none() | SAMPLES,
        load_before=st.none() | st.floats(min_value=0, max_value=64),
        contended=st.none() | st.booleans(),
        machine_id=st.none() | st.just("5f3a9c0e11d2b7a4"),
    )
    return st.fixed_dictionaries(fields)


def _rows(figures: list[dict]) -> list[dict]:
    rows = []
    for cell, values in zip(CELLS, figures):
        config = CellConfig(workload="mlp", solver="rk4", batch=2, width=4, dim=2, **cell)
        record = CellRecord(config=config, hostname="h", device_name="cpu", git_commit="c0ffee", **values)
        rows.append(record.to_dict())
    return rows


def _write(folder: Path, name: str, rows: list[dict]) -> Path:
    path = folder / name
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))  # allow_nan: NaN, Infinity
    return path


def _compare(capsys, base: Path, new: Path, *options) -> tuple[int, str]:
    code = main(["compare", str(base), str(new), *options])
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err and "internal error" not in captured.err, captured.err
    return code, captured.out


SETS = st.lists(_figures(), min_size=len(CELLS), max_size=len(CELLS))
#: a few examples each, the same ones every run (derandomize): the draws are large (every metric of 4 records)
SETTINGS = settings(
    max_examples=5, derandomize=True, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


@SETTINGS
@given(figures=SETS)
def test_every_allowed_record_compares_clean_with_itself(figures, capsys):
    with tempfile.TemporaryDirectory() as tmp:
        path = _write(Path(tmp), "r.jsonl", _rows(figures))
        assert len(read_results([path])) == len(CELLS)  # no allowed record is dropped
        code, out = _compare(capsys, path, path)
        assert code == 0, out
        assert "0 regressions" in out


@SETTINGS
@given(figures=SETS, cell=st.integers(0, len(CELLS) - 1), metric=st.sampled_from(["grad_rel_error", "sol_rel_error",
       "time_forward_s", "time_backward_s"]), bad=st.sampled_from([math.nan, math.inf]))  # fmt: skip
def test_a_figure_finite_in_base_and_non_finite_in_new_is_a_regression(figures, cell, metric, bad, capsys):
    figures = [dict(f) for f in figures]
    figures[cell].update(status="ok", **{metric: 1e-3})
    base_rows = _rows(figures)
    figures[cell][metric] = bad
    new_rows = _rows(figures)
    with tempfile.TemporaryDirectory() as tmp:
        base, new = _write(Path(tmp), "b.jsonl", base_rows), _write(Path(tmp), "n.jsonl", new_rows)
        code, out = _compare(capsys, base, new)
        assert code == 1, out
        assert metric in out.split("REGRESSION in ")[1].splitlines()[0]
        regressions = compare_frames(read_results([base]), read_results([new])).regressions
        row = regressions[regressions["metric"] == metric]
        assert len(row) == 1 and row.iloc[0]["test"] == "not a finite number in NEW"


@SETTINGS
@given(figures=SETS, cell=st.integers(0, len(CELLS) - 1), metric=st.sampled_from(EXACT_METRICS),
       rise=st.integers(1, 10**6))  # fmt: skip
def test_an_exact_figure_that_rose_is_a_regression_whatever_else_the_record_holds(figures, cell, metric, rise, capsys):
    figures = [dict(f) for f in figures]
    figures[cell].update(status="ok", **{metric: 1000})
    base_rows = _rows(figures)
    figures[cell][metric] = 1000 + rise
    with tempfile.TemporaryDirectory() as tmp:
        base, new = _write(Path(tmp), "b.jsonl", base_rows), _write(Path(tmp), "n.jsonl", _rows(figures))
        code, out = _compare(capsys, base, new, "--timings", "off")
        assert code == 1, out
        assert metric in out.split("REGRESSION in ")[1].splitlines()[0]


@SETTINGS
@given(figures=SETS, factor=st.floats(1.0, 100.0), load=st.floats(0, 8))
def test_timings_moved_under_another_load_are_never_a_regression(figures, factor, load, capsys):
    figures = [dict(f, load_before=load, load_after=load) for f in figures]
    base_rows = _rows(figures)
    slower = []
    for f in figures:
        moved = dict(f, load_before=load + 1.0, load_after=load + 1.0)
        for name in ("time_forward_s", "time_backward_s"):
            # a slowdown that would take a figure past what the schema allows (1e15) is no record at all
            scalable = isinstance(f[name], float) and math.isfinite(f[name]) and f[name] * factor <= 1e15
            moved[name] = f[name] * factor if scalable else f[name]
        if f["time_forward_samples_s"]:
            moved["time_forward_samples_s"] = [min(s * factor, 1e15) for s in f["time_forward_samples_s"]]
        slower.append(moved)
    with tempfile.TemporaryDirectory() as tmp:
        base, new = _write(Path(tmp), "b.jsonl", base_rows), _write(Path(tmp), "n.jsonl", _rows(slower))
        code, out = _compare(capsys, base, new)
        assert code == 0, out


@pytest.mark.slow
@settings(max_examples=2, derandomize=True, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(figures=SETS)
def test_report_renders_every_allowed_record(figures, capsys):
    # no --no-figures flag yet: the real report on a tiny set (4 cells), few examples
    with tempfile.TemporaryDirectory() as tmp:
        path = _write(Path(tmp), "r.jsonl", _rows(figures))
        code = main(["report", str(path), "--out", str(Path(tmp) / "rep")])
        err = capsys.readouterr().err
        assert code == 0, err
        assert "Traceback" not in err
        assert (Path(tmp) / "rep" / "report.html").is_file()
