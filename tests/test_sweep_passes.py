"""The passes of a cell that are not its timed repeats: what each costs is recorded, none is paid twice.

- the RSS peak is the kernel's high-water mark (VmHWM), with no sampler process beside the run;
- the float32 round-off floor is cached on disk under a key of everything it depends on;
- every cell records the wall seconds of each pass (``phase_s``), read back by the record reader.
"""

import json

import pytest
import torch

from neural_ode import CellConfig, measure_cell
from neural_ode.measuring import roundoff

#: run in a fresh interpreter, as a cell runs: a long-lived process's earlier frees and garbage collections
#: move its RSS under the high-water mark's baseline and make the peak of a 64 MiB block unreadable
_HIGH_WATER_SCRIPT = """
import memory_profiler
from neural_ode.measuring import memory

def no_sampler(*args, **kwargs):
    raise AssertionError("memory_profiler's sampler ran although the kernel's high-water mark is available")

if not memory._reset_rss_high_water():
    print("unavailable")
    raise SystemExit(0)
memory_profiler.memory_usage = no_sampler
size = 64 * 2**20

def touch():
    block = bytearray(size)  # zero-filled: every page touched
    block[::4096] = b"\\x01" * len(block[::4096])

print(memory.rss_peak_bytes(touch))
"""


def test_rss_peak_is_the_kernels_high_water_mark_without_a_sampler():
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-c", _HIGH_WATER_SCRIPT], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    if done.stdout.strip() == "unavailable":
        pytest.skip("this kernel does not let a process reset its VmHWM (/proc/self/clear_refs)")
    size = 64 * 2**20
    assert size * 0.95 <= int(done.stdout) <= size * 1.5


def _cell(**changes) -> CellConfig:
    fields = dict(workload="mlp", method="direct", solver="rk4", steps=4, batch=4, width=8, dim=2, repeats=1, warmup=0)
    fields.update(changes)
    return CellConfig(**fields)


def test_roundoff_floor_is_computed_once_then_read_from_the_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("NEURAL_ODE_BENCH_CACHE", str(tmp_path))
    wide_solves = []
    from neural_ode.measuring import cell as cell_module

    real_build = cell_module.build_pass

    def counting_build(config):
        if config.dtype == "float64":
            wide_solves.append(config)
        return real_build(config)

    monkeypatch.setattr(cell_module, "build_pass", counting_build)
    first = measure_cell(_cell(), rss="skip", reference=False, peak=False, timing=False)
    second = measure_cell(_cell(), rss="skip", reference=False, peak=False, timing=False)
    assert first.status == second.status == "ok"
    assert len(wide_solves) == 1  # the second cell read the floor from the cache
    assert first.grad_roundoff_floor == second.grad_roundoff_floor > 0
    assert first.sol_roundoff_floor == second.sol_roundoff_floor > 0
    assert len(list(tmp_path.glob("*-roundoff.pt"))) == 1
    other = measure_cell(_cell(steps=8), rss="skip", reference=False, peak=False, timing=False)
    assert len(wide_solves) == 2 and other.grad_roundoff_floor != first.grad_roundoff_floor  # another key


def test_roundoff_key_covers_the_cell_identity_the_threads_and_the_libraries():
    base = roundoff.floor_key(_cell())
    assert base != roundoff.floor_key(_cell(method="adjoint"))
    assert base != roundoff.floor_key(_cell(seed=1))
    assert base != roundoff.floor_key(_cell(width=16))
    assert base == roundoff.floor_key(_cell(repeats=9))  # timing settings change no floor
    assert f"torch{torch.__version__}" in base and "torchdiffeq" in base
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(threads + 1)
        assert roundoff.floor_key(_cell()) != base
    finally:
        torch.set_num_threads(threads)


def test_every_pass_records_its_wall_seconds_and_the_reader_accepts_them(tmp_path, monkeypatch):
    monkeypatch.setenv("NEURAL_ODE_BENCH_CACHE", str(tmp_path))
    record = measure_cell(_cell(repeats=2), rss="here")
    assert record.status == "ok", record.error
    assert set(record.phase_s) == {"build", "rss", "counted", "peak", "timed", "roundoff", "reference"}
    assert all(seconds >= 0 for seconds in record.phase_s.values())
    assert sum(record.phase_s.values()) <= record.cell_wall_s
    from neural_ode.results.records import BadRecord, check_row

    row = json.loads(json.dumps(record.to_dict()))
    check_row(row)
    row["phase_s"] = {"timed": "import os"}
    with pytest.raises(BadRecord, match="phase_s"):
        check_row(row)
