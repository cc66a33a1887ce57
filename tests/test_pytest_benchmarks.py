"""The pytest-benchmark suite runs, stores exact figures in extra_info, and reads back as rows."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks import common
from neural_ode import SOLVERS
from neural_ode.methods import available_methods
from neural_ode.results.readers import pytest_benchmark as reader
from neural_ode.results.readers import read_results

ROOT = Path(__file__).resolve().parents[1]
SUITE = "benchmarks/test_bench_gradients.py"
STEPS = 10
#: the smoke profile's sizes, which its cells carry
SMOKE_SIZES = dict(common.PROFILES["smoke"].sizes)
#: the cheapest cells of the grid: Euler, 10 steps, direct and adjoint, on the CPU
NODES = [
    f"{SUITE}::test_{phase}[mlp-euler-steps{STEPS}-{method}-cpu]"
    for phase in ("step", "forward")
    for method in ("direct", "adjoint")
]


def _env() -> dict:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    env["NEURAL_ODE_BENCH_PROFILE"] = "smoke"
    return env


@pytest.fixture(scope="module")
def benchmark_json(tmp_path_factory) -> Path:
    """pytest-benchmark JSON of four benchmarks, written by a real run in a subprocess."""
    out = tmp_path_factory.mktemp("pytest-benchmark") / "results.json"
    command = [
        sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", *NODES,
        "--benchmark-only", f"--benchmark-json={out}",
        "--benchmark-min-rounds=2", "--benchmark-max-time=0.01", "--benchmark-warmup=off",
    ]  # fmt: skip
    done = subprocess.run(command, check=False, cwd=ROOT, env=_env(), capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "4 passed" in done.stdout
    return out


@pytest.mark.slow
def test_extra_info_holds_the_exact_figures(benchmark_json):
    data = json.loads(benchmark_json.read_text())
    benches = {b["name"]: b for b in data["benchmarks"]}
    assert len(benches) == 4
    evals = SOLVERS["euler"].evals_per_step * STEPS
    for name, bench in benches.items():
        info = bench["extra_info"]
        method = info["config"]["method"]
        assert info["status"] == "ok"
        assert info["config"]["solver"] == "euler" and info["config"]["steps"] == STEPS
        assert info["phase"] == ("step" if name.startswith("test_step") else "forward")
        assert info["nfe_forward"] == evals
        # direct backprop evaluates f zero times backward; the adjoint re-solves on the same grid
        assert info["nfe_backward"] == (0 if method == "direct" else evals)
        assert info["saved_bytes"] > 0 and info["cpu_peak_bytes"] > 0
        assert info["cuda_peak_bytes"] is None
        assert 0 < info["grad_rel_error"] < 1
        assert bench["stats"]["rounds"] >= 2
    # direct keeps every step's activations for backward; the adjoint keeps none of them
    direct = benches[f"test_step[mlp-euler-steps{STEPS}-direct-cpu]"]["extra_info"]
    adjoint = benches[f"test_step[mlp-euler-steps{STEPS}-adjoint-cpu]"]["extra_info"]
    assert direct["saved_bytes"] > 5 * adjoint["saved_bytes"]
    # Euler: direct is the exact gradient of the discrete solution, the adjoint is not
    assert direct["grad_rel_error"] != adjoint["grad_rel_error"]


@pytest.mark.slow
def test_groups_put_direct_and_adjoint_side_by_side(benchmark_json):
    data = json.loads(benchmark_json.read_text())
    groups = {}
    for bench in data["benchmarks"]:
        groups.setdefault(bench["group"], set()).add(bench["extra_info"]["config"]["method"])
    assert groups == {
        f"step: mlp euler steps={STEPS} cpu": {"direct", "adjoint"},
        f"forward: mlp euler steps={STEPS} cpu": {"direct", "adjoint"},
    }


@pytest.mark.slow
def test_reader_turns_the_json_into_one_row_per_cell(benchmark_json):
    assert reader.can_read(benchmark_json)
    frame = read_results([benchmark_json])
    assert len(frame) == 2
    assert set(frame["method"]) == {"direct", "adjoint"}
    assert list(frame.columns[: len(reader.record_columns())]) == reader.record_columns()
    data = json.loads(benchmark_json.read_text())
    stats = {(b["extra_info"]["config"]["method"], b["extra_info"]["phase"]): b["stats"] for b in data["benchmarks"]}
    for _, row in frame.iterrows():
        assert row["nfe_forward"] == STEPS
        assert row["nfe_backward"] == (0 if row["method"] == "direct" else STEPS)
        assert row["batch"] == SMOKE_SIZES["batch"] and row["solver"] == "euler" and row["steps"] == STEPS
        assert row["time_total_s"] == stats[(row["method"], "step")]["median"]
        assert row["time_total_min_s"] == stats[(row["method"], "step")]["min"]
        assert row["time_forward_s"] == stats[(row["method"], "forward")]["median"]
        assert row["time_forward_iqr_s"] == stats[(row["method"], "forward")]["iqr"]
        assert row["time_repeats"] == stats[(row["method"], "step")]["rounds"]
        assert row["time_backward_s"] is None  # not timed on its own by this suite
        assert row["source"] == str(benchmark_json)


def test_reader_is_specific(tmp_path):
    other = tmp_path / "other.json"
    other.write_text(json.dumps({"benchmarks": {}}))
    assert not reader.can_read(other)
    lines = tmp_path / "results.jsonl"
    lines.write_text("{}\n")
    assert not reader.can_read(lines)


def test_every_method_is_benchmarked():
    """A registry entry without a benchmark fails here (the grid's method axis is the registry)."""
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    from benchmarks import common

    for name in common.PROFILES:
        methods = {config.method for _, _, config in common.grid(common.PROFILES[name])}
        assert methods == set(available_methods()), name


@pytest.mark.slow
def test_plain_pytest_skips_the_benchmarks():
    """The project's plain test command does not run the benchmarks (--benchmark-skip in its options)."""
    command = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", "-rs", NODES[0]]
    done = subprocess.run(command, check=False, cwd=ROOT, env=_env(), capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "1 skipped" in done.stdout and "--benchmark-skip" in done.stdout
