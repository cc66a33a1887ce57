"""The record module (neural_ode.results.records): one reading and checking of results.jsonl, its
schema version and migration, the values it keeps, and the figure workers that die with the report."""

from __future__ import annotations

import json
import math
import os
import signal
import time
import warnings

import pandas as pd
import pytest

from neural_ode.cli import main
from neural_ode.config import CellConfig
from neural_ode.results.record import SCHEMA_VERSION, CellRecord
from neural_ode.results.records import (
    MAX_WARNINGS,
    BadRecord,
    NewerSchema,
    ResultsLog,
    check_row,
    read_frame,
    read_rows,
)


def row(**changes) -> dict:
    config = CellConfig(workload="mlp", method="direct", solver="euler", steps=2, batch=2, width=4)
    record = CellRecord(config=config, status="ok", nfe_forward=2, nfe_backward=0, saved_bytes=64, grad_rel_error=0.1)
    return {**record.to_dict(), **changes}


def write(path, rows) -> object:
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows))
    return path


def test_a_newer_schema_version_refuses_the_file_with_exit_2(tmp_path, capsys):
    path = write(tmp_path / "results.jsonl", [row(), row(steps=4, schema_version=SCHEMA_VERSION + 1)])
    with pytest.raises(NewerSchema, match=f"line 2: written with record schema version {SCHEMA_VERSION + 1}"):
        read_rows(path)
    assert main(["report", str(path), "--out", str(tmp_path / "rep"), "--no-figures"]) == 2
    err = capsys.readouterr().err
    assert f"reads versions up to {SCHEMA_VERSION}" in err and "Traceback" not in err
    with pytest.raises(NewerSchema):
        ResultsLog(path).records()  # run --resume: never appends to a file of another version


def test_an_unversioned_line_is_migrated_and_older_committed_files_read():
    from pathlib import Path

    unversioned = {k: v for k, v in row().items() if k != "schema_version"}
    from neural_ode.results.records import migrate

    assert migrate(unversioned)["schema_version"] == SCHEMA_VERSION
    root = Path(__file__).resolve().parent.parent / "reports"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        paper = read_rows(root / "paper" / "results.jsonl")  # written before stage, max_repeats, ... existed
    assert len(paper) == 115 and {r["schema_version"] for r in paper} == {1}
    assert "stage" not in paper[0]


def test_one_check_for_every_reader_same_messages(tmp_path):
    lines = [
        row(),
        "{truncated",
        "[1, 2]",
        row(steps=4, nfe_forward="3"),
        row(steps=8, method="adjoint-seminorm"),  # no seminorm on a fixed grid: the config's own message
        row(steps=16, saved_bytes=-1),
        row(steps=32, status="pwned"),
    ]
    path = write(tmp_path / "results.jsonl", lines)
    with pytest.warns(UserWarning) as caught:
        rows = read_rows(path)
    messages = [str(w.message) for w in caught]
    assert len(rows) == 1 and len(messages) == 6
    assert "line 2 is truncated or corrupt and was dropped" in messages[0]
    assert "line 3 is not a record (a JSON list); dropped" in messages[1]
    assert "nfe_forward is '3' (str); allowed: an integer within int64 or null" in messages[2]
    with pytest.raises(Exception) as built:
        CellConfig(workload="mlp", method="adjoint-seminorm", solver="euler", steps=8)
    assert str(built.value).splitlines()[0][:200] in messages[3]
    assert "saved_bytes is -1; allowed: a measurement in [0, 1e+15], NaN, inf or null" in messages[4]
    assert "status is 'pwned'" in messages[5]
    # resume reads the same lines the same way, and builds the one good record
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        records = ResultsLog(path).records()
    assert [r.config.steps for r in records] == [2]


def test_non_finite_measurements_are_kept_and_non_finite_settings_refused(tmp_path):
    path = write(
        tmp_path / "results.jsonl",
        [row(grad_rel_error=math.nan), row(steps=4, grad_rel_error=math.inf), row(steps=8, horizon=math.inf)],
    )
    with pytest.warns(UserWarning, match="line 3 .*horizon is inf; allowed: a finite number"):
        frame = read_frame(path)
    assert len(frame) == 2
    assert math.isnan(frame["grad_rel_error"][0]) and frame["grad_rel_error"][1] == math.inf
    with pytest.raises(BadRecord, match="grad_rel_error is -inf"):
        check_row(row(grad_rel_error=-math.inf))


def test_integral_floats_of_integer_fields_build_as_integers():
    record = check_row(row(steps=4.0, nfe_forward=8.0), build=True)
    assert record.config.steps == 4 and type(record.config.steps) is int
    assert record.nfe_forward == 8 and type(record.nfe_forward) is int


def test_many_bad_lines_are_named_up_to_a_cap_then_counted(tmp_path):
    path = write(tmp_path / "results.jsonl", [row()] + ["{"] * (MAX_WARNINGS + 5))
    with pytest.warns(UserWarning) as caught:
        assert len(read_rows(path)) == 1
    assert len(caught) == MAX_WARNINGS + 1
    assert str(caught[-1].message).endswith(f"5 more lines were dropped (the first {MAX_WARNINGS} are named above)")


