"""Faults at every phase (issue 32): a SIGKILL at planning, in the reference pass, in a cell, while
the results are written and while the report is drawn leaves a folder that ``run --resume`` and
``report`` accept at once, and no process of the sweep alive; user code that forks, raises
KeyboardInterrupt or calls sys.exit is reported as what it did; a cached reference is never older
than the user's code it depends on.

A phase is reached deterministically: a user factory that holds (sleeps while a flag file exists)
in the phase asked for, or a driver script that replaces the results writer or adds a figure that
holds. Cells are tiny; the tests that start the command line in a process of its own are slow.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

import neural_ode.sweeping.runner as runner
from neural_ode.cli import main
from neural_ode.config import CellConfig
from neural_ode.results.record import CellRecord
from neural_ode.workloads.trusted import forget_factories

psutil = pytest.importorskip("psutil")

ROOT = Path(__file__).resolve().parents[1]
AXES = ["--method", "direct", "--solver", "rk4", "--steps", "2", "--batch", "2", "--width", "4"]
AXES += ["--repeats", "1", "--warmup", "0", "--timeout", "60"]

#: a factory that holds in the phase whose flag file exists beside it: "plan" (the factory check),
#: "reference" (a float64 build in a cell process), "cell" (a float32 build in a cell process)
HOLDING = '''
import multiprocessing, os, time
import torch
from neural_ode.workloads import Problem

HERE = os.path.dirname(os.path.abspath(__file__))


def _phase(config):
    if not multiprocessing.current_process().name.startswith("neural-ode-bench cell"):
        return "plan"
    return "reference" if config.dtype == "float64" else "cell"


def make(config):
    flag = os.path.join(HERE, "hold-" + _phase(config))
    if os.path.exists(flag):
        open(flag + ".reached", "w").close()
        while os.path.exists(flag):
            time.sleep(0.1)
    torch.manual_seed(config.seed)
    dtype = getattr(torch, config.dtype)
    field = torch.nn.Sequential(torch.nn.Linear(2, 4), torch.nn.Tanh(), torch.nn.Linear(4, 2)).to(dtype)
    field.forward = (lambda f: (lambda t, y: f(y)))(field.forward)
    return Problem(field=field, y0=torch.ones(config.batch, 2, dtype=dtype))
'''

#: a driver of the command line that holds while the results are written or a figure is drawn
DRIVER = '''
import pathlib, sys, time

def hold(marker):
    pathlib.Path(marker).touch()
    time.sleep(600)

if __name__ == "__main__":
    phase, marker = sys.argv[1], sys.argv[2]
    if phase == "results":
        import neural_ode.results.frame as frame
        frame.write_csv = lambda *a, **k: hold(marker)
    elif phase == "render":
        import neural_ode.reporting.figures.draw as draw
        def holding_figure(frame, directory, style):
            hold(marker)
        draw.FIGURES = (*draw.FIGURES, holding_figure)
    from neural_ode.cli import main
    sys.exit(main(sys.argv[3:]))
'''


def fake_cell(config: CellConfig, **_) -> CellRecord:
    """A cell 'measured' in no time (for the resumes after a kill: the folder is what is checked)."""
    return CellRecord(config=config, status="ok", nfe_forward=2, nfe_backward=2, saved_bytes=64)


@contextlib.contextmanager
def fast_cells():
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(runner, "run_cell", fake_cell)
        yield
    forget_factories()


def env(tmp_path: Path) -> dict[str, str]:
    path = os.pathsep.join(filter(None, [str(ROOT), str(tmp_path), os.environ.get("PYTHONPATH")]))
    return dict(os.environ, PYTHONPATH=path, NEURAL_ODE_BENCH_CACHE=str(tmp_path / "cache"))


def family_of(pid: int) -> set:
    try:
        return set(psutil.Process(pid).children(recursive=True))
    except psutil.Error:
        return set()


def kill_at(process: subprocess.Popen, marker: Path, timeout: float = 300) -> set:
    """SIGKILL ``process`` once ``marker`` exists; returns every descendant it had meanwhile."""
    family, deadline = set(), time.monotonic() + timeout
    while not marker.exists():
        family |= family_of(process.pid)
        assert process.poll() is None, f"the command ended ({process.returncode}) before the phase"
        assert time.monotonic() < deadline, "the phase was never reached"
        time.sleep(0.2)
    family |= family_of(process.pid)
    time.sleep(0.5)
    family |= family_of(process.pid)
    process.send_signal(signal.SIGKILL)
    process.wait()
    return family


def running(process) -> bool:
    """Alive and not a zombie (a dead process whose new parent, init here, has not reaped it)."""
    try:
        return process.is_running() and process.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def assert_none_alive(family: set) -> None:
    deadline = time.monotonic() + 30  # a loaded machine: the watch threads poll every 0.5 s
    while any(map(running, family)) and time.monotonic() < deadline:
        time.sleep(0.2)
    alive = [process for process in family if running(process)]
    assert not alive, [(p.pid, p.ppid(), " ".join(p.cmdline())[:100], [t.id for t in p.threads()]) for p in alive]


def cli(capsys, *args) -> tuple[int, str]:
    code = main([str(a) for a in args])
    return code, capsys.readouterr().err


@pytest.mark.slow
@pytest.mark.parametrize("phase", ["plan", "reference", "cell", "results", "render"])
def test_a_sigkill_in_any_phase_leaves_a_folder_that_resumes_and_reports(phase, tmp_path, capsys, monkeypatch):
    (tmp_path / "holding.py").write_text(HOLDING)
    (tmp_path / "drive.py").write_text(DRIVER)
    out, workload = tmp_path / "out", "holding:make"
    if phase in ("plan", "reference", "cell"):
        marker = tmp_path / f"hold-{phase}.reached"
        (tmp_path / f"hold-{phase}").touch()
    else:
        marker = tmp_path / "held"
    command = [sys.executable, str(tmp_path / "drive.py"), phase, str(marker)]
    command += ["run", "--workload", workload, *AXES, "--out", str(out)]
    sweep = subprocess.Popen(command, cwd=tmp_path, env=env(tmp_path), stderr=subprocess.PIPE, text=True)
    family = kill_at(sweep, marker)
    for flag in tmp_path.glob("hold-*"):
        flag.unlink()
    assert_none_alive(family)
    # a cell's own folder usually goes with it; one killed by the kernel's parent-death signal has no
    # chance to remove it, and the next run in the folder clears it (checked after the resume below)

    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setenv("NEURAL_ODE_BENCH_CACHE", str(tmp_path / "cache"))
    with fast_cells():
        if phase == "plan":  # killed before the folder was made: nothing recorded, nothing to resume
            assert not (out / "sweep.json").exists()
            code, err = cli(capsys, "run", "--resume", "--out", out)
            assert code == 2 and "records no sweep" in err, err
            code, err = cli(capsys, "run", "--resume", "--workload", workload, *AXES, "--out", out)
        else:  # the folder is not locked by anything left of the killed sweep, and says what it resumes
            code, err = cli(capsys, "run", "--resume", "--workload", workload, "--out", out)
            assert "the sweep recorded in" in err, err
        assert code == 0, err
    rows = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
    assert len(rows) == 1  # one record of the one cell: none lost, none twice
    assert not list((out / ".cells-tmp").glob("neural-ode-cell-*"))  # nothing of the killed sweep's cells left
    code, err = cli(capsys, "report", out, "--out", out)
    assert code == 0, err
    assert (out / "report.html").is_file()


def test_resume_without_a_recorded_sweep_is_refused_before_anything_is_written(tmp_path, capsys):
    out = tmp_path / "out"
    out.mkdir()
    with fast_cells():
        code, err = cli(capsys, "run", "--resume", "--out", out)
    assert code == 2 and err.count("\n") == 1 and "records no sweep" in err and "--preset" in err, err
    assert not (out / "sweep.json").exists() and not (out / "results.jsonl").exists()


def test_a_factory_sweep_resumes_with_its_workload_named_and_says_how_otherwise(tmp_path, capsys, monkeypatch):
    (tmp_path / "holding.py").write_text(HOLDING)
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    out = tmp_path / "out"
    with fast_cells(), monkeypatch.context() as patch:
        patch.setattr("neural_ode.sweeping.factory_check.check_factory", lambda config: None)
        assert cli(capsys, "run", "--workload", "holding:make", *AXES, "--out", out)[0] == 0
    forget_factories()
    with fast_cells():
        code, err = cli(capsys, "run", "--resume", "--out", out)
    assert code == 2 and err.count("\n") == 1, err
    assert f"neural-ode-bench run --resume --out {out} --workload holding:make" in err
    with fast_cells():
        code, err = cli(capsys, "run", "--resume", "--out", out, "--workload", "holding:make")
    assert code == 0 and "the sweep recorded in" in err and "1 cells were already recorded" in err, err


def test_a_cell_started_as_the_sweep_gives_up_ends_without_a_traceback(tmp_path):
    """Ctrl-C just as a cell starts: the sweep removed the cell's folder before the process opened its log."""
    gone = tmp_path / "gone"
    code = (
        "from neural_ode.sweeping.worker import run_child, measure_into; "
        f"run_child(measure_into, {{}}, {{}}, {str(gone / 'record.json')!r}, {str(gone / 'output.txt')!r})"
    )
    done = subprocess.run([sys.executable, "-c", code], env=env(tmp_path), capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and done.stderr == "", done.stderr


def test_a_forked_child_never_holds_the_folder_lock(tmp_path):
    from neural_ode.sweeping.lock import FolderLock

    with FolderLock(tmp_path):
        child = os.fork()
        if child == 0:  # the child sleeps on, as an orphaned figure process did
            time.sleep(60)
            os._exit(0)
    try:
        FolderLock(tmp_path).acquire().release()  # released by its holder: no child keeps it
    finally:
        os.kill(child, signal.SIGKILL)
        os.waitpid(child, 0)


def test_the_manifest_keeps_every_name_added_at_once(tmp_path):
    from neural_ode.storage.owned import add_owned, owned

    children = []
    for index in range(6):
        pid = os.fork()
        if pid == 0:
            try:
                for k in range(20):
                    add_owned(tmp_path, [tmp_path / "figures" / f"f{index}-{k}.png"])
            finally:
                os._exit(0)
        children.append(pid)
    for pid in children:
        os.waitpid(pid, 0)
    assert len(owned(tmp_path)) == 120


USER_CODE = {
    "raises_interrupt": ("raise KeyboardInterrupt", "KeyboardInterrupt"),
    "calls_exit": ("raise SystemExit(3)", "SystemExit: 3"),
    "forks": ("_fork_once()", "left 1 process running"),
}
MISBEHAVING = '''
import os, time
import torch
from neural_ode.workloads import Problem

CHILD = []


def _fork_once():
    if not CHILD:
        pid = os.fork()
        if pid == 0:
            time.sleep(300)
            os._exit(0)
        CHILD.append(pid)
        open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "child-%d" % pid), "w").close()


class Field(torch.nn.Module):
    def __init__(self, dtype):
        super().__init__()
        self.linear = torch.nn.Linear(2, 2).to(dtype)

    def forward(self, t, y):
        {action}
        return self.linear(y)


def make(config):
    torch.manual_seed(config.seed)
    dtype = getattr(torch, config.dtype)
    return Problem(field=Field(dtype), y0=torch.ones(config.batch, 2, dtype=dtype))
'''


@pytest.mark.slow
def test_user_code_that_forks_interrupts_or_exits_is_reported_as_what_it_did(tmp_path, capsys, monkeypatch):
    for name, (action, _) in USER_CODE.items():
        (tmp_path / f"{name}.py").write_text(MISBEHAVING.replace("{action}", action))
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setenv("NEURAL_ODE_BENCH_CACHE", str(tmp_path / "cache"))
    out = tmp_path / "out"
    workloads = ",".join(f"{name}:make" for name in USER_CODE)
    started = time.monotonic()
    code, err = cli(capsys, "run", "--workload", workloads, *AXES[:-2], "--timeout", "30", "--out", out)
    forget_factories()
    assert code == 0, err
    assert time.monotonic() - started < 200  # none waited for its kill deadline (30 s + grace each)
    rows = {row["workload"]: row for row in map(json.loads, (out / "results.jsonl").read_text().splitlines())}
    for name, (_, says) in USER_CODE.items():
        row = rows[f"{name}:make"]
        assert row["status"] == "error" and says in row["error"], row
    children = [int(path.name.split("-")[1]) for path in tmp_path.glob("child-*")]
    assert children  # the fork happened, in the reference pass or the cell
    assert not [pid for pid in children if psutil.pid_exists(pid) and running(psutil.Process(pid))]


def test_a_factory_that_leaves_a_process_is_refused_naming_it(tmp_path, capsys, monkeypatch):
    source = textwrap.dedent(
        """
        import os, time, torch
        from neural_ode.workloads import Problem

        def make(config):
            if os.fork() == 0:
                time.sleep(300)
                os._exit(0)
            return Problem(field=torch.nn.Linear(2, 2), y0=torch.ones(2, 2))
        """
    )
    (tmp_path / "forking_factory.py").write_text(source)
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    started = time.monotonic()
    code, err = cli(capsys, "run", "--workload", "forking_factory:make", *AXES, "--out", tmp_path / "o")
    forget_factories()
    assert code == 2 and err.count("\n") == 1 and "left 1 process running" in err, err
    assert time.monotonic() - started < 60  # not a wait for the child's pipe (the check's 60 s bound)
    assert not (tmp_path / "o").exists()


HELPER_USER = '''
import torch
from neural_ode.workloads import Problem
from helper_field import Field


def make(config):
    torch.manual_seed(config.seed)
    dtype = getattr(torch, config.dtype)
    return Problem(field=Field().to(dtype), y0=torch.ones(config.batch, 2, dtype=dtype))
'''
HELPER = '''
import torch


class Field(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.linear = torch.nn.Linear(2, 2)

    def forward(self, t, y):
        return {scale} * torch.tanh(self.linear(y))
'''


def test_editing_a_module_the_factory_imports_changes_its_reference_key(tmp_path, monkeypatch):
    from neural_ode.measuring.reference import cache_key

    (tmp_path / "helper_user.py").write_text(HELPER_USER)
    (tmp_path / "helper_field.py").write_text(HELPER.format(scale="1.0"))
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    config = CellConfig(workload="helper_user:make", method="direct", solver="rk4", steps=2, batch=2)
    before = cache_key(config)
    assert cache_key(config) == before  # nothing changed: the same key
    (tmp_path / "helper_field.py").write_text(HELPER.format(scale="3.0"))
    assert cache_key(config) != before


@pytest.mark.slow
def test_a_helper_edited_between_two_runs_gets_a_new_reference(tmp_path, capsys, monkeypatch):
    (tmp_path / "helper_user.py").write_text(HELPER_USER)
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setenv("NEURAL_ODE_BENCH_CACHE", str(tmp_path / "cache"))
    errors = []
    for run, scale in enumerate(["1.0", "3.0"]):
        (tmp_path / "helper_field.py").write_text(HELPER.format(scale=scale))
        out = tmp_path / f"out{run}"
        args = ["run", "--workload", "helper_user:make", *AXES[:5], "64", *AXES[6:], "--dtype", "float64"]
        code, err = cli(capsys, *args, "--out", out)
        forget_factories()
        assert code == 0, err
        (row,) = map(json.loads, (out / "results.jsonl").read_text().splitlines())
        assert row["status"] == "ok", row
        errors.append((row["grad_rel_error"], row["sol_rel_error"]))
    for gradient_error, solution_error in errors:  # rk4 at 64 steps against the float64 reference
        assert gradient_error < 1e-6 and solution_error < 1e-6, errors
