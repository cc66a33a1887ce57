"""Every file is untrusted input (issue 22): one test per family, each from a fresh hostile input,
and a property test fuzzing every field of a record through ``--resume``, ``report`` and ``compare``.

Cells are stubbed (:func:`fake_cell`) and reports rendered by a stub unless a test needs the real
thing, so the families run in seconds; the ones that start a child Python (a user's factory) are
marked slow.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import tempfile
import textwrap
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import neural_ode.reporting
import neural_ode.sweeping.runner as runner
from neural_ode.cli import main
from neural_ode.config import CellConfig
from neural_ode.results.record import CellRecord
from neural_ode.validation import UsageError
from neural_ode.workloads.trusted import forget_factories

TINY = ["--workload", "mlp", "--method", "direct", "--solver", "euler", "--steps", "2", "--batch", "2"]
TINY += ["--width", "4", "--repeats", "1", "--warmup", "0", "--timeout", "5"]
EVIL = """
import pathlib
pathlib.Path({marker!r}).write_text("ran")

def make(config):
    pathlib.Path({marker!r}).write_text("ran")
"""


def fake_cell(config: CellConfig, **_) -> CellRecord:
    """A cell 'measured' in no time."""
    return CellRecord(config=config, status="ok", nfe_forward=config.steps or 1, nfe_backward=0, saved_bytes=64)


def fake_report(frame, out_dir, **_) -> Path:
    from neural_ode.storage.writer import write_file

    return write_file(Path(out_dir) / "report.html", f"stub of {len(frame)} rows")


@contextlib.contextmanager
def fast():
    """Cells and reports stubbed, and no cells' server started (it imports torch's profiler: seconds)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(runner, "run_cell", fake_cell)
        patch.setattr(runner, "start_worker_server", lambda: None)
        patch.setattr("neural_ode.sweeping.worker.begin_worker_server", lambda: None)
        patch.setattr(neural_ode.reporting, "render_report", fake_report)
        yield patch
    forget_factories()


def cli(capsys, *args) -> tuple[int, str]:
    code = main([str(a) for a in args])
    return code, capsys.readouterr().err


def record(**changes) -> dict:
    config = CellConfig(workload="mlp", method="direct", solver="euler", steps=2, batch=2, width=4)
    return {**fake_cell(config).to_dict(), **changes}


def snapshot(root: Path, *inside: Path) -> dict:
    """Every file under ``root`` outside the folders ``inside``, with its bytes."""
    return {
        p: p.read_bytes()
        for p in root.rglob("*")
        if p.is_file() and not p.is_symlink() and not any(f == p or f in p.parents for f in inside)
    }


# --- records read without types ------------------------------------------------------------------


def test_bad_records_are_named_and_skipped_by_resume_report_and_compare(tmp_path, capsys):
    folder = tmp_path / "in"
    folder.mkdir()
    good = record()
    lines = [
        good,
        {"status": "ok", "nfe_forward": 3},  # no config fields: not the default cell
        record(steps=4, nfe_forward="3"),  # wrong JSON type
        record(steps=8, batch=[2]),
        record(steps=16, status="pwned"),
    ]
    (folder / "results.jsonl").write_bytes(b"\r".join(json.dumps(r).encode() for r in lines) + b"\r")  # CR only
    with fast():
        code, err = cli(capsys, "report", folder, "--out", tmp_path / "rep")
        assert code == 0, err
        assert "stub of 1 rows" in (tmp_path / "rep" / "report.html").read_text()
        assert err.count("is not a valid cell record") == 4, err
        assert "no workload, method, solver" in err and "nfe_forward is '3' (str)" in err
        code, err = cli(capsys, "compare", folder, folder)
        assert code in (0, 2) and err.count("is not a valid cell record") >= 4, err
        # --resume: the CR-only file is read, not truncated; the one good record counts as done
        code, err = cli(capsys, "run", *TINY, "--out", folder, "--resume")
    assert code == 0, err
    assert "1 cells were already recorded" in err
    assert (folder / "results.jsonl").read_bytes().startswith(json.dumps(good).encode())


# --- code execution from data ----------------------------------------------------------------------


