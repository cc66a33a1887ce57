"""The processes that draw the report's figures: forked, dying with their parent, holding no lock.

A forked child inherits its parent's open files, the output folder's lock among them (``fcntl.flock``
belongs to the open file, which the child shares): a figure worker left alive after its parent was
killed would keep the folder locked and ``run --resume`` refused. So each worker, as it starts,

* asks the kernel for SIGKILL when its parent dies (``prctl(PR_SET_PDEATHSIG)``, Linux), and exits at
  once if the parent is already gone (it died between the fork and that call);
* closes its copy of every lock file of this tool (:data:`LOCK_NAME` in ``/proc/self/fd``), so the
  lock is the parent's alone and goes when the parent goes.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import multiprocessing
import os
import signal
from concurrent.futures import ProcessPoolExecutor

from neural_ode.sweeping.lock import LOCK_NAME

#: prctl option: the signal this process gets when its parent dies (linux/prctl.h)
PR_SET_PDEATHSIG = 1


def die_with_parent(parent: int) -> bool:
    """Have the kernel SIGKILL this process when its parent dies; True when that was arranged (Linux).

    Exits now (status 1) if the parent ``parent`` is already gone."""
    arranged = False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        arranged = libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) == 0
    except (OSError, AttributeError):  # not Linux: no prctl
        pass
    if os.getppid() != parent:
        os._exit(1)
    return arranged


def close_inherited_locks() -> list[int]:
    """Close this process's copies of the folder lock (see the module's docstring); returns their fds."""
    closed = []
    try:
        fds = os.listdir("/proc/self/fd")
    except OSError:  # no /proc: nothing to find them by
        return closed
    for name in fds:
        try:
            target = os.readlink(f"/proc/self/fd/{name}")
        except OSError:
            continue
        if os.path.basename(target) == LOCK_NAME:
            os.close(int(name))
            closed.append(int(name))
    return closed


def _start(parent: int) -> None:
    die_with_parent(parent)
    close_inherited_locks()


def figure_pool(workers: int) -> ProcessPoolExecutor:
    """A pool of ``workers`` forked processes that die with this one and hold no folder lock."""
    return ProcessPoolExecutor(
        workers, mp_context=multiprocessing.get_context("fork"), initializer=_start, initargs=(os.getpid(),)
    )
