"""Faults at every phase (issue 32): a SIGKILL at planning, in the reference pass, in a cell, while
the results are written and while the report is drawn leaves a folder that ``run --resume`` and
``report`` accept at once, and no process of the sweep alive; user code that forks (and then ends
at once with ``os._exit``), raises KeyboardInterrupt or calls sys.exit is reported as what it did;
a cached reference is never older than the user's code it depends on, a module imported by a
computed name included.

A phase is reached deterministically: a user factory that holds (sleeps while a flag file exists)
in the phase asked for, or a results writer or a figure that holds; the test kills the command as
soon as the held code has touched its marker file. The command runs in a child forked from the
test's process (:func:`fork_command`: its imports done, no interpreter to start), with a cells'
server of its own. The cells
are the smallest there are (euler, 2 steps, batch 2, width 4); one finished sweep of them (module
scope, its reference in its cache) is copied for each phase that starts from a recorded sweep, so a
phase runs no reference pass unless it is the one killed, and no cell that it does not need.
After a kill, the resume and report that check the folder skip what the phase did not touch: the
factory check and (but after a kill in rendering) the figures.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

import neural_ode.sweeping.runner as runner
from neural_ode.cli import main
from neural_ode.config import CellConfig
from neural_ode.results.record import CellRecord
from neural_ode.workloads.trusted import forget_factories

psutil = pytest.importorskip("psutil")

ROOT = Path(__file__).resolve().parents[1]
AXES = ["--method", "direct", "--solver", "euler", "--steps", "2", "--batch", "2", "--width", "4"]
AXES += ["--horizon", "0.25", "--repeats", "1", "--warmup", "0", "--timeout", "20"]  # 0.25: a reference in 0.1 s
WORKLOAD = "holding:make"

#: a factory that holds in the phase whose flag file exists in $HOLD_DIR: "plan" (the factory
#: check), "reference" (a float64 build in a cell process), "cell" (a float32 build in a cell process)
HOLDING = '''
import multiprocessing, os, time
import torch
from neural_ode.workloads import Problem


def _phase(config):
    if not multiprocessing.current_process().name.startswith("neural-ode-bench cell"):
        return "plan"
    return "reference" if config.dtype == "float64" else "cell"


def make(config):
    flag = os.path.join(os.environ.get("HOLD_DIR", "."), "hold-" + _phase(config))
    if os.path.exists(flag):
        open(flag + ".reached", "w").close()
        while os.path.exists(flag):
            time.sleep(0.05)
    torch.manual_seed(config.seed)
    dtype = getattr(torch, config.dtype)
    field = torch.nn.Sequential(torch.nn.Linear(2, 4), torch.nn.Tanh(), torch.nn.Linear(4, 2)).to(dtype)
    field.forward = (lambda f: (lambda t, y: f(y)))(field.forward)
    return Problem(field=field, y0=torch.ones(config.batch, 2, dtype=dtype))
'''

def hold(marker: Path):
    """Touch ``marker``, then hold until killed."""
    marker.touch()
    time.sleep(600)


def fork_command(phase: str, marker: Path, args: list, code: Path, environ: dict, log: Path) -> int:
    """The command line ``args`` in a child forked from this test's process (its imports done: no
    interpreter, torch or pandas to start again), its output to ``log``, holding in ``phase``.

    It starts its own cells' server, as a command does (not this process's). It spares what the
    phase killed does not need: the factory check (a Python with torch) but where the check is the
    phase; the cells' server but where cells run (there, without the profiler's imports: no cell
    gets to profile before the kill). "results" and "render" hold in the results writer and in a
    figure drawn after the report's own."""
    pid = os.fork()
    if pid:
        return pid
    status = 70
    try:
        import multiprocessing.forkserver as forkserver

        import neural_ode.reporting.figures.draw as draw
        import neural_ode.results.frame as frame
        import neural_ode.sweeping.factory_check as factory_check
        import neural_ode.sweeping.worker as worker

        out = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        os.dup2(out, 1)
        os.dup2(out, 2)
        os.chdir(code)
        os.environ.clear()
        os.environ.update(environ)
        sys.path.insert(0, str(code))
        server = forkserver.ForkServer()  # a server of its own, started by the command as a command does
        forkserver._forkserver = server
        for name in ("ensure_running", "get_inherited_fds", "connect_to_new_process", "set_forkserver_preload"):
            setattr(forkserver, name, getattr(server, name))
        worker._warm_up = None
        if phase == "results":
            frame.write_csv = lambda *a, **k: hold(marker)
        elif phase == "render":
            draw.FIGURES = (*draw.FIGURES, lambda frame, directory, style: hold(marker))
        if phase != "plan":
            factory_check.check_factory = lambda config: None
        if phase in ("plan", "results", "render"):
            worker.begin_worker_server = lambda: None
        else:
            worker.PRELOAD = tuple(name for name in worker.PRELOAD if name != "torch._dynamo")
        status = main([str(a) for a in args])
    finally:
        os._exit(status)


