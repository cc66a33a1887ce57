"""Nothing lost, nothing crashes: hostile input, files the tool does not own, concurrent and killed sweeps.

Most tests call the CLI's ``main()`` in-process with the cell process replaced by a stub record
(:func:`fake_cell`), so they check the validation layer, the error boundary, the lock, the sweep
specification and file ownership in milliseconds; the few that need real cell processes (two
sweeps at once, a SIGKILLed sweep, the Python API's fresh process) are marked slow.
"""

from __future__ import annotations

import contextlib
import gzip
import json
import os
import re
import signal
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import neural_ode.commands.train as train_command
import neural_ode.reporting
import neural_ode.sweeping.runner as runner
from neural_ode.cli import main
from neural_ode.config import CellConfig, ConfigError
from neural_ode.results.record import CellRecord
from neural_ode.sweeping.lock import FolderLock

ROOT = Path(__file__).resolve().parents[1]
TINY = ["--workload", "mlp", "--method", "direct", "--solver", "euler", "--steps", "2", "--batch", "2"]
TINY += ["--width", "4", "--repeats", "1", "--warmup", "0"]


def fake_cell(config: CellConfig, **_) -> CellRecord:
    """A cell 'measured' in no time: the record a cell process would have written."""
    return CellRecord(config=config, status="ok", nfe_forward=config.steps or 1, nfe_backward=0, saved_bytes=64)


def fake_report(frame, out_dir, **_) -> Path:
    from neural_ode.storage.owned import add_owned

    path = Path(out_dir) / "report.html"
    add_owned(Path(out_dir), [path])
    path.write_text("stub")
    return path