def test_a_workload_read_from_a_file_is_never_imported(tmp_path, capsys, monkeypatch):
    marker = tmp_path / "PWNED"
    (tmp_path / "evil.py").write_text(EVIL.format(marker=str(marker)))
    monkeypatch.chdir(tmp_path)
    folder = tmp_path / "out"
    folder.mkdir()
    (folder / "results.jsonl").write_text(json.dumps(record(workload="evil:make")) + "\n")
    with fast():
        code, err = cli(capsys, "run", *TINY, "--out", folder, "--resume")
        assert code == 0, err
        assert "workload 'evil:make'" in err and "not a registered workload" in err
        code, err = cli(capsys, "report", folder, "--out", tmp_path / "rep")
        assert code in (0, 2), err
        spec = tmp_path / "spec"
        spec.mkdir()
        (spec / "sweep.json").write_text(json.dumps({"format": 1, "cells": [{"workload": "evil:make"}]}))
        code, err = cli(capsys, "run", *TINY, "--out", spec)
    assert code == 2 and "not a registered workload" in err, err
    assert not marker.exists()


# --- writes and deletes outside --out --------------------------------------------------------------


def test_the_writer_refuses_links_outside_paths_foreign_files_and_fifos(tmp_path, capsys, monkeypatch):
    from neural_ode.storage import writer
    from neural_ode.storage.owned import MANIFEST, check_owned

    victim = tmp_path / "victim.txt"
    victim.write_text("mine")
    folder = tmp_path / "out"
    folder.mkdir()
    (folder / MANIFEST).write_text(json.dumps({"files": ["../victim.txt", str(victim), "figures/../../victim.txt"]}))
    for name, make in [
        ("fits.csv", lambda p: p.symlink_to(victim)),
        ("choices.csv", lambda p: p.write_text("the user's")),
        ("report.md", lambda p: os.mkfifo(p)),
    ]:
        target = folder / name
        make(target)
        with pytest.raises(UsageError):
            writer.write_file(target, "x", folder)
        os.unlink(target)
    for outside in (tmp_path / "victim.txt", folder / ".." / "victim.txt", Path("/tmp/neural-ode-bench-x")):
        with pytest.raises(UsageError, match="outside the folder"):
            writer.write_file(outside, "x", folder)
    (folder / "figures").symlink_to(tmp_path)
    with pytest.raises(UsageError):
        writer.write_file(folder / "figures" / "a.png", b"x")
    assert victim.read_text() == "mine"
    (folder / "figures").unlink()
    # a report in a folder whose manifest names paths outside it: nothing outside is deleted or written
    (folder / "results.jsonl").write_text(json.dumps(record()) + "\n")
    with fast():
        code, err = cli(capsys, "report", folder, "--out", folder)
    assert code == 0, err
    assert victim.read_text() == "mine"
    # an empty cache variable is the default cache, never the current directory
    from neural_ode.measuring.reference import cache_dir

    monkeypatch.setenv("NEURAL_ODE_BENCH_CACHE", "")
    assert cache_dir() != Path("") and cache_dir().is_absolute()
    check_owned(folder)


# --- interrupted writes --------------------------------------------------------------------------------


def test_an_interrupted_write_leaves_a_folder_that_resume_and_report_accept(tmp_path, capsys, monkeypatch):
    from neural_ode.storage import writer
    from neural_ode.storage.owned import check_owned

    folder = tmp_path / "out"
    with fast():
        code, err = cli(capsys, "run", *TINY, "--out", folder)
        assert code == 0, err
        real = os.replace

        def interrupted(src, dst):  # the file lands, then Ctrl-C
            real(src, dst)
            raise KeyboardInterrupt

        with monkeypatch.context() as patch:
            patch.setattr(writer.os, "replace", interrupted)
            with pytest.raises(KeyboardInterrupt):
                writer.write_file(folder / "figures" / "new.png", b"png")
        check_owned(folder)
        code, err = cli(capsys, "run", *TINY, "--out", folder, "--resume")
        assert code == 0, err
        code, err = cli(capsys, "report", folder, "--out", folder)
        assert code == 0, err
    assert not list(folder.rglob("*.partial"))