def fake_cell(config: CellConfig, **_) -> CellRecord:
    """A cell 'measured' in no time (for the resumes after a kill: the folder is what is checked)."""
    return CellRecord(config=config, status="ok", nfe_forward=2, nfe_backward=2, saved_bytes=64)


@contextlib.contextmanager
def fast_cells(figures: bool = False):
    """Cells measured in no time, no factory check (a child Python each) and, unless ``figures``,
    no figures drawn: what a resume after a kill checks is the folder."""
    import neural_ode.reporting.figures.draw as draw

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(runner, "run_cell", fake_cell)
        patch.setattr(runner, "start_worker_server", lambda: None)  # no cell: no cells' server
        patch.setattr("neural_ode.sweeping.worker.begin_worker_server", lambda: None)
        patch.setattr("neural_ode.sweeping.factory_check.check_factory", lambda config: None)
        if not figures:
            patch.setattr(draw, "FIGURES", ())
        yield
    forget_factories()


def env(tmp_path: Path, code: Path) -> dict[str, str]:
    """The command's environment: this checkout and the user's code on the path, its own cache."""
    path = os.pathsep.join(filter(None, [str(ROOT), str(code), os.environ.get("PYTHONPATH")]))
    return dict(os.environ, PYTHONPATH=path, NEURAL_ODE_BENCH_CACHE=str(tmp_path / "cache"), HOLD_DIR=str(tmp_path))


def family_of(pid: int) -> set:
    try:
        return set(psutil.Process(pid).children(recursive=True))
    except psutil.Error:
        return set()


def kill_at(pid: int, marker: Path, log: Path, timeout: float = 120) -> set:
    """SIGKILL the child ``pid`` as soon as ``marker`` exists; returns every descendant it had
    meanwhile (looked up once a second, and when the marker appears: a lookup reads every process)."""
    family, deadline, looked = set(), time.monotonic() + timeout, 0.0
    try:
        while not marker.exists():
            if time.monotonic() - looked > 1.0:
                family |= family_of(pid)
                looked = time.monotonic()
            ended, status = os.waitpid(pid, os.WNOHANG)
            assert not ended, f"the command ended ({status}) before the phase: {log.read_text()[-2000:]}"
            assert time.monotonic() < deadline, "the phase was never reached"
            time.sleep(0.02)
        family |= family_of(pid)
    finally:
        with contextlib.suppress(ProcessLookupError, ChildProcessError):
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
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
        time.sleep(0.05)
    alive = [process for process in family if running(process)]
    assert not alive, [(p.pid, p.ppid(), " ".join(p.cmdline())[:100], [t.id for t in p.threads()]) for p in alive]


def cli(capsys, *args) -> tuple[int, str]:
    code = main([str(a) for a in args])
    return code, capsys.readouterr().err


@pytest.fixture(scope="module")
def finished(tmp_path_factory) -> Path:
    """A folder ``code`` with the holding factory and the driver, and beside it one finished sweep of
    the factory's one cell (``out``, no report yet) with its float64 reference in ``cache``."""
    from neural_ode.measuring.reference import reference_for

    base = tmp_path_factory.mktemp("finished")
    code = base / "code"
    code.mkdir()
    (code / "holding.py").write_text(HOLDING)
    with pytest.MonkeyPatch.context() as patch, fast_cells():
        patch.chdir(code)
        patch.syspath_prepend(str(code))
        patch.setenv("NEURAL_ODE_BENCH_CACHE", str(base / "cache"))
        patch.setenv("HOLD_DIR", str(base))
        patch.setattr("neural_ode.commands.run.finish", lambda rows, out: 0)
        assert main(["run", "--workload", WORKLOAD, *AXES, "--out", str(base / "out")]) == 0
        (line,) = (base / "out" / "results.jsonl").read_text().splitlines()
        reference_for(CellRecord.from_dict(json.loads(line)).config)  # in this process: a tiny problem
    forget_factories()
    assert len(list((base / "cache").glob("reference-*.pt"))) == 1
    return base


