"""A process and its descendants: dying with the parent, adopting orphans, and killing what is left.

Ground floor: imports nothing from the package. Used where this tool runs a user's code in a
process of its own (a cell, the factory check) and where it forks while holding a folder's lock:
no process of the tool may outlive the one that started it, and a process a user's factory or
field leaves running is killed and named, not left behind holding a pipe or a CPU.

Linux only (``prctl``); elsewhere each function does nothing and returns nothing found.
"""

from __future__ import annotations

import os
import signal
import sys

#: prctl options (linux/prctl.h)
_PR_SET_PDEATHSIG = 1
_PR_SET_CHILD_SUBREAPER = 36


def _prctl(option: int, value: int) -> bool:
    if not sys.platform.startswith("linux"):
        return False
    import ctypes

    try:
        return ctypes.CDLL(None, use_errno=True).prctl(option, value, 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


def die_with_parent(parent: int | None = None) -> None:
    """Ask the kernel to SIGKILL this process when its parent (pid ``parent``, default the current
    one) ends, and end now if it already has (a request made after the parent died never fires).

    The signal comes when the *thread* that forked this process ends, so call it only in children
    forked by a thread that lives as long as its process (the main thread)."""
    parent = os.getppid() if parent is None else parent
    if _prctl(_PR_SET_PDEATHSIG, signal.SIGKILL) and os.getppid() != parent:
        os._exit(1)


def adopt_orphans() -> None:
    """Make this process the reaper of its descendants (``PR_SET_CHILD_SUBREAPER``): a process
    that a descendant leaves running after it exits (a daemon's double fork) is re-parented here,
    not to init, so :func:`kill_descendants` still finds it."""
    _prctl(_PR_SET_CHILD_SUBREAPER, 1)


def kill_descendants(pid: int | None = None) -> list[str]:
    """SIGKILL every descendant of ``pid`` (default: this process) and reap them; returns each as
    ``pid 123 (python -c ...)``, empty when there was none."""
    try:
        import psutil
    except ImportError:  # pragma: no cover - psutil is a dependency
        return []
    try:
        children = psutil.Process(pid).children(recursive=True)
    except psutil.Error:
        return []
    named = []
    for child in children:
        try:
            if child.status() == psutil.STATUS_ZOMBIE:  # ended already (a daemon's first fork): only reaped
                continue
            command = " ".join(child.cmdline())[:80] or child.name()
        except psutil.Error:
            continue
        named.append(f"pid {child.pid} ({command})")
        try:
            child.kill()
        except psutil.Error:
            pass
    psutil.wait_procs(children, timeout=5)
    return named


def own_group() -> None:
    """Make this process the leader of a process group of its own: every process it forks is in
    the group (unless it leaves it with ``setsid``), so :func:`kill_group` finds what it left
    behind even after this process has ended and its orphans were re-parented elsewhere."""
    try:
        os.setpgid(0, 0)
    except OSError:  # already a group or session leader
        pass


def kill_group(group: int) -> list[str]:
    """SIGKILL every process still in the process group ``group`` (the pid of a process that
    called :func:`own_group`, which may have ended) and wait until they are gone; returns each
    as ``pid 123 (python -c ...)``, empty when there was none. Zombies are not named."""
    try:
        import psutil
    except ImportError:  # pragma: no cover - psutil is a dependency
        return []
    if group <= 1 or group == os.getpgrp():  # never this process's own group
        return []
    members = []
    for process in psutil.process_iter():
        try:
            if os.getpgid(process.pid) == group and process.status() != psutil.STATUS_ZOMBIE:
                members.append((process, " ".join(process.cmdline())[:80] or process.name()))
        except (OSError, psutil.Error):
            continue
    if not members:
        return []
    try:
        os.killpg(group, signal.SIGKILL)
    except OSError:  # gone meanwhile
        pass
    for process, _ in members:  # children of init now, not ours to reap: wait until each is dead
        _until(lambda process=process: _gone(process, psutil))
    return [f"pid {process.pid} ({command})" for process, command in members]


def _gone(process, psutil) -> bool:
    try:
        return not process.is_running() or process.status() == psutil.STATUS_ZOMBIE
    except psutil.Error:
        return True


def _until(done, timeout: float = 5.0) -> None:
    """Wait until ``done()`` is true, at most ``timeout`` seconds."""
    import time

    deadline = time.monotonic() + timeout
    while not done() and time.monotonic() < deadline:
        time.sleep(0.01)


def left_behind(processes: list[str], after: str = "it returned") -> str:
    """The message naming processes a user's code left running: ``left 2 processes running ...``
    (``after``: when they were found)."""
    count = len(processes)
    shown = ", ".join(processes[:3]) + (f" and {count - 3} more" if count > 3 else "")
    return (
        f"the user's code left {count} process{'es' if count > 1 else ''} running after {after} ({shown}); "
        "killed (a factory or field must not leave processes behind: they would share the cell's CPU)"
    )