def test_many_lines_are_checked_once_per_distinct_config(tmp_path, monkeypatch):
    """The cross-field checks of a config run once per distinct combination, not once per line."""
    import neural_ode.config

    rows = [row(seed=seed, steps=2 + seed % 2) for seed in range(200)]
    built = []
    original = neural_ode.config.CellConfig.__post_init__

    def counting(self):
        built.append(1)
        original(self)

    monkeypatch.setattr(neural_ode.config.CellConfig, "__post_init__", counting)
    path = write(tmp_path / "results.jsonl", rows)
    assert len(read_rows(path)) == 200
    assert len(built) == 2


# --- the report's figures, bounded and drawn by workers that die with it -----------------------------


def test_no_figures_writes_the_tables_and_says_so(tmp_path):
    path = write(tmp_path / "results.jsonl", [row(), row(steps=4, nfe_forward=4)])
    assert main(["report", str(path), "--out", str(tmp_path / "rep"), "--no-figures"]) == 0
    assert not list((tmp_path / "rep" / "figures").glob("*.png"))
    md = (tmp_path / "rep" / "report.md").read_text()
    assert "rendered with `--no-figures` (tables only)" in md and "| euler" in md
    assert "<code>--no-figures</code>" in (tmp_path / "rep" / "report.html").read_text()


def test_a_figure_draws_at_most_max_lines_and_says_what_it_left_out():
    from neural_ode.reporting.columns import prepare
    from neural_ode.reporting.figures.draw import capped

    frame = prepare(pd.DataFrame([row(seed=seed, steps=steps) for seed in range(5) for steps in (2, 4)]))
    kept, note = capped(frame, limit=3)
    assert sorted(kept["seed"].unique()) == [0, 1, 2] and len(kept) == 6
    assert note.startswith("3 of 5 lines drawn (6 of 10 cells, lowest seeds first)")
    assert capped(frame, limit=5)[1] is None


def _held_locks() -> list[int]:
    """This process's descriptors open on a folder lock file, found through ``/proc/self/fd``."""
    from neural_ode.sweeping.lock import LOCK_NAME

    held = []
    for name in os.listdir("/proc/self/fd"):
        try:
            if os.path.basename(os.readlink(f"/proc/self/fd/{name}")) == LOCK_NAME:
                held.append(int(name))
        except OSError:
            continue
    return held


def test_figure_workers_hold_no_lock_and_die_with_their_parent(tmp_path):
    from neural_ode.family import die_with_parent
    from neural_ode.sweeping.lock import FolderLock

    lock = FolderLock(tmp_path).acquire()
    try:
        read, write_end = os.pipe()
        middle = os.fork()
        if middle == 0:  # the report process: forks a figure worker, then is killed
            worker = os.fork()
            if worker == 0:
                die_with_parent(os.getppid())
                os.write(write_end, f"{os.getpid()} {len(_held_locks())}\n".encode())
                time.sleep(60)
                os._exit(0)
            time.sleep(60)
            os._exit(0)
        worker_pid, held = map(int, os.read(read, 100).split())
        assert held == 0  # its copy of the lock was closed as it was forked
        os.kill(middle, signal.SIGKILL)
        os.waitpid(middle, 0)
        for _ in range(100):  # the kernel kills the orphan with SIGKILL
            try:
                os.kill(worker_pid, 0)
            except ProcessLookupError:
                break
            time.sleep(0.05)
        else:
            os.kill(worker_pid, signal.SIGKILL)
            pytest.fail("the figure worker outlived its parent")
    finally:
        lock.release()


def test_growth_summary_reuses_the_fits_written_once(tmp_path):
    from neural_ode.reporting.columns import prepare
    from neural_ode.reporting.tables.cells import growth_summary, write_fits

    rows = [
        row(method=method, steps=steps, saved_bytes=1000 * steps + 7 * (method == "adjoint") * steps,
            time_forward_s=0.001 * steps, time_backward_s=0.002 * steps)
        for method in ("direct", "adjoint") for steps in (2, 4, 8, 16)
    ]  # fmt: skip
    frame = prepare(pd.DataFrame(rows))
    fits = write_fits(frame, tmp_path / "fits.csv")
    alone = growth_summary(frame)
    assert len(alone) >= 2
    pd.testing.assert_frame_equal(growth_summary(frame, fits), alone)


def test_merging_compares_only_the_repeated_cells():
    from neural_ode.results.identity import merge_duplicates

    rows = [row(), row(), row(steps=4), row(steps=8, measured_at="2026-01-01T00:00:00+00:00"),
            row(steps=8, nfe_forward=9, measured_at="2026-01-02T00:00:00+00:00")]  # fmt: skip
    merged = merge_duplicates(pd.DataFrame(rows), label=lambda r: f"steps {r['steps']}")
    assert merged.frame["steps"].tolist() == [2, 4, 8]
    assert merged.frame["nfe_forward"].tolist() == [2, 2, 9]  # the conflict resolved to the latest
    assert merged.conflicts == ["steps 8"] and merged.identical == 1