@pytest.mark.slow
@pytest.mark.parametrize("phase", ["plan", "reference", "cell", "results", "render"])
def test_a_sigkill_in_any_phase_leaves_a_folder_that_resumes_and_reports(
    phase, finished, tmp_path, capsys, monkeypatch
):
    code, out = finished / "code", tmp_path / "out"
    if phase in ("cell", "results", "render"):  # the reference is cached: no reference pass
        shutil.copytree(finished / "cache", tmp_path / "cache")
    if phase in ("results", "render"):  # the one cell is recorded: the resume measures nothing
        shutil.copytree(finished / "out", out)
    if phase in ("plan", "reference", "cell"):
        marker = tmp_path / f"hold-{phase}.reached"
        (tmp_path / f"hold-{phase}").touch()
    else:
        marker = tmp_path / "held"
    args = ["run", "--workload", WORKLOAD, *(["--resume"] if out.exists() else AXES), "--out", out]
    log = tmp_path / "command.log"
    family = kill_at(fork_command(phase, marker, args, code, env(tmp_path, code), log), marker, log)
    for flag in tmp_path.glob("hold-*"):
        flag.unlink()
    assert_none_alive(family)
    drawn = sorted(path.name for path in out.glob("figures/*.png"))
    assert bool(drawn) == (phase == "render"), drawn  # the figures drawn before the kill are on disk
    # a cell's own folder usually goes with it; one killed by the kernel's parent-death signal has no
    # chance to remove it, and the next run in the folder clears it (checked after the resume below)

    monkeypatch.chdir(code)
    monkeypatch.syspath_prepend(str(code))
    monkeypatch.setenv("NEURAL_ODE_BENCH_CACHE", str(tmp_path / "cache"))
    with fast_cells():
        if phase == "plan":  # killed before the folder was made: nothing recorded, nothing to resume
            assert not (out / "sweep.json").exists()
            status, err = cli(capsys, "run", "--resume", "--out", out)
            assert status == 2 and "records no sweep" in err, err
            status, err = cli(capsys, "run", "--resume", "--workload", WORKLOAD, *AXES, "--out", out)
        else:  # the folder is not locked by anything left of the killed sweep, and says what it resumes
            status, err = cli(capsys, "run", "--resume", "--workload", WORKLOAD, "--out", out)
            assert "the sweep recorded in" in err, err
        assert status == 0, err
        rows = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
        assert len(rows) == 1  # one record of the one cell: none lost, none twice
        assert not list((out / ".cells-tmp").glob("neural-ode-cell-*"))  # nothing of the killed sweep's cells left
    with fast_cells(figures=phase == "render"):  # after a kill in rendering: every figure drawn again
        status, err = cli(capsys, "report", out, "--out", out)
    assert status == 0, err
    assert (out / "report.html").is_file()
    assert set(drawn) <= {path.name for path in out.glob("figures/*.png")}  # drawn again, none refused


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
    with fast_cells():
        assert cli(capsys, "run", "--workload", "holding:make", *AXES, "--out", out)[0] == 0
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
    done = subprocess.run(
        [sys.executable, "-c", code], env=env(tmp_path, tmp_path), capture_output=True, text=True, timeout=120
    )
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