def test_a_huge_sweep_is_refused_with_its_size_unless_yes(tmp_path, capsys):
    many = ",".join(str(n) for n in range(1, 101))
    code, err = cli(
        capsys, "run", *TINY[:6], "--steps", many, "--batch", many, "--width", "1,2", "--out", tmp_path / "o"
    )
    assert code == 2 and len(err.strip().splitlines()) == 1, err
    assert "20,000 cells, more than 10,000; add --yes" in err
    assert not (tmp_path / "o").exists()


# --- user code unbounded -----------------------------------------------------------------------------

FACTORIES = {
    "quits": ("import os\ndef make(config):\n    os._exit(7)\n", "exit status 7"),
    "exits": ("import sys\ndef make(config):\n    sys.exit(3)\n", "sys.exit(3)"),
    "sleeps": ("import time\ntime.sleep(60)\ndef make(config):\n    pass\n", "took longer than 2 s"),
    "zero": (
        textwrap.dedent(
            """
            import torch
            from neural_ode.workloads import Problem

            def make(config):
                return Problem(field=torch.nn.Linear(2, 2), y0=torch.ones(2, 2), times=torch.tensor([0.0]))
            """
        ),
        "the last output time must be > 0",
    ),
}


@pytest.mark.slow
@pytest.mark.parametrize("name", FACTORIES)
def test_a_factory_that_exits_sleeps_or_is_degenerate_is_one_line_exit_2(name, tmp_path, capsys, monkeypatch):
    import sys

    source, message = FACTORIES[name]
    (tmp_path / f"user_{name}.py").write_text(source)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", [str(tmp_path), *sys.path])
    monkeypatch.setattr("neural_ode.sweeping.worker.begin_worker_server", lambda: None)  # refused before any cell
    args = ["run", "--workload", f"user_{name}:make", *TINY[2:-2], "--timeout", "2", "--out", tmp_path / "o"]
    code, err = cli(capsys, *args)
    assert code == 2, err
    assert len(err.strip().splitlines()) == 1 and message in err, err


def test_a_factory_edit_changes_its_reference_key(tmp_path, monkeypatch):
    from neural_ode.workloads.user import FactoryWorkload

    monkeypatch.chdir(tmp_path)
    module = tmp_path / "user_edit.py"
    module.write_text("def make(config):\n    return 1\n")
    workload = FactoryWorkload("user_edit:make")
    before = workload.parameters_key(4, 1)
    module.write_text("def make(config):\n    return 2\n")
    assert workload.parameters_key(4, 1) != before


# --- the property test: every field of a record, fuzzed -------------------------------------------------

FIELDS = sorted(record()) + ["unknown_field"]
HOSTILE = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**80), max_value=2**80),
    st.sampled_from([math.nan, math.inf, -math.inf, 1e308, -0.0, 5e-324, 2**63, -(2**63) - 1]),
    st.floats(),
    st.sampled_from(
        ["", "../../etc/passwd", "evil:make", "os:system", "<script>x</script>", "\x00", "\u202e", "a" * 30_000]
    ),
    st.text(max_size=8),
    st.lists(st.one_of(st.integers(), st.floats(), st.text(max_size=2)), max_size=3),
    st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
)


