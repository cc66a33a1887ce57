"""``neural-ode-bench run`` and ``list`` end to end: files, columns, values, resume, bad input, failures.

The sweeps here are tiny (an 8-wide MLP on a batch of 4, one timed repeat), but every cell still
runs in its own worker process, as in a real sweep.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import torch

from neural_ode.cli import main
from neural_ode.config import CellConfig
from neural_ode.measuring.failures import classify
from neural_ode.methods import METHODS
from neural_ode.results.frame import contract_columns
from neural_ode.results.record import METRICS
from neural_ode.solvers import SOLVERS
from neural_ode.sweeping.presets import PRESETS
from neural_ode.sweeping.runner import ResultsLog, run_cell
from neural_ode.workloads import WORKLOADS

ROOT = Path(__file__).resolve().parent.parent
TINY = ["--batch", "4", "--width", "8", "--repeats", "1", "--warmup", "0", "--timeout", "60"]


@pytest.fixture(autouse=True)
def own_reference_cache(tmp_path, monkeypatch):
    """Each test computes its references into its own cache (workers inherit the variable)."""
    monkeypatch.setenv("NEURAL_ODE_BENCH_CACHE", str(tmp_path / "cache"))


def cli(*args: str) -> list[str]:
    """The command line of ``python -m neural_ode``, runnable installed or from the checkout."""
    return [sys.executable, "-m", "neural_ode", *args]


def cli_env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    return env


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def test_a_tiny_sweep_writes_every_file_with_the_solver_counts_and_records_the_failing_cells(tmp_path, capsys):
    out = tmp_path / "out"
    config = tmp_path / "sweep.toml"
    # the config file gives some settings; options on the command line override its values
    config.write_text('method = ["direct", "adjoint"]\nsolver = "rk4"\nsteps = [99]\nhorizon = [1, 1e38]\n')
    # --timeout 30: the reference pass spends it on the float64 reference of t1 = 1e38 (see below)
    status = main(["run", "--config", str(config), "--steps", "3", *TINY, "--timeout", "30", "--out", str(out)])
    captured = capsys.readouterr()
    assert status == 0, captured.err

    for name in ("results.jsonl", "results.csv", "report.html", "report.md"):
        assert (out / name).is_file(), name
    rows = read_jsonl(out / "results.jsonl")
    frame = pd.read_csv(out / "results.csv")
    assert len(rows) == len(frame) == 4
    assert list(frame.columns[: len(contract_columns())]) == list(contract_columns())
    assert {"measured_at", "torch_version", "torchdiffeq_version", "git_commit", "hostname"} <= set(frame.columns)

    ok = frame[frame["horizon"] == 1].set_index("method")
    assert list(ok["status"]) == ["ok", "ok"]
    assert set(ok["steps"]) == {3}  # the command line's 3, not the file's 99
    # rk4: 4 evaluations per step forward; direct backpropagates without evaluating f, the
    # adjoint re-solves backwards on the same grid
    assert ok.loc["direct", "nfe_forward"] == ok.loc["adjoint", "nfe_forward"] == 4 * 3
    assert ok.loc["direct", "nfe_backward"] == 0
    assert ok.loc["adjoint", "nfe_backward"] == 4 * 3
    assert ok.loc["adjoint", "saved_bytes"] < ok.loc["direct", "saved_bytes"]
    assert (ok[["time_forward_s", "time_backward_s", "cpu_peak_bytes", "rss_peak_bytes", "params"]] > 0).all().all()
    assert (ok["grad_rel_error"] < 1e-3).all()
    assert ok["cuda_peak_bytes"].isna().all()

    # the state overflows float32 at t1 = 1e38: a recorded failure, and the sweep went on
    failed = frame[frame["horizon"] == 1e38]
    assert list(failed["status"]) == ["non_finite", "non_finite"]
    assert failed["error"].str.contains("non-finite").all()

    lines = captured.out.strip().splitlines()
    assert lines[-1] == str(out / "report.html")
    assert "4 cells: 2 ok, 2 non_finite" in captured.out
    assert (out / "choices.csv").is_file()  # beside results.csv
    # the summary table: labelled columns, the report's units
    header = r"NFE fwd\s+NFE bwd\s+time fwd\+bwd \(ms\)\s+peak memory \(MB\)\s+grad error\s+status"
    assert re.search(header, captured.out)
    assert re.search(r"adjoint\s+12\s+12\s", captured.out)


def test_a_killed_sweep_resumes_without_losing_or_duplicating_a_cell(tmp_path, capsys):
    out = tmp_path / "out"
    methods = [name for name, method in METHODS.items() if method.supports("euler")]  # not adjoint-seminorm
    # two horizons, two problems: the cells of one problem are timed together and recorded together
    # (neural_ode.sweeping.groups), so the kill falls after the first problem's records; half the
    # methods on each, as many cells as one horizon of every method
    methods = methods[: max(2, len(methods) // 2)]
    args = ["run", "--method", ",".join(methods), "--solver", "euler", "--steps", "2", "--horizon", "1,2", *TINY]
    args += ["--out", str(out)]
    results = out / "results.jsonl"
    process = subprocess.Popen(
        cli(*args), env=cli_env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True
    )
    try:
        deadline = time.monotonic() + 120
        while not (results.exists() and results.read_text().count("\n") >= 1):
            assert process.poll() is None, process.stderr.read().decode()
            assert time.monotonic() < deadline, "no record within 120 s"
            time.sleep(0.1)
    finally:
        os.killpg(process.pid, signal.SIGKILL)  # the sweep and the worker in flight
        process.wait()
        process.stderr.close()
    before = results.read_text()
    done_before = before.count("\n")
    assert 1 <= done_before < 2 * len(methods)
    with open(results, "a") as handle:  # what a kill in the middle of a write leaves
        handle.write('{"workload": "mlp", "method": "adj')

    # the resumes run in this process (the kill above is what needs its own)
    capsys.readouterr()
    status = main([*args, "--resume"])
    resumed = capsys.readouterr()
    assert status == 0, resumed.err
    assert "truncated or corrupt and was dropped" in resumed.err
    after = results.read_text()
    assert after.startswith(before.rsplit("\n", 1)[0] + "\n")  # what was recorded stays as it was
    rows = read_jsonl(results)
    assert sorted(row["method"] for row in rows) == sorted(methods * 2)
    assert all(row["status"] == "ok" and row["nfe_forward"] == 2 for row in rows)
    assert len(pd.read_csv(out / "results.csv")) == 2 * len(methods)
    assert f"{done_before} cells were already recorded" in resumed.err

    # resuming a finished sweep measures nothing and adds nothing
    status = main([*args, "--resume"])
    again = capsys.readouterr()
    assert status == 0, again.err
    assert results.read_text() == after
    assert again.out.strip().splitlines()[-1] == str(out / "report.html")


BAD_INPUT = [
    (["--workload", "mnist"], "unknown workload 'mnist'; allowed: " + ", ".join(WORKLOADS)),
    (["--method", "direct,backprop"], "unknown method 'backprop'; allowed: " + ", ".join(METHODS)),
    (["--solver", "rk45"], "unknown solver 'rk45'; allowed: " + ", ".join(SOLVERS)),
    (["--dtype", "float16"], "unknown dtype 'float16'; allowed: float32, float64"),
    (["--device", "tpu"], "unknown device 'tpu'; allowed: cpu, cuda"),
    (["--steps", "0"], "--steps takes positive integers, got '0'"),
    (["--steps", "-8"], "--steps takes positive integers, got '-8'"),
    (["--tol", "0"], "--tol takes positive numbers, got '0'"),
    (["--rtol=-1e-6"], "--rtol takes positive numbers, got '-1e-6'"),
    (["--atol", "0"], "--atol takes positive numbers, got '0'"),
    (["--horizon", "-1"], "--horizon takes positive numbers, got '-1'"),
    (["--batch", "0"], "--batch takes positive integers, got '0'"),
    (["--width", "-2"], "--width takes positive integers, got '-2'"),
    (["--solver", "rk4,euler", "--tol", "1e-3"], "--tol was given but every solver walks a fixed grid (rk4, euler)"),
    (["--solver", "dopri5", "--steps", "8"], "--steps was given but every solver is adaptive (dopri5)"),
    (["--preset", "huge"], "unknown preset 'huge'; allowed: " + ", ".join(PRESETS)),
    (["--repeats", "0"], "--repeats takes positive integers, got '0'"),
    (["--warmup", "-1"], "--warmup takes a non-negative integer, got '-1'"),
    (["--timeout", "0"], "--timeout takes positive numbers, got '0'"),
    (["--seed", "x"], "--seed takes a non-negative integer, got 'x'"),
    (["--threads", "0"], "--threads takes positive integers, got '0'"),
    (["--resume"], "--resume needs --out DIR"),
]


def assert_refused(status: int, err: str, needle: str, out: Path) -> None:
    assert status == 2
    assert len(err.strip().splitlines()) == 1, err
    assert err.startswith("neural-ode-bench run: error: ")
    assert needle in err
    assert not out.exists()


@pytest.mark.parametrize(("args", "needle"), BAD_INPUT, ids=[" ".join(args) for args, _ in BAD_INPUT])
def test_bad_input_is_one_line_and_exit_status_2_before_anything_is_created(
    args, needle, tmp_path, capsys, monkeypatch
):
    monkeypatch.chdir(tmp_path)  # the default --out is reports/<timestamp> here
    out = tmp_path / "out"
    out_args = [] if "--resume" in args else ["--out", str(out)]
    status = main(["run", *args, *out_args])
    assert_refused(status, capsys.readouterr().err, needle, out)
    assert not (tmp_path / "reports").exists()


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the refusal where there is no GPU")
def test_cuda_where_there_is_none_is_refused(tmp_path, capsys):
    status = main(["run", "--device", "cuda", "--out", str(tmp_path / "out")])
    assert_refused(status, capsys.readouterr().err, "--device cuda: no CUDA device is available here", tmp_path / "out")


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        (None, "cannot read config file"),
        ("steps = [8, 16\n", "is not valid TOML"),
        ("stepz = [8]\n", "unknown key 'stepz'; allowed: workload, method, solver, steps"),
        ("steps = [8, 0]\n", "--steps takes positive integers, got 0"),
        ('solver = "rk4"\ntol = 1e-3\n', "--tol was given but every solver walks a fixed grid (rk4)"),
        ('resume = "yes"\n', "resume must be true or false"),
    ],
)
def test_an_unreadable_or_invalid_config_file_is_refused(text, needle, tmp_path, capsys):
    config = tmp_path / "sweep.toml"
    if text is not None:
        config.write_text(text)
    status = main(["run", "--config", str(config), "--out", str(tmp_path / "out")])
    assert_refused(status, capsys.readouterr().err, needle, tmp_path / "out")


def test_a_fresh_run_into_a_directory_with_results_is_refused(tmp_path, capsys):
    out = tmp_path / "out"
    out.mkdir()
    (out / "results.jsonl").write_text('{"workload": "mlp"}\n')
    assert main(["run", "--out", str(out)]) == 2
    assert "already holds results.jsonl; add --resume" in capsys.readouterr().err
    assert (out / "results.jsonl").read_text() == '{"workload": "mlp"}\n'


def test_the_console_script_exits_2_with_one_line(tmp_path):
    done = subprocess.run(
        cli("run", "--solver", "rk4", "--steps", "0", "--out", str(tmp_path / "out")),
        check=False,
        env=cli_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2
    assert done.stderr.strip() == "neural-ode-bench run: error: --steps takes positive integers, got '0'"
    assert not (tmp_path / "out").exists()


def test_list_names_every_registry_entry_on_its_own_line(capsys):
    assert main(["list"]) == 0
    lines = capsys.readouterr().out.splitlines()
    entries = {line.split()[0] for line in lines if line.startswith("  ")}
    assert set(WORKLOADS) | set(METHODS) | set(SOLVERS) | set(METRICS) | set(PRESETS) <= entries
    assert {"workloads:", "methods:", "solvers:", "metrics:", "presets:"} <= set(lines)
    assert main(["list", "solvers"]) == 0
    assert "dopri5" in capsys.readouterr().out
    assert main(["list", "bogus"]) == 2
    assert "unknown section 'bogus'; allowed: workloads" in capsys.readouterr().err


# --- cells whose process dies, hangs or says nothing (targets run in a real cell process; fast) ---

CELL = CellConfig(workload="mlp", method="direct", solver="euler", steps=2, batch=4, width=8, timeout_s=0.5)


def die_by_sigkill(config, record_path):
    os.kill(os.getpid(), signal.SIGKILL)


def exit_with_status_3(config, record_path):
    print("partial output", flush=True)
    sys.stderr.write("boom: segfault in kernel\n")
    sys.stderr.flush()
    os._exit(3)


def hang(config, record_path):
    time.sleep(60)


def write_no_record(config, record_path):
    pass


def test_a_cell_process_killed_by_a_signal_is_recorded_as_crashed():
    record = run_cell(CELL, target=die_by_sigkill)
    assert record.status == "crashed"
    assert "killed by SIGKILL" in record.error
    assert record.config == CELL and record.nfe_forward is None and record.torch_version == torch.__version__


def test_a_cell_process_that_exits_badly_is_recorded_with_its_status_and_output_tail():
    record = run_cell(CELL, target=exit_with_status_3)
    assert record.status == "crashed"
    assert "exited with status 3" in record.error
    assert "partial output | boom: segfault in kernel" in record.error
    assert "\n" not in record.error
    assert run_cell(CELL, target=write_no_record).error == "the cell process wrote no record"


def test_a_hanging_cell_process_is_killed_and_recorded_as_timeout():
    started = time.monotonic()
    record = run_cell(CELL, kill_after_s=0.5, target=hang)
    assert time.monotonic() - started < 30
    assert record.status == "timeout"
    assert "killed after 0.5 s (the cell's timeout is 0.5 s)" in record.error


def test_an_allocation_beyond_any_memory_is_a_recorded_failure_not_a_crash():
    # 2**50 x 64 float32 states: 256 PiB, more than any address space, so the allocator refuses at once
    huge = CellConfig(workload="mlp", method="direct", solver="euler", steps=1, batch=2**50, width=8, timeout_s=60)
    record = run_cell(huge)
    assert "can't allocate memory" in record.error
    # out_of_memory where the core knows the CPU allocator's message (what classify makes of it)
    assert record.status == classify(RuntimeError("DefaultCPUAllocator: can't allocate memory"))[0]
    assert record.status != "crashed"


def test_results_log_cuts_a_truncated_tail_and_ends_a_whole_last_line(tmp_path):
    log = ResultsLog(tmp_path / "results.jsonl")
    good = json.dumps({"workload": "mlp", "method": "direct", "solver": "euler", "steps": 2, "status": "ok"})
    read = {**json.loads(good), "schema_version": 1}  # a line without a version is read as version 0, migrated
    log.path.write_text(good + "\n" + '{"workload": "ml')
    with pytest.warns(UserWarning, match="line 2 is truncated or corrupt and was dropped"):
        assert log.rows() == [read]
    assert log.path.read_text() == good + "\n"
    log.path.write_text(good)  # whole record, newline lost
    assert log.rows() == [read]
    assert log.path.read_text() == good + "\n"
    assert log.done_keys() == {CellConfig(workload="mlp", method="direct", solver="euler", steps=2).key}
