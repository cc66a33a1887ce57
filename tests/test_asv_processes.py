"""An interrupted ``asv run`` leaves none of its processes behind (issue 34).

asv's forkserver starts ``run_server`` (``asv/benchmark.py run_server``), which imports the suite and
forks a child per benchmark. asv stops them on Ctrl-C but not when asv itself is killed; the suite's
``benchmarks/common.py`` asks the kernel to kill asv's runner with the process that started it, and
each child it forks with the runner.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

#: stands in for asv's run_server: imports the suite under asv's script name, forks a "benchmark"
SERVER = """
import os, sys, time
sys.argv[0] = "/venv/lib/python3.11/site-packages/asv/benchmark.py"
sys.path.insert(0, sys.argv[1])
from benchmarks import common
assert common.DIES_WITH_ASV
child = os.fork()
if child == 0:
    time.sleep(60)
    os._exit(0)
print(child, flush=True)
time.sleep(60)
"""


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().split(") ", 1)[1][0] != "Z"  # a zombie is dead, only not yet reaped
    except FileNotFoundError:
        return False


def test_the_suite_is_not_armed_outside_asv():
    from benchmarks import common

    assert not common.under_asv_runner(["-c"]) and not common.under_asv_runner([])
    assert common.under_asv_runner(["/env/lib/python3.11/site-packages/asv/benchmark.py", "run_server"])


def test_asv_runner_and_the_benchmark_it_forked_die_when_asv_is_killed():
    if not Path("/proc/self/stat").exists():
        import pytest

        pytest.skip("needs /proc (Linux) to see the processes")
    # "asv": this process's child, so that its death is what the runner watches
    launcher = "import subprocess, sys; subprocess.run([sys.executable, '-c', sys.argv[1], sys.argv[2]])"
    asv = subprocess.Popen([sys.executable, "-c", launcher, SERVER, str(ROOT)], stdout=subprocess.PIPE, text=True)
    server = benchmark = None
    try:
        benchmark = int(asv.stdout.readline())
        server = next(int(p) for p in os.listdir("/proc") if p.isdigit() and _parent(int(p)) == asv.pid)
        assert _alive(server) and _alive(benchmark)
        asv.send_signal(signal.SIGKILL)
        asv.wait()
        deadline = time.monotonic() + 10
        while (_alive(server) or _alive(benchmark)) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not _alive(server), "asv's runner outlived asv"
        assert not _alive(benchmark), "the benchmark process outlived asv's runner"
    finally:
        for pid in (asv.pid, server, benchmark):
            try:
                if pid is not None:
                    os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass


def _parent(pid: int) -> int | None:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return int(stat.read().split(") ", 1)[1].split()[1])
    except (FileNotFoundError, ProcessLookupError, ValueError, IndexError):
        return None
