"""The processes that draw the report's figures: forked, dying with their parent, holding no lock.

A forked child inherits its parent's open files, the output folder's lock among them (``fcntl.flock``
belongs to the open file, which the child shares): a figure worker left alive after its parent was
killed would keep the folder locked and ``run --resume`` refused. So

* every child forked while a folder lock is held closes its copies at once (the at-fork hook of
  :mod:`neural_ode.sweeping.lock`): the lock is the parent's alone and goes when the parent goes;
* each worker, as it starts, asks the kernel for SIGKILL when its parent dies
  (:func:`neural_ode.family.die_with_parent`, ``PR_SET_PDEATHSIG`` on Linux) and exits at once if the
  parent is already gone.
"""

from __future__ import annotations

import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor

from neural_ode.family import die_with_parent


def figure_pool(workers: int) -> ProcessPoolExecutor:
    """A pool of ``workers`` forked processes that die with this one and hold no folder lock."""
    return ProcessPoolExecutor(
        workers, mp_context=multiprocessing.get_context("fork"), initializer=die_with_parent, initargs=(os.getpid(),)
    )
