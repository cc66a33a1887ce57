"""A real local Dask cluster (a scheduler and two workers on 127.0.0.1) runs a sweep: every cell is
recorded exactly once, with its host, even when a worker is killed mid-sweep."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from neural_ode.config import CellConfig

pytest.importorskip("distributed")
pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]
DASK = shutil.which("dask", path=os.path.dirname(sys.executable)) or shutil.which("dask")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _start(args: list[str], log: Path) -> subprocess.Popen:
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))
    env["DASK_DISTRIBUTED__WORKER__DAEMON"] = "False"  # cells then use the runner's forkserver
    return subprocess.Popen(
        [DASK, *args], stdout=open(log, "w"), stderr=subprocess.STDOUT, env=env, start_new_session=True
    )


def _stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGKILL)
    process.wait(timeout=30)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    """A scheduler and two one-thread workers, started once for this module (each start imports torch
    in three processes); yields (address, [worker processes]). The worker-killing test runs last."""
    if DASK is None:
        pytest.skip("the dask command line is not installed")
    from distributed import Client

    logs = tmp_path_factory.mktemp("dask-logs")
    port = _free_port()
    address = f"tcp://127.0.0.1:{port}"
    scheduler = _start(["scheduler", "--host", "127.0.0.1", "--port", str(port), "--no-dashboard"], logs / "s.log")
    workers = [
        _start(["worker", address, "--nthreads", "1", "--no-dashboard", "--name", f"w{i}"], logs / f"w{i}.log")
        for i in (1, 2)
    ]
    try:
        with Client(address, timeout=60) as client:
            client.wait_for_workers(2, timeout=120)
        yield address, workers
    finally:
        for process in [*workers, scheduler]:
            _stop(process)


def _cells() -> list[CellConfig]:
    return [
        CellConfig(workload="mlp", method=method, solver="euler", steps=steps, batch=2, width=8, dim=4, repeats=3)
        for method in ("direct", "adjoint")
        for steps in (2, 4, 6)
    ]


def _records(out: Path) -> list[dict]:
    path = out / "results.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def test_an_unreachable_scheduler_is_refused_before_the_output_folder_exists(tmp_path, monkeypatch, capsys):
    from neural_ode.cli import main
    from neural_ode.sweeping import dask_runner

    monkeypatch.setattr(dask_runner, "CONNECT_TIMEOUT_S", 2)
    out = tmp_path / "never"
    code = main(["run", "--workload", "mlp", "--method", "direct", "--solver", "rk4", "--steps", "2",
                 "--scheduler", f"tcp://127.0.0.1:{_free_port()}", "--out", str(out)])  # fmt: skip
    stderr = capsys.readouterr().err
    assert code == 2, stderr
    assert "--scheduler" in stderr and "cannot reach the Dask scheduler" in stderr
    assert len(stderr.strip().splitlines()) == 1, stderr
    assert not out.exists()


#: figures that do not depend on load or on the machine's clock: a Dask cell must record them as a local one does
EXACT = ("nfe_forward", "nfe_backward", "saved_bytes", "cpu_peak_bytes", "params", "grad_rel_error", "sol_rel_error",
         "grad_roundoff_floor", "sol_roundoff_floor")  # fmt: skip


def test_the_cluster_preloads_computes_references_first_and_records_what_a_local_run_records(
    cluster, tmp_path, monkeypatch
):
    from distributed import Client

    from neural_ode.measuring.reference import is_cached
    from neural_ode.sweeping.dask_runner import run_sweep_dask
    from neural_ode.sweeping.runner import run_sweep

    address, _ = cluster
    # direct and adjoint, euler 2 steps, a seed no other test uses: one problem, its reference not cached yet
    cells = [cell.replace(seed=11) for cell in _cells() if cell.steps == 2]
    assert not is_cached(cells[0])
    run_sweep_dask(cells, tmp_path / "dask", address, progress=False)
    assert is_cached(cells[0])  # computed by the cluster's reference pass (the workers share this cache)
    with Client(address, timeout=60) as client:
        preloaded = client.run(lambda: "torch" in sys.modules and "neural_ode.measuring.cell" in sys.modules)
    assert preloaded and all(preloaded.values()), preloaded
    run_sweep(cells, tmp_path / "local", progress=False)
    by_key = {}
    for where in ("dask", "local"):
        for record in _records(tmp_path / where):
            key = (record["method"], record["steps"])
            by_key.setdefault(key, {})[where] = record
    for key, pair in by_key.items():
        assert pair["dask"]["status"] == pair["local"]["status"] == "ok", key
        for figure in EXACT:
            assert pair["dask"][figure] == pair["local"][figure], (key, figure)


# last in this module: it kills one of the shared cluster's workers
def test_every_cell_is_recorded_once_even_when_a_worker_dies(cluster, tmp_path):
    from neural_ode.sweeping.dask_runner import run_sweep_dask

    address, workers = cluster
    out = tmp_path / "out"
    cells = _cells()
    failure: list[BaseException] = []

    def sweep():
        try:
            run_sweep_dask(cells, out, address, progress=False)
        except BaseException as exc:  # noqa: BLE001 - reported by the assertion below
            failure.append(exc)

    thread = threading.Thread(target=sweep)
    thread.start()
    deadline = time.monotonic() + 300
    while not _records(out) and time.monotonic() < deadline:  # kill a worker once the sweep is under way
        time.sleep(0.2)
    assert _records(out), "no cell was recorded within 300 s"
    _stop(workers[0])
    thread.join(timeout=600)
    assert not thread.is_alive() and not failure, failure
    records = _records(out)
    keys = [CellConfig(**{k: r[k] for k in CellConfig.__dataclass_fields__}).key for r in records]
    assert sorted(keys) == sorted(cell.key for cell in cells)  # every cell once, none lost, none twice
    assert all(r["status"] == "ok" for r in records), [(r["status"], r["error"]) for r in records]
    assert all(r["hostname"] == socket.gethostname() for r in records)
