"""The one advisory file lock: an exclusive ``fcntl.flock`` on a lock file.

The kernel releases a ``flock`` when its holder's process ends, however it ends (SIGKILL
included), so a stale lock file is harmless: it is never deleted, only reused. Used by the sweep's
folder lock (:mod:`neural_ode.sweeping.lock`, which names its holder in the file) and by the
workloads' disk cache (:mod:`neural_ode.workloads.cache`: one process computes a value while
another asking for it waits).
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import stat
from collections.abc import Iterator
from pathlib import Path

from neural_ode.errors import UsageError


def open_lock_file(path: Path) -> int:
    """A descriptor of the lock file ``path``, created (mode 0644) when absent.

    A symlink, a FIFO or anything else than a regular file there is refused with a UsageError
    (opening never follows a link nor blocks on a FIFO); another OSError (an unwritable folder)
    is raised as is.
    """
    flags = os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK
    try:
        fd = os.open(path, flags, 0o644)
    except OSError as exc:
        if exc.errno in (errno.ELOOP, errno.ENXIO):  # a symlink, a FIFO without a reader
            raise UsageError(f"{path}: is not a lock file this tool owns; refused") from exc
        raise
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise UsageError(f"{path}: is not a regular file; refused")
    return fd


def lock(fd: int, *, wait: bool = True) -> bool:
    """Take the exclusive lock on ``fd``: True once held; without ``wait``, False at once when
    another process holds it."""
    if wait:
        fcntl.flock(fd, fcntl.LOCK_EX)
        return True
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


def unlock(fd: int) -> None:
    """Let go of the lock on ``fd`` and close it."""
    try:
        fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


@contextlib.contextmanager
def locked(path: Path, *, required: bool = True) -> Iterator[bool]:
    """Hold the exclusive lock on ``path`` (waiting for it) for the ``with`` block; yields True.

    Without ``required``, a lock file that cannot be made (an unwritable folder, something else
    than a regular file there) yields False and the block runs unlocked: a cache then only risks
    computing a value twice.
    """
    try:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        fd = open_lock_file(path)
    except (OSError, UsageError):
        if required:
            raise
        yield False
        return
    try:
        lock(fd)
        yield True
    finally:
        unlock(fd)