#: (what the field does on its first call, the record's status, what its error says)
USER_CODE = {
    "raises_interrupt": ("raise KeyboardInterrupt", "error", "KeyboardInterrupt"),
    "calls_exit": ("raise SystemExit(3)", "error", "SystemExit: 3"),
    "forks": ("_fork_once()", "error", "left 1 process running after it returned"),
    "forks_and_exits": ("_fork_once(); os._exit(0)", "crashed", "left 1 process running after the cell process ended"),
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
    for name, (action, _, _) in USER_CODE.items():
        (tmp_path / f"{name}.py").write_text(MISBEHAVING.replace("{action}", action))
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setenv("NEURAL_ODE_BENCH_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr("neural_ode.sweeping.factory_check.check_factory", lambda config: None)  # the field misbehaves
    monkeypatch.setattr("neural_ode.reporting.figures.draw.FIGURES", ())
    out = tmp_path / "out"
    workloads = ",".join(f"{name}:make" for name in USER_CODE)
    code, err = cli(capsys, "run", "--workload", workloads, *AXES, "--out", out)
    forget_factories()
    assert code == 0, err
    rows = {row["workload"]: row for row in map(json.loads, (out / "results.jsonl").read_text().splitlines())}
    for name, (_, status, says) in USER_CODE.items():  # none waited for its kill deadline (a timeout)
        row = rows[f"{name}:make"]
        assert row["status"] == status and says in row["error"], row
    children = [int(path.name.split("-")[1]) for path in tmp_path.glob("child-*")]
    assert len(children) >= 4  # the forks happened, in the reference pass and in the cells
    assert not [pid for pid in children if psutil.pid_exists(pid) and running(psutil.Process(pid))]


#: a factory that leaves a process running: it returns, or it ends its process at once
FORKING_FACTORY = """
import os, time, torch
from neural_ode.workloads import Problem

def make(config):
    pid = os.fork()
    if pid == 0:
        time.sleep(300)
        os._exit(0)
    open("child-%d" % pid, "w").close()
    {then}
    return Problem(field=torch.nn.Linear(2, 2), y0=torch.ones(2, 2))
"""


LEFT_BY_FACTORY = [
    ("pass", "left 1 process running after it returned"),
    ("os._exit(0)", "ended the process with exit status 0 before returning a Problem"),
]


@pytest.mark.parametrize("then, says", LEFT_BY_FACTORY)
def test_a_factory_that_leaves_a_process_is_refused_naming_it(then, says, tmp_path, capsys, monkeypatch):
    (tmp_path / "forking_factory.py").write_text(FORKING_FACTORY.replace("{then}", then))
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr("neural_ode.sweeping.worker.begin_worker_server", lambda: None)  # refused before any cell
    code, err = cli(capsys, "run", "--workload", "forking_factory:make", *AXES, "--out", tmp_path / "o")
    forget_factories()
    # within the check's bound: the child holding the check's pipe was killed, not waited for
    assert code == 2 and err.count("\n") == 1 and says in err and "left 1 process running" in err, err
    assert "took longer" not in err
    (child,) = [int(path.name.split("-")[1]) for path in tmp_path.glob("child-*")]
    assert f"pid {child} " in err
    assert not (psutil.pid_exists(child) and running(psutil.Process(child)))
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
#: the same, its helper imported by a name computed at run time (no ``import`` statement to read)
COMPUTED_USER = HELPER_USER.replace("from helper_field import Field", "import importlib").replace(
    "Field()", 'importlib.import_module("_".join(["helper", "field"])).Field()'
)
HELPER = '''
import torch


class Field(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.linear = torch.nn.Linear(2, 2)

    def forward(self, t, y):
        return {scale} * torch.tanh(self.linear(y))
'''


@pytest.mark.parametrize("user", [HELPER_USER, COMPUTED_USER], ids=["import", "import_module"])
def test_editing_a_module_the_factory_imports_gets_a_new_reference(user, tmp_path, monkeypatch):
    """What a fresh process does after the edit: import the factory, build, look the reference up."""
    from neural_ode.measuring import reference
    from neural_ode.workloads.user import FactoryWorkload

    (tmp_path / "helper_user.py").write_text(user)
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setenv("NEURAL_ODE_BENCH_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(sys, "dont_write_bytecode", True)  # each import reads the edited source
    config = CellConfig(workload="helper_user:make", method="direct", solver="euler", steps=2, batch=2, horizon=0.25)

    def fresh(scale: str):
        (tmp_path / "helper_field.py").write_text(HELPER.format(scale=scale))
        for name in ("helper_user", "helper_field"):
            sys.modules.pop(name, None)
        FactoryWorkload.resolve.cache_clear()
        reference._CACHE.clear()
        found = reference.reference_for(config)  # from the disk cache when the key is the same
        return reference.cache_key(config), found.gradient

    try:
        key, gradient = fresh("1.0")
        assert fresh("1.0")[0] == key  # nothing changed: the same key
        new_key, new_gradient = fresh("3.25")
    finally:
        for name in ("helper_user", "helper_field"):
            sys.modules.pop(name, None)
        FactoryWorkload.resolve.cache_clear()
        reference._CACHE.clear()
    assert new_key != key
    assert not torch.allclose(new_gradient, gradient)  # computed for the edited field, not the stale one
    assert len(list((tmp_path / "cache").glob("reference-*.pt"))) == 2


@pytest.mark.slow
def test_a_helper_imported_by_a_computed_name_edited_between_two_runs_gets_a_new_reference(
    tmp_path, capsys, monkeypatch
):
    """The sweep's own processes (the reference pass's and the cell's) key on what they imported."""
    (tmp_path / "helper_user.py").write_text(COMPUTED_USER)
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setenv("NEURAL_ODE_BENCH_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("PYTHONDONTWRITEBYTECODE", "1")
    monkeypatch.setattr("neural_ode.sweeping.factory_check.check_factory", lambda config: None)  # not what is tested
    monkeypatch.setattr("neural_ode.reporting.figures.draw.FIGURES", ())
    errors = []
    for run, scale in enumerate(["1.0", "3.25"]):
        (tmp_path / "helper_field.py").write_text(HELPER.format(scale=scale))
        out = tmp_path / f"out{run}"
        args = ["run", "--workload", "helper_user:make", *AXES[:3], "rk4", "--steps", "64", *AXES[6:]]
        code, err = cli(capsys, *args, "--dtype", "float64", "--out", out)
        forget_factories()
        assert code == 0, err
        (row,) = map(json.loads, (out / "results.jsonl").read_text().splitlines())
        assert row["status"] == "ok", row
        errors.append((row["grad_rel_error"], row["sol_rel_error"]))
    for gradient_error, solution_error in errors:  # rk4 at 64 steps against the float64 reference
        assert gradient_error < 1e-6 and solution_error < 1e-6, errors
    assert len(list((tmp_path / "cache").glob("reference-*.pt"))) == 2
