"""Does a sweep on Dask scale? One 16-cell sweep on a local cluster of 1 worker, then of 2 workers.

Starts ``dask scheduler`` and one-thread workers on 127.0.0.1 (non-daemonic, so each worker's cells
fork from its forkserver), runs ``neural-ode-bench run --scheduler`` with the same cells and the same
(warm) reference cache each time, and prints each run's wall time, the speed-up, and whether the
records' exact figures (NFE, bytes, errors) are identical between the two runs. Measure alone: the
wall times are the point. Two workers on a 2-core machine use both cores, so the cells' own timings
are taken beside each other (that is the user's choice when they start two workers there).

    PYTHONPATH=. python scripts/dask_scaling.py [--out reports/dask] [--steps 4,8,16,32]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

EXACT = ("nfe_forward", "nfe_backward", "saved_bytes", "cpu_peak_bytes", "params", "grad_rel_error", "sol_rel_error")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _cluster(workers: int, logs: Path) -> tuple[str, list[subprocess.Popen]]:
    dask = shutil.which("dask", path=os.path.dirname(sys.executable)) or shutil.which("dask")
    if dask is None:
        sys.exit("the dask command line is not installed (pip install distributed)")
    port = _free_port()
    address = f"tcp://127.0.0.1:{port}"
    env = dict(os.environ, DASK_DISTRIBUTED__WORKER__DAEMON="False")
    start = [[dask, "scheduler", "--host", "127.0.0.1", "--port", str(port), "--no-dashboard"]]
    start += [[dask, "worker", address, "--nthreads", "1", "--no-dashboard", "--name", f"w{i}"] for i in range(workers)]
    processes = [
        subprocess.Popen(
            cmd, stdout=open(logs / f"{i}.log", "w"), stderr=subprocess.STDOUT, env=env, start_new_session=True
        )  # fmt: skip
        for i, cmd in enumerate(start)
    ]
    from distributed import Client

    with Client(address, timeout=60) as client:
        client.wait_for_workers(workers, timeout=120)
    return address, processes


def _rows(out: Path) -> dict[tuple, dict]:
    rows = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines() if line.strip()]
    return {(r["method"], r["solver"], r["steps"]): r for r in rows}


def _span(rows: dict[tuple, dict]) -> float:
    """Seconds from the first cell's start to the last cell's end (``measured_at`` is to the second)."""
    import datetime

    starts = [datetime.datetime.fromisoformat(r["measured_at"]).timestamp() for r in rows.values()]
    ends = [start + (r.get("cell_wall_s") or 0.0) for start, r in zip(starts, rows.values())]
    return max(ends) - min(starts)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, help="write dask_scaling.md here")
    parser.add_argument("--steps", default="4,8,16,32")
    args = parser.parse_args()
    cells = ["--workload", "mlp", "--method", "direct,adjoint,checkpoint,own-adjoint", "--solver", "rk4",
             "--steps", args.steps, "--batch", "16", "--width", "32", "--dim", "4"]  # fmt: skip
    walls, rows = {}, {}
    with tempfile.TemporaryDirectory() as scratch:
        scratch = Path(scratch)
        warm = scratch / "warm"  # computes the references once, so neither timed run computes them
        subprocess.run([sys.executable, "-m", "neural_ode", "run", "--out", str(warm), "--repeats", "1", *cells],
                       check=True, stdout=subprocess.DEVNULL)  # fmt: skip
        for workers in (1, 2):
            logs = scratch / f"logs{workers}"
            logs.mkdir()
            address, processes = _cluster(workers, logs)
            out = scratch / f"w{workers}"
            try:
                begun = time.perf_counter()
                subprocess.run([sys.executable, "-m", "neural_ode", "run", "--scheduler", address, "--out", str(out),
                                *cells], check=True, stdout=subprocess.DEVNULL)  # fmt: skip
                walls[workers] = time.perf_counter() - begun
            finally:
                for process in processes:
                    os.killpg(process.pid, signal.SIGKILL)
            rows[workers] = _rows(out)
    same = rows[1].keys() == rows[2].keys() and all(rows[1][k][f] == rows[2][k][f] for k in rows[1] for f in EXACT)
    lines = [
        f"# Dask: 1 worker against 2 ({len(rows[1])} cells, measured {time.strftime('%Y-%m-%d')})",
        "",
        "| workers | whole command (s) | measuring span (s) |",
        "|---|---|---|",
        *(f"| {w} | {walls[w]:.1f} | {_span(rows[w]):.0f} |" for w in (1, 2)),
        "",
        "The whole command includes planning, connecting, preloading the workers and rendering the report; the "
        "measuring span runs from the first cell's start to the last cell's end (whole seconds).",
        "",
        f"Speed-up with 2 workers: {walls[1] / walls[2]:.2f}x whole, {_span(rows[1]) / _span(rows[2]):.2f}x "
        f"over the measuring span. Exact figures ({', '.join(EXACT)}) identical "
        f"between the two runs: {'yes' if same else 'NO'}.",
        "",
        f"Command: `PYTHONPATH=. python scripts/dask_scaling.py --steps {args.steps}`",
    ]
    print("\n".join(lines))
    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "dask_scaling.md").write_text("\n".join(lines) + "\n")
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
