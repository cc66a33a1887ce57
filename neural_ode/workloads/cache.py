"""Values a workload computes once and keeps on disk (fitted parameters, solved data), and the
setting its fits run in.

Stored under the reference cache (``$NEURAL_ODE_BENCH_CACHE``, default
``~/.cache/neural-ode-bench``), one ``torch.save`` file per key, written to a temporary name and
renamed so that a reader sees all of a file or none of it.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
from pathlib import Path


def cache_dir() -> Path:
    """Where references are stored on disk: ``$NEURAL_ODE_BENCH_CACHE``, unless unset or empty
    (an empty value would mean the current directory): ``~/.cache/neural-ode-bench``."""
    return Path(os.environ.get("NEURAL_ODE_BENCH_CACHE") or Path.home() / ".cache" / "neural-ode-bench")


def disk_cached(kind: str, key: str, compute):
    """``compute()`` (a tensor, or a dict or tuple of tensors), stored once keyed by ``key``.

    A missing, corrupt or foreign file (another key with the same hash prefix) is computed again,
    and stored where the folder is writable; ``kind`` names the file (``<hash>-<kind>.pt``).
    """
    import torch

    path = cache_dir() / f"{hashlib.sha1(key.encode()).hexdigest()[:16]}-{kind}.pt"
    if path.exists():
        try:
            stored = torch.load(path, weights_only=True)
            if stored.get("key") == key:
                return stored["value"]
        except Exception:  # a corrupt file is computed again
            pass
    value = compute()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        torch.save({"key": key, "value": value}, tmp)
        os.replace(tmp, path)
    except OSError:
        pass
    return value


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
