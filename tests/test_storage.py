"""The storage toolkit: the one atomic write and the one file lock every writer and locker uses."""

import os

import pytest
import torch

from neural_ode.errors import UsageError
from neural_ode.storage.lock import lock, locked, open_lock_file, unlock
from neural_ode.storage.paths import replace_atomically, write_atomically
from neural_ode.workloads import cache


def test_an_atomic_write_leaves_the_whole_file_and_no_temporary(tmp_path):
    path = tmp_path / "values.bin"
    replace_atomically(path, b"first")
    write_atomically(path, lambda handle: handle.write(b"second"))
    assert path.read_bytes() == b"second"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["values.bin"]
    assert oct(path.stat().st_mode & 0o777) == "0o644"


def test_a_failed_write_keeps_the_old_file_and_removes_its_temporary(tmp_path):
    path = tmp_path / "values.bin"
    replace_atomically(path, b"kept")

    def fails(handle):
        handle.write(b"half")
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError, match="disk full"):
        write_atomically(path, fails)
    assert path.read_bytes() == b"kept" and sorted(p.name for p in tmp_path.iterdir()) == ["values.bin"]


def test_an_atomic_write_refuses_a_symlink_unless_told_not_to_check(tmp_path):
    target, link = tmp_path / "target", tmp_path / "link"
    target.write_bytes(b"theirs")
    link.symlink_to(target)
    with pytest.raises(UsageError, match="link"):
        replace_atomically(link, b"ours")
    assert target.read_bytes() == b"theirs"
    write_atomically(link, lambda handle: handle.write(b"ours"), check=False)  # a cache replaces the link itself
    assert not link.is_symlink() and link.read_bytes() == b"ours" and target.read_bytes() == b"theirs"


def test_the_lock_is_exclusive_and_released_on_close(tmp_path):
    path = tmp_path / "x.lock"
    with locked(path) as held:
        assert held
        other = open_lock_file(path)  # another open file description: flock conflicts even in one process
        assert lock(other, wait=False) is False
    assert lock(other, wait=False) is True
    unlock(other)


def test_a_lock_file_that_is_not_a_regular_file_is_refused(tmp_path):
    fifo = tmp_path / "x.lock"
    os.mkfifo(fifo)
    with pytest.raises(UsageError, match="refused"):
        open_lock_file(fifo)
    with locked(fifo, required=False) as held:  # a cache runs unlocked instead
        assert held is False


def test_the_workload_cache_writes_through_the_toolkit(tmp_path, monkeypatch):
    monkeypatch.setenv("NEURAL_ODE_BENCH_CACHE", str(tmp_path))
    calls = []

    def compute():
        calls.append(1)
        return {"w": torch.arange(3.0)}

    first = cache.disk_cached("demo", "key-1", compute)
    again = cache.disk_cached("demo", "key-1", compute)
    assert calls == [1] and torch.equal(first["w"], again["w"])
    names = sorted(p.name for p in tmp_path.iterdir())
    # one value file and its lock, under one name (the key hashed with the library versions, issue 32)
    assert len(names) == 2 and names[0].endswith("-demo.lock") and names[1].endswith("-demo.pt")
    assert names[0].removesuffix(".lock") == names[1].removesuffix(".pt")
