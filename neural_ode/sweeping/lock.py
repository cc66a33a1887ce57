"""The output folder's lock: one sweep writes a folder at a time.

A sweep holds an exclusive ``fcntl.flock`` (:mod:`neural_ode.storage.lock`) on
``DIR/.neural-ode-bench.lock`` from before it reads
what the folder holds until its report is written. The lock file names its holder (pid, host,
start time) so that a second sweep is refused with a message saying who has the folder, or, with
``wait=True``, waits for it. The kernel releases the lock when the holder's process ends, however
it ends (SIGKILL included), so a stale lock file is harmless: it is never deleted, only reused.

A ``flock`` belongs to the open file, which a forked child shares: a child forked while the lock
is held (the report's figure processes) would keep the folder locked after the holder died. So a
child closes its copies at once (:func:`os.register_at_fork`; closing a copy never unlocks the
parent's), and is asked to die with the process that forked it (``PR_SET_PDEATHSIG``, Linux): no
process outlives the holder with the folder locked. ``exec`` never inherits it (``O_CLOEXEC``).
"""

from __future__ import annotations

import datetime
import os
import socket
import sys
from pathlib import Path

from neural_ode.errors import UsageError
from neural_ode.family import die_with_parent
from neural_ode.storage.lock import lock, open_lock_file, unlock

LOCK_NAME = ".neural-ode-bench.lock"

#: the descriptors of the locks this process holds (closed in a forked child)
_HELD: set[int] = set()


def _after_fork_in_child() -> None:
    """In a child forked while a folder lock is held: close the inherited copies of the lock (the
    parent keeps it) and die with the parent (SIGKILL when the forking thread's process ends)."""
    if not _HELD:
        return
    for fd in list(_HELD):
        try:
            os.close(fd)  # never flock(LOCK_UN): that would unlock the parent's open file too
        except OSError:
            pass
    _HELD.clear()
    die_with_parent(_forker)


#: the pid of the process that is forking (set just before each fork)
_forker = os.getpid()


def _before_fork() -> None:
    global _forker
    _forker = os.getpid()


os.register_at_fork(before=_before_fork, after_in_child=_after_fork_in_child)


class FolderLock:
    """An exclusive lock on a sweep folder (a context manager)."""

    def __init__(self, folder: Path | str, *, wait: bool = False):
        self.folder = Path(folder)
        self.path = self.folder / LOCK_NAME
        self.wait = wait
        self._fd: int | None = None

    def acquire(self) -> FolderLock:
        """Take the lock, or raise :class:`UsageError` naming the holder (unless ``wait``)."""
        fd = open_lock_file(self.path)
        if not lock(fd, wait=False):
            holder = _holder(fd)
            if not self.wait:
                os.close(fd)
                raise UsageError(
                    f"--out {self.folder} is in use by another sweep ({holder}); "
                    "wait for it to finish, add --wait to queue behind it, or pick another --out"
                ) from None
            print(f"neural-ode-bench: waiting for {self.folder}, held by {holder}", file=sys.stderr)
            lock(fd)
        os.ftruncate(fd, 0)
        stamp = datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")
        os.pwrite(fd, f"pid {os.getpid()} on host {socket.gethostname()}, since {stamp}\n".encode(), 0)
        self._fd = fd
        _HELD.add(fd)
        return self

    def release(self) -> None:
        """Let go of the lock (the file stays, empty)."""
        if self._fd is not None:
            _HELD.discard(self._fd)
            try:
                os.ftruncate(self._fd, 0)
            finally:
                unlock(self._fd)
                self._fd = None

    def __enter__(self) -> FolderLock:
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()


def _holder(fd: int) -> str:
    text = os.pread(fd, 200, 0).decode("utf-8", errors="replace").strip()
    return text or "a process that has not yet written its name"