@settings(max_examples=12, derandomize=True, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(changes=st.dictionaries(st.sampled_from(FIELDS), HOSTILE, min_size=1, max_size=3), drop=st.booleans())
def test_fuzzed_records_through_resume_report_and_compare_end_in_0_or_2(changes, drop, capsys):
    with tempfile.TemporaryDirectory() as tmp, fast():
        root = Path(tmp)
        (root / "sentinel.txt").write_text("untouched")
        folder, rep = root / "in", root / "rep"
        folder.mkdir()
        row = record(**changes)
        if drop:
            row = {k: v for k, v in row.items() if k not in changes}
        text = json.dumps(record()) + "\n" + json.dumps(row) + "\n"
        (folder / "results.jsonl").write_text(text, encoding="utf-8", errors="surrogatepass")
        before = snapshot(root, folder, rep)
        for args in (
            ["report", folder, "--out", rep],
            ["compare", folder, folder],
            ["run", *TINY, "--out", folder, "--resume"],
        ):
            code, err = cli(capsys, *args)
            assert code in (0, 2), (args[0], err)
            assert "Traceback" not in err and "internal error" not in err, err
        assert snapshot(root, folder, rep) == before


@pytest.mark.slow
def test_a_real_report_of_extreme_allowed_values_renders(tmp_path, capsys):
    """Values at the reader's limits (0, 1e-300, 1e15, horizon 1e15) through the real report."""
    from neural_ode.results.schema import METRICS

    rows = []
    for steps, value in [(2, 1e15), (4, 0), (8, 1e-300), (16, 1e15)]:
        for method in ("direct", "adjoint"):
            horizon = 1e15 if steps == 16 else 1.0
            config = CellConfig(
                workload="mlp", method=method, solver="euler", steps=steps, batch=2, width=4, horizon=horizon
            )
            values = {
                k: value if METRICS[k].dtype is float else int(value if method == "direct" else 0) for k in METRICS
            }
            rows.append(CellRecord(config=config, status="ok", hostname="<script>x</script>", **values).to_dict())
    rows.append(record(time_forward_s=1e308))  # beyond the limit: named and skipped
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "results.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    code, err = cli(capsys, "report", folder, "--out", tmp_path / "rep")
    assert code == 0, err
    assert "time_forward_s is 1e+308" in err
    assert "<script>x</script>" not in (tmp_path / "rep" / "report.html").read_text()


# --- slow to stop ----------------------------------------------------------------------------------


@pytest.mark.slow
def test_an_interrupted_reference_pass_kills_its_processes_within_seconds():
    """Ctrl-C in the reference pass sets :data:`runner.STOP`: a process another thread waits on
    (here a cell of a million steps, budget 600 s) is killed at once, not after its budget."""
    import threading

    config = CellConfig(workload="mlp", method="direct", solver="euler", steps=10**6, batch=2, width=4, timeout_s=600)
    timer = threading.Timer(1.0, runner.STOP.set)
    timer.start()
    try:
        with pytest.raises(KeyboardInterrupt):
            runner.run_cell(config, kill_after_s=600)
    finally:
        runner.STOP.clear()


# --- the cluster path ----------------------------------------------------------------------------------


@pytest.mark.parametrize("says", [b"", b"HTTP/1.1 200 OK\r\n\r\n", b"\x10" + b"\x00" * 7 + b"\xff" * 16])
def test_a_service_that_is_not_a_dask_scheduler_is_refused(says, capsys, monkeypatch, tmp_path):
    import socket
    import threading

    from neural_ode.sweeping import dask_runner

    server = socket.create_server(("127.0.0.1", 0))
    held = []

    def serve():
        connection, _ = server.accept()
        held.append(connection)
        connection.sendall(says)  # then silence, the connection kept open

    threading.Thread(target=serve, daemon=True).start()
    monkeypatch.setattr(dask_runner, "CONNECT_TIMEOUT_S", 1)
    port = server.getsockname()[1]
    out = tmp_path / "never"
    try:
        code, err = cli(capsys, "run", *TINY, "--scheduler", f"tcp://127.0.0.1:{port}", "--out", out)
    finally:
        server.close()
        for connection in held:
            connection.close()
    assert code == 2 and "is not a Dask scheduler" in err and len(err.strip().splitlines()) == 1, err
    assert not out.exists()


def test_threads_reach_the_workers_cell_processes(monkeypatch):
    """The sweep's process settings (--threads, its commit) travel with each task as an argument:
    the worker's cell process is given them, and no environment variable is set for it."""
    from neural_ode.sweeping import dask_runner
    from neural_ode.sweeping.process import ProcessSettings

    seen = {}

    def cell_process(config, settings=None, **_):
        seen["settings"] = settings
        return fake_cell(config)

    monkeypatch.setattr(runner, "run_cell", cell_process)
    config = CellConfig(workload="mlp", method="direct", solver="euler", steps=2, batch=2, width=4)
    before = dict(os.environ)
    settings = ProcessSettings(threads=3, commit="0123abc")
    row = dask_runner.measure_on_worker(config.to_dict(), settings)
    assert seen["settings"] == settings and row["status"] == "ok"
    assert dict(os.environ) == before
