"""Values a workload computes once and keeps on disk (fitted parameters, solved data), and the
setting its fits run in.

Stored under the reference cache (``$NEURAL_ODE_BENCH_CACHE``, default
``~/.cache/neural-ode-bench``), one ``torch.save`` file per key, written to a temporary name and
renamed so that a reader sees all of a file or none of it. Every key includes the versions of the
libraries the values are computed with (:func:`library_versions`).
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import os
from pathlib import Path

from neural_ode.storage.lock import locked
from neural_ode.storage.paths import write_atomically


def cache_dir() -> Path:
    """Where references are stored on disk: ``$NEURAL_ODE_BENCH_CACHE``, unless unset or empty
    (an empty value would mean the current directory): ``~/.cache/neural-ode-bench``."""
    return Path(os.environ.get("NEURAL_ODE_BENCH_CACHE") or Path.home() / ".cache" / "neural-ode-bench")


@functools.cache
def library_versions() -> str:
    """``torch 2.x torchdiffeq 0.2.x numpy 2.x``: the installed libraries every cached value
    depends on (part of every key: an upgrade computes them again)."""
    from importlib import metadata

    parts = []
    for name in ("torch", "torchdiffeq", "numpy"):
        try:
            parts.append(f"{name} {metadata.version(name)}")
        except metadata.PackageNotFoundError:
            parts.append(f"{name} -")
    return " ".join(parts)


def cache_path(kind: str, key: str) -> Path:
    """The file ``disk_cached(kind, key, ...)`` stores its value in: ``<hash of key>-<kind>.pt``."""
    return cache_dir() / f"{hashlib.sha1(key.encode()).hexdigest()[:16]}-{kind}.pt"


def disk_cached(kind: str, key: str, compute):
    """``compute()`` (a tensor, or a dict, list or tuple of tensors), stored once keyed by ``key``.

    A missing, corrupt or foreign file (another key with the same hash prefix) is computed again,
    and stored where the folder is writable; ``kind`` names the file (``<hash>-<kind>.pt``). While
    one process computes a value, another asking for the same key waits for it (a lock file beside
    it) instead of computing it too: two cells of a sweep may need the same fit at once.
    """
    key = f"{key} [{library_versions()}]"
    path = cache_path(kind, key)
    stored = _stored(path, key)
    if stored is not None:
        return stored[0]
    with locked(path.with_suffix(".lock"), required=False):  # none where the folder cannot be written
        stored = _stored(path, key)  # computed by another process while this one waited
        if stored is not None:
            return stored[0]
        value = compute()
        _store(path, key, value)
    return value


def _stored(path: Path, key: str) -> tuple | None:
    """``(value,)`` stored at ``path`` under ``key``; None when absent, corrupt or foreign."""
    import torch

    if path.exists():
        try:
            stored = torch.load(path, weights_only=True)
            if stored.get("key") == key:
                return (stored["value"],)
        except Exception:  # a corrupt file is computed again
            pass
    return None


def _store(path: Path, key: str, value) -> None:
    import torch

    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        write_atomically(path, lambda handle: torch.save({"key": key, "value": value}, handle), check=False)
    except OSError:
        pass


@contextlib.contextmanager
def fitting(seed: int = 0):
    """The setting of a deterministic fit: the global generator seeded with ``seed`` (and restored
    afterwards), one torch thread (restored), gradients on (a caller may build its problem under
    ``no_grad``, as the reference does)."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with torch.random.fork_rng(), torch.enable_grad():
            torch.manual_seed(seed)
            yield
    finally:
        torch.set_num_threads(threads)
