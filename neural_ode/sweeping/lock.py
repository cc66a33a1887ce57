"""The output folder's lock: one sweep writes a folder at a time.

A sweep holds an exclusive ``fcntl.flock`` (:mod:`neural_ode.storage.lock`) on
``DIR/.neural-ode-bench.lock`` from before it reads
what the folder holds until its report is written. The lock file names its holder (pid, host,
start time) so that a second sweep is refused with a message saying who has the folder, or, with
``wait=True``, waits for it. The kernel releases the lock when the holder's process ends, however
it ends (SIGKILL included), so a stale lock file is harmless: it is never deleted, only reused.
"""

from __future__ import annotations

import datetime
import os
import socket
import sys
from pathlib import Path

from neural_ode.errors import UsageError
from neural_ode.storage.lock import lock, open_lock_file, unlock

LOCK_NAME = ".neural-ode-bench.lock"


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
        return self

    def release(self) -> None:
        """Let go of the lock (the file stays, empty)."""
        if self._fd is not None:
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