@contextlib.contextmanager
def fast(render: bool = False):
    """Cells measured by :func:`fake_cell`; reports stubbed unless ``render``."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(runner, "run_cell", fake_cell)
        if not render:
            patch.setattr(neural_ode.reporting, "render_report", fake_report)
        yield patch


def run_cli(capsys, *args) -> tuple[int, str]:
    code = main([str(a) for a in args])
    return code, capsys.readouterr().err


def lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


# --- the property-based test: generated arguments and config files ------------------------------

HOSTILE_NUMBERS = st.one_of(
    st.integers(min_value=-(2**70), max_value=2**70).map(str),
    st.sampled_from(["0", "-1", "2", "3", "1e300", "inf", "nan", "-0", "1_0", "٣", "१२", "２", "0x10", "", " ", "2.5"]),
    st.sampled_from([str(2**63 - 1), str(2**63), str(2**64), "99999999999999999999", "1e-320", "1e6", "1000001"]),
    st.text(max_size=6),
)
RUN_OPTIONS = {
    "--steps": HOSTILE_NUMBERS,
    "--batch": HOSTILE_NUMBERS,
    "--width": HOSTILE_NUMBERS,
    "--seed": HOSTILE_NUMBERS,
    "--repeats": HOSTILE_NUMBERS,
    "--warmup": HOSTILE_NUMBERS,
    "--timeout": HOSTILE_NUMBERS,
    "--horizon": HOSTILE_NUMBERS,
    "--tol": HOSTILE_NUMBERS,
    "--method": st.sampled_from(["direct", "adjoint", "nope", "direct,", ",", "$x$", "<b>"]),
    "--solver": st.sampled_from(["euler", "dopri5", "rk4", "bogus"]),
    "--preset": st.sampled_from(["quick", "nope", ""]),
}
TOML_VALUES = st.recursive(
    st.one_of(
        st.integers(min_value=-(2**63), max_value=2**63 - 1),
        st.floats(allow_nan=True, allow_infinity=True),
        st.booleans(),
        st.text(max_size=8),
        st.sampled_from(["direct", "euler", "mlp", "2", "٣"]),
    ),
    lambda inner: st.lists(inner, max_size=3),
    max_leaves=5,
)
CONFIG_KEYS = ["steps", "batch", "seed", "repeats", "warmup", "timeout", "out", "method", "solver", "resume", "preset"]


def toml_value(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return {"inf": "inf", "-inf": "-inf", "nan": "nan"}.get(repr(value), repr(value))
    if isinstance(value, list):
        return "[" + ", ".join(map(toml_value, value)) + "]"
    if isinstance(value, str):
        return json.dumps(value)
    return str(value)


def outside_files(root: Path, out: Path) -> list[Path]:
    return [p for p in root.rglob("*") if out not in p.parents and p != out and p.name != "cfg.toml"]


def check_outcome(code: int, err: str, root: Path, out: Path) -> None:
    assert code in (0, 2), err
    assert "Traceback" not in err and "internal error" not in err, err
    assert outside_files(root, out) == [], err
    if code == 2:
        assert err.strip().count("\n") == 0 and "error:" in err, err  # one line


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    options=st.dictionaries(st.sampled_from(sorted(RUN_OPTIONS)), st.none(), max_size=4).flatmap(
        lambda keys: st.fixed_dictionaries({k: RUN_OPTIONS[k] for k in keys})
    )
)
def test_run_arguments_end_in_0_or_2(options, capsys):
    with tempfile.TemporaryDirectory() as tmp, fast():
        root = Path(tmp)
        out = root / "out"
        args = dict(zip(TINY[::2], TINY[1::2], strict=True))
        args.update(options)
        argv = ["run", *[f"{k}={v}" for k, v in args.items()], "--out", out]
        with pytest.MonkeyPatch.context() as patch:
            patch.chdir(root)
            code, err = run_cli(capsys, *argv)
        check_outcome(code, err, root, out)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    entries=st.dictionaries(st.sampled_from(CONFIG_KEYS), TOML_VALUES, max_size=4),
    junk=st.one_of(st.none(), st.binary(max_size=20)),
)
def test_config_files_end_in_0_or_2(entries, junk, capsys):
    with tempfile.TemporaryDirectory() as tmp, fast():
        root = Path(tmp)
        out = root / "out"
        config = root / "cfg.toml"
        text = "".join(f"{key} = {toml_value(value)}\n" for key, value in entries.items() if key != "out")
        config.write_bytes(text.encode("utf-8") + (junk or b""))
        with pytest.MonkeyPatch.context() as patch:
            patch.chdir(root)
            code, err = run_cli(capsys, "run", "--config", config, *TINY[:6], "--out", out)
        check_outcome(code, err, root, out)


TRAIN_OPTIONS = {
    "--seed": HOSTILE_NUMBERS,
    "--steps": HOSTILE_NUMBERS,
    "--epochs": HOSTILE_NUMBERS,
    "--batch": HOSTILE_NUMBERS,
    "--lr": HOSTILE_NUMBERS,
    "--tol": HOSTILE_NUMBERS,
    "--timeout": HOSTILE_NUMBERS,
    "--threads": HOSTILE_NUMBERS,
    "--memory-every": HOSTILE_NUMBERS,
    "--model": st.sampled_from(["mlp", "odenet", "resnet", "nope"]),
    "--data": st.sampled_from(["digits", "mnist:", "mnist:/nonexistent", "other"]),
}


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    options=st.dictionaries(st.sampled_from(sorted(TRAIN_OPTIONS)), st.none(), max_size=3).flatmap(
        lambda keys: st.fixed_dictionaries({k: TRAIN_OPTIONS[k] for k in keys})
    )
)
def test_train_arguments_end_in_0_or_2(options, capsys):
    import torch

    threads = torch.get_num_threads()
    with tempfile.TemporaryDirectory() as tmp, pytest.MonkeyPatch.context() as patch:
        root = Path(tmp)
        out = root / "out"
        patch.chdir(root)
        # training itself is not under test here: what reaches it has passed validation
        patch.setattr(train_command, "run_all", lambda configs, out_dir, **_: [])
        patch.setattr(train_command, "load_results", lambda out_dir: None)
        patch.setattr(train_command, "table1_frame", lambda results: None)
        patch.setattr(train_command, "table1_display", lambda frame: __import__("pandas").DataFrame())
        args = {"--model": "mlp", **options}
        code, err = run_cli(capsys, "train", *[f"{k}={v}" for k, v in args.items()], "--quiet", "--out", out)
        torch.set_num_threads(threads)
    check_outcome(code, err, root, out)


JSON_SCALARS = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=12))
FIELD_VALUES = st.recursive(JSON_SCALARS, lambda inner: st.lists(inner, max_size=2), max_leaves=3)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    rows=st.lists(
        st.dictionaries(
            st.sampled_from(["method", "steps", "nfe_forward", "status", "error", "hostname"]), FIELD_VALUES
        ),
        max_size=3,
    ),
    junk=st.lists(st.sampled_from(["[1, 2]", "3", '"x"', "[" * 5000, "{", "\xff"]), max_size=2),
)
def test_report_inputs_end_in_0_or_2(rows, junk, capsys):
    with tempfile.TemporaryDirectory() as tmp, fast():
        root = Path(tmp)
        out = root / "out"
        base = CellRecord(
            config=CellConfig(workload="mlp", method="direct", solver="euler", steps=2, batch=2)
        ).to_dict()
        results = root / "in" / "results.jsonl"
        results.parent.mkdir()
        text = "".join(json.dumps({**base, **row}) + "\n" for row in rows) + "".join(j + "\n" for j in junk)
        results.write_text(text or "\n", encoding="utf-8", errors="surrogateescape")
        code, err = run_cli(capsys, "report", results, "--out", out)
        assert code in (0, 2), err
        assert "Traceback" not in err and "internal error" not in err, err
        assert [
            p for p in root.rglob("*") if out not in p.parents and p != out and root / "in" not in (p, *p.parents)
        ] == []


# --- values that pass validation and crash later -------------------------------------------------


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--steps", "99999999999999999999"], "--steps takes positive integers of at most 2^63 - 1"),
        (["--batch", str(2**63)], "--batch takes positive integers of at most 2^63 - 1"),
        (["--timeout", "1e300"], "--timeout takes positive numbers of at most 1e+06"),
        (["--timeout", "1e10"], "--timeout takes positive numbers of at most 1e+06"),
        (["--steps", "٣"], "--steps takes positive integers, got '٣'"),
        (["--seed", str(2**64)], "--seed takes a non-negative integer of at most 2^63 - 1"),
        (["--seed", "١"], "--seed takes a non-negative integer, got '١'"),
        (["--seed", "-1"], "--seed takes a non-negative integer, got '-1'"),
        (["--horizon", "1e400"], "--horizon takes positive numbers"),
    ],
)
def test_values_out_of_range_are_refused_before_anything_runs(tmp_path, capsys, args, message):
    code, err = run_cli(capsys, "run", *TINY, *args, "--out", tmp_path / "out")
    assert code == 2 and message in err and err.count("\n") == 1, err
    assert not (tmp_path / "out").exists()


def test_cellconfig_validates_into_real_ranges():
    for bad in ({"steps": 2**63}, {"seed": 2**63}, {"seed": -1}, {"timeout_s": 1e300}, {"horizon": float("inf")}):
        with pytest.raises(ConfigError):
            CellConfig(solver="euler", **bad)
    with pytest.raises(ConfigError):
        CellConfig(workload=["mlp"])  # a list where a name is expected
    assert CellConfig(seed=2**63 - 1, steps=2**63 - 1).seed == 2**63 - 1


# --- filesystem errors ----------------------------------------------------------------------------


def test_out_under_a_file_or_proc_is_one_line(tmp_path, capsys):
    (tmp_path / "file").write_text("x")
    for out in (tmp_path / "file" / "sub", tmp_path / "file", Path("/proc/neural-ode-bench-test")):
        code, err = run_cli(capsys, "run", *TINY, "--out", out)
        assert code == 2 and "Traceback" not in err and err.count("\n") == 1, err
        code, err = run_cli(capsys, "report", ROOT / "tests", "--out", out)
        assert code == 2 and err.count("\n") == 1, err


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_an_unwritable_out_is_refused_before_measuring(tmp_path, capsys):
    out = tmp_path / "ro"
    out.mkdir()
    out.chmod(0o555)
    with fast():
        code, err = run_cli(capsys, "run", *TINY, "--out", out)
    out.chmod(0o755)
    assert code == 2 and "not writable" in err


def test_internal_errors_say_where_to_report(tmp_path, capsys):
    def broken(config, **_):
        raise ZeroDivisionError("boom")

    with fast() as patch:
        patch.setattr(runner, "run_cell", broken)
        code, err = run_cli(capsys, "run", *TINY, "--out", tmp_path / "out")
    assert code == 70 and "internal error: ZeroDivisionError: boom" in err and "please report" in err
    assert "Traceback" not in err


# --- wrong schema and encoding --------------------------------------------------------------------


def test_resume_skips_bad_lines_with_a_warning(tmp_path, capsys):
    out = tmp_path / "out"
    with fast():
        assert run_cli(capsys, "run", *TINY, "--out", out)[0] == 0
        with open(out / "results.jsonl", "a") as handle:
            handle.write("[1, 2]\n")
            handle.write(json.dumps({**lines(out / "results.jsonl")[0], "steps": "x"}) + "\n")
            handle.write(json.dumps({**lines(out / "results.jsonl")[0], "nfe_forward": "many"}) + "\n")
            handle.write("[" * 100_000 + "\n")
        code, err = run_cli(capsys, "run", *TINY, "--out", out, "--resume")
    assert code == 0, err
    assert "line 2 is not a record (a JSON list)" in err
    assert "steps is 'x' (str); allowed: an integer" in err and "nfe_forward is 'many' (str)" in err
    assert "truncated or corrupt" in err and "1 cells were already recorded" in err


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b'steps = [2]\nmethod = "direct\xff"\n', "is not UTF-8 text"),
        (b"steps = {a = 1}\n", "--steps takes positive integers"),
        (b'out = ["a", "b"]\n', "out takes one text value"),
        (b"seed = 1.5\n", "--seed takes a non-negative integer"),
        (b'method = [["direct"]]\n', "unknown method"),
        (b"resume = 1\n", "resume must be true or false"),
        (b"steps = " + b"[" * 3000 + b"]" * 3000 + b"\n", "config file"),
    ],
)
def test_bad_config_files_are_one_line(tmp_path, capsys, monkeypatch, content, message):
    monkeypatch.chdir(tmp_path)
    config = tmp_path / "cfg.toml"
    config.write_bytes(content)
    code, err = run_cli(capsys, "run", "--config", config, "--out", tmp_path / "out")
    assert code == 2 and message in err and err.count("\n") == 1, err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cfg.toml"]  # no folder named "['a', 'b']"


# --- files the tool does not own ------------------------------------------------------------------


def test_resume_never_follows_a_symlink_or_waits_on_a_fifo(tmp_path, capsys):
    target = tmp_path / "precious.txt"
    target.write_text("mine\n")
    (tmp_path / "link").mkdir()
    (tmp_path / "link" / "results.jsonl").symlink_to(target)
    (tmp_path / "fifo").mkdir()
    os.mkfifo(tmp_path / "fifo" / "results.jsonl")
    with fast():
        code, err = run_cli(capsys, "run", *TINY, "--out", tmp_path / "link", "--resume")
        assert code == 2 and "symbolic link" in err, err
        code, err = run_cli(capsys, "run", *TINY, "--out", tmp_path / "fifo", "--resume")
        assert code == 2 and "not a regular file" in err, err
    assert target.read_text() == "mine\n"


def test_report_never_overwrites_or_deletes_the_users_files(tmp_path, capsys):
    results = tmp_path / "run"
    with fast():
        assert run_cli(capsys, "run", *TINY, "--out", results)[0] == 0
    out = tmp_path / "mine"
    (out / "figures").mkdir(parents=True)
    (out / "figures" / "plot.png").write_bytes(b"my figure")
    (out / "report.md").write_text("my notes")
    code, err = run_cli(capsys, "report", results, "--out", out)
    assert code == 2 and "which this tool did not write" in err
    assert (out / "figures" / "plot.png").read_bytes() == b"my figure"
    assert (out / "report.md").read_text() == "my notes"
    with fast():  # run --out into a folder with the user's figures: refused before measuring
        code, err = run_cli(capsys, "run", *TINY, "--out", out)
    assert code == 2 and not (out / "results.jsonl").exists()


def test_report_replaces_only_its_own_files(tmp_path, capsys):
    with fast():
        assert run_cli(capsys, "run", *TINY, "--out", tmp_path / "run")[0] == 0
    out = tmp_path / "rep"
    assert run_cli(capsys, "report", tmp_path / "run", "--out", out)[0] == 0
    drawn = sorted(p.name for p in (out / "figures").glob("*.png"))
    assert drawn
    assert run_cli(capsys, "report", tmp_path / "run", "--out", out)[0] == 0  # its own files: replaced
    assert sorted(p.name for p in (out / "figures").glob("*.png")) == drawn


# --- hostile report inputs ------------------------------------------------------------------------


def test_report_md_escapes_result_fields_and_mathtext_names_draw(tmp_path, capsys):
    base = CellRecord(
        config=CellConfig(workload="mlp", method="direct", solver="euler", steps=2, batch=2),
        status="ok",
        nfe_forward=2,
        nfe_backward=0,
        saved_bytes=100,
        cpu_peak_bytes=200,
        time_forward_s=0.1,
        time_backward_s=0.1,
    ).to_dict()
    rows = [
        {**base, "method": "$\\frac{a}{$"},
        {**base, "method": "$x^$", "steps": 4, "saved_bytes": 200},
        {
            **base,
            "status": "error",
            "error": "<script>alert(1)</script> ![x](http://evil/x.png) [y](javascript:alert(1))",
        },
        {**base, "status": "error", "hostname": "<img src=http://evil/i.png>"},
    ]
    results = tmp_path / "results.jsonl"
    results.write_text("".join(json.dumps(r) + "\n" for r in rows) + "[" * 100_000 + "\n[1]\n")
    code, err = run_cli(capsys, "report", results, "--out", tmp_path / "rep")
    assert code == 0, err
    assert "truncated or corrupt" in err and "not a record" in err
    md = (tmp_path / "rep" / "report.md").read_text()
    assert "<script>" not in md and "<img" not in md
    assert "\\](http://evil" in md and not re.search(r"(?<!\\)\]\((http|javascript)", md)  # links made inert
    assert "&lt;script&gt;" in md


def test_wrong_typed_pytest_benchmark_fields_are_skipped(tmp_path, capsys):
    data = {
        "machine_info": ["not", "a", "dict"],
        "commit_info": "nope",
        "benchmarks": [
            "a string",
            {"extra_info": ["list"]},
            {"extra_info": {"config": {"method": "direct"}}, "stats": "fast"},
        ],
    }
    path = tmp_path / "bench.json"
    path.write_text(json.dumps(data))
    code, err = run_cli(capsys, "report", path, "--out", tmp_path / "rep")
    assert code == 2 and "holds no results" in err and "Traceback" not in err, err


def test_a_deeply_nested_json_input_is_one_line(tmp_path, capsys):
    path = tmp_path / "deep.json"
    path.write_text("[" * 100_000 + "]" * 100_000)
    code, err = run_cli(capsys, "report", path, "--out", tmp_path / "rep")
    assert code == 2 and err.count("\n") == 1, err


# --- mixing sweeps --------------------------------------------------------------------------------


def test_resume_continues_the_recorded_sweep_and_refuses_another(tmp_path, capsys):
    out = tmp_path / "out"
    with fast():
        assert run_cli(capsys, "run", *TINY, "--out", out)[0] == 0
        spec = json.loads((out / "sweep.json").read_text())
        assert len(spec["cells"]) == 1
        code, err = run_cli(capsys, "run", "--resume", "--out", out)  # no axes: THAT sweep, not the preset
        assert code == 0 and "the sweep recorded in" in err and "1 cells were already recorded" in err
        code, err = run_cli(capsys, "run", *TINY[:-4], "--steps", "3", "--out", out, "--resume")
        assert code == 2 and "holds another sweep" in err and "--extend" in err
        code, err = run_cli(capsys, "run", *TINY, "--steps", "3", "--out", out, "--resume", "--extend")
        assert code == 0, err
    steps = sorted(row["steps"] for row in lines(out / "results.jsonl"))
    assert steps == [2, 3]
    assert len(json.loads((out / "sweep.json").read_text())["cells"]) == 2


# --- concurrent runs ------------------------------------------------------------------------------


def test_a_locked_folder_is_refused_naming_the_holder(tmp_path, capsys):
    out = tmp_path / "out"
    out.mkdir()
    with FolderLock(out), fast():
        code, err = run_cli(capsys, "run", *TINY, "--out", out)
    assert code == 2 and f"pid {os.getpid()} on host" in err and "--wait" in err
    assert not (out / "results.jsonl").exists()


def cli(*args) -> list[str]:
    return [sys.executable, "-m", "neural_ode", *map(str, args)]


def cli_env() -> dict[str, str]:
    return dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))


@pytest.mark.slow
def test_two_sweeps_at_once_on_one_folder_record_each_cell_once(tmp_path):
    out = tmp_path / "out"
    args = cli("run", *TINY[:2], "--method", "direct,adjoint", *TINY[4:], "--out", out, "--resume", "--wait")
    first = subprocess.Popen(args, env=cli_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    second = subprocess.Popen(args, env=cli_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    results = [process.communicate(timeout=400) for process in (first, second)]
    assert first.returncode == 0 and second.returncode == 0, results
    records = lines(out / "results.jsonl")
    assert sorted(row["method"] for row in records) == ["adjoint", "direct"]  # exactly one record per cell
    assert any("waiting for" in err for _, err in results)


# --- kills ----------------------------------------------------------------------------------------


@pytest.mark.slow
def test_a_sigkilled_sweep_leaves_no_process_and_no_temp_folder(tmp_path):
    psutil = pytest.importorskip("psutil")
    out = tmp_path / "out"
    slow_cell = [*TINY[:6], "--steps", "3000000", *TINY[8:], "--timeout", "300"]
    sweep = subprocess.Popen(cli("run", *slow_cell, "--out", out), env=cli_env(), stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline and not list((out / ".cells-tmp").glob("neural-ode-cell-*")):
        time.sleep(0.5)
    assert list((out / ".cells-tmp").glob("neural-ode-cell-*")), "the cell never started"
    time.sleep(2)
    family = psutil.Process(sweep.pid).children(recursive=True)
    assert family
    sweep.send_signal(signal.SIGKILL)
    sweep.wait()
    gone, alive = psutil.wait_procs(family, timeout=30)
    assert not alive, [p.cmdline()[:3] for p in alive]
    assert not list((out / ".cells-tmp").glob("neural-ode-cell-*"))


# --- train ----------------------------------------------------------------------------------------


def test_train_refuses_bad_seed_existing_file_and_gzip_bombs(tmp_path, capsys, monkeypatch):
    import neural_ode.data.idx as idx

    code, err = run_cli(capsys, "train", "--model", "mlp", "--seed", "-1")
    assert code == 2 and "--seed" in err and err.count("\n") == 1
    (tmp_path / "file").write_text("x")
    code, err = run_cli(capsys, "train", "--model", "mlp", "--quiet", "--out", tmp_path / "file")
    assert code == 2 and "exists and is not a directory" in err
    data = tmp_path / "mnist"
    data.mkdir()
    with gzip.open(data / "train-images-idx3-ubyte.gz", "wb") as handle:
        handle.write(struct.pack(">IIII", 2051, 10**6, 28, 28) + bytes(8 * 2**20))  # 8 MiB of zeros
    for stem in ("train-labels-idx1-ubyte", "t10k-labels-idx1-ubyte", "t10k-images-idx3-ubyte"):
        (data / stem).write_bytes(b"")
    monkeypatch.setattr(idx, "MAX_IDX_BYTES", 2**20)  # the bomb is 8x the limit
    code, err = run_cli(
        capsys, "train", "--model", "mlp", "--quiet", "--data", f"mnist:{data}", "--out", tmp_path / "o"
    )
    assert code == 2 and "decompresses to more than 1 MiB" in err and err.count("\n") == 1, err


# --- the Python API -------------------------------------------------------------------------------


@pytest.mark.slow
def test_the_python_api_never_reruns_an_unguarded_script(tmp_path):
    script = tmp_path / "measure.py"
    script.write_text(
        "from neural_ode.config import CellConfig\n"
        "from neural_ode.measuring.cell import measure_cell\n"
        "print('script ran')\n"
        "r = measure_cell(CellConfig(workload='mlp', solver='euler', steps=2, batch=2, width=4, repeats=1, warmup=0))\n"
        "print(r.status, r.rss_peak_bytes > 0)\n"
    )
    done = subprocess.run(
        [sys.executable, str(script)], env=cli_env(), capture_output=True, text=True, timeout=400, cwd=tmp_path
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.count("script ran") == 1
    assert "ok True" in done.stdout


def test_wrong_typed_asv_files_and_fifo_configs_are_one_line(tmp_path, capsys):
    results = tmp_path / "asv"
    (results / "machine").mkdir(parents=True)
    (results / "benchmarks.json").write_text('["not", "a", "mapping"]')
    (results / "machine" / "abc-env.json").write_text('{"commit_hash": "a", "env_name": "e", "results": [1]}')
    code, err = run_cli(capsys, "report", results, "--out", tmp_path / "rep")
    assert code == 2 and "cannot be read as results" in err and err.count("\n") == 1, err
    os.mkfifo(tmp_path / "fifo.toml")
    code, err = run_cli(capsys, "run", "--config", tmp_path / "fifo.toml", "--out", tmp_path / "out")
    assert code == 2 and "not a regular file" in err, err
