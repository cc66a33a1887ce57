"""A user's factory checked before a sweep runs: its problem built once in a child process.

A broken factory (an import that fails, a factory that raises, hangs, calls ``sys.exit`` or
``os._exit``, or returns something else than a Problem) stops the sweep before any cell runs, with
a :class:`~neural_ode.errors.ConfigError` naming what happened; the user's code runs in a child
process so that it can end only that child. The protocol itself is :mod:`neural_ode.workloads.user`.
It sits above :mod:`neural_ode.config` (the child builds the cell's config from JSON).
"""

from __future__ import annotations

import os
import sys
import time

from neural_ode.errors import ConfigError
from neural_ode.workloads.user import EXPECTED, FactoryWorkload, problem_sizes

#: seconds the factory check may take when the cell's own timeout is longer
CHECK_TIMEOUT_S = 120.0
#: seconds the check's child process may take to start (Python, torch) before the user's code runs
STARTUP_S = 120.0


def check_factory(config) -> dict:
    """Build ``config``'s problem once in a child process, so that a broken factory fails before
    anything runs, and a factory (or its module's import) that hangs, calls ``sys.exit`` or
    ``os._exit`` ends only that child. The user's code (import and call) is bounded by the cell's
    timeout (at most :data:`CHECK_TIMEOUT_S` seconds), counted once the child has started
    (:data:`STARTUP_S` at most); a ConfigError names what happened."""
    import json
    import select
    import subprocess

    from neural_ode.family import kill_descendants

    limit = min(float(config.timeout_s), CHECK_TIMEOUT_S)
    code = f"from neural_ode.sweeping.factory_check import _check_in_child; _check_in_child({os.getpid()})"
    child = subprocess.Popen(
        [sys.executable, "-c", code],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        bufsize=0,  # unbuffered: the lines read before communicate() leave nothing behind in a buffer
        cwd=os.getcwd(),
        env=dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in sys.path if p)),
    )
    try:
        child.stdin.write(json.dumps(config.to_dict()).encode())
        child.stdin.close()
        child.stdin = None  # communicate() below must not touch the closed pipe
        started, ready, output = time.monotonic(), False, ""  # output: the child's stdout after the marker
        while not ready:  # lines before the marker (a library's start-up chatter) are skipped
            left = STARTUP_S - (time.monotonic() - started)
            line = child.stdout.readline() if left > 0 and select.select([child.stdout], [], [], left)[0] else ""
            if not line:
                break
            ready = line.strip() == b"neural-ode-bench-ready"
        if ready:
            output = child.communicate(timeout=limit)[0].decode("utf-8", "replace")
        else:
            child.wait(timeout=5)
    except subprocess.TimeoutExpired:
        raise ConfigError(
            f"workload {config.workload!r}: importing the module and calling the factory took longer than "
            f"{limit:g} s (the cell's timeout); expected {EXPECTED}"
        ) from None
    finally:
        if child.poll() is None:
            kill_descendants(child.pid)  # what the factory forked, holding the pipe or not
            child.kill()
            child.wait()
    last = [line for line in output.splitlines() if line.startswith("neural-ode-bench-check:")]
    if last:
        verdict = json.loads(last[-1].partition(":")[2])
        if verdict.get("error"):
            raise ConfigError(verdict["error"])
        return verdict["sizes"]
    raise ConfigError(
        f"workload {config.workload!r}: the factory (or its module's import) ended the process "
        f"with exit status {child.returncode} before returning a Problem; expected {EXPECTED}"
    )


def _check_in_child(parent: int | None = None) -> None:
    """In the check's child process: build the problem of the config on stdin; print the verdict (the
    error, empty when none, and the problem's :func:`~neural_ode.workloads.user.problem_sizes`) as one
    JSON line, the last of its output.

    It dies with the command (``parent``) whatever ends it. The user's code runs in a process it
    forks (:func:`_build_in_grandchild`), of which it is the reaper (``PR_SET_CHILD_SUBREAPER``):
    whatever that process leaves running, even one forked just before it ended with ``os._exit``
    or a double fork's daemon, is re-parented here, killed and named in the verdict (it would hold
    the check's pipe, and run beside every cell)."""
    import json

    from neural_ode.config import CellConfig
    from neural_ode.family import adopt_orphans, die_with_parent, kill_descendants, left_behind

    die_with_parent(parent)
    adopt_orphans()
    config = CellConfig(**json.loads(sys.stdin.read()))
    sys.stdout.write("neural-ode-bench-ready\n")  # the user's code runs from here: the bound starts
    sys.stdout.flush()
    here, (read_end, write_end) = os.getpid(), os.pipe()
    builder = os.fork()
    if builder == 0:
        try:
            os.close(read_end)
            _build_in_grandchild(config, here, write_end)
        finally:
            os._exit(70)  # never back into the reaper's code below
    os.close(write_end)
    status = os.waitpid(builder, 0)[1]
    leftovers = kill_descendants()
    verdict = _read_verdict(read_end)  # written before the builder ended, if it got that far
    if verdict is None:  # it ended before its verdict: os._exit, a crash, a signal
        code = os.waitstatus_to_exitcode(status)
        ended = f"exit status {code}" if code >= 0 else f"signal {-code}"
        verdict = {
            "error": f"workload {config.workload!r}: the factory (or its module's import) ended the process with "
            f"{ended} before returning a Problem; expected {EXPECTED}"
            + (f"; {left_behind(leftovers, after='it ended')}" if leftovers else "")
        }
    elif leftovers and not verdict["error"]:
        verdict = {"error": f"workload {config.workload!r}: {left_behind(leftovers)}"}
    _write_all(1, ("neural-ode-bench-check:" + json.dumps(verdict) + "\n").encode())
    os._exit(0)


def _build_in_grandchild(config, parent: int, out: int) -> None:
    """The process the user's code runs in: import the factory, build the problem, write the
    verdict to ``out`` (a pipe to the reaper) and end at once (nothing the user's module
    registered, atexit or threads, runs)."""
    import json

    from neural_ode.family import die_with_parent

    die_with_parent(parent)
    try:
        workload = FactoryWorkload.resolve(config.workload)
        problem = workload.build(config)
        if not list(problem.parameters()):
            raise ConfigError(f"workload {config.workload!r}: the problem has no trainable parameters to differentiate")
        verdict = {"error": "", "sizes": problem_sizes(problem)}
    except ConfigError as exc:
        verdict = {"error": str(exc)[:MESSAGE_CHARS]}
    except BaseException as exc:  # noqa: BLE001 - raised by the user's code outside the factory call (its Problem's)
        verdict = {"error": f"workload {config.workload!r}: building the problem raised {type(exc).__name__}"}
    _write_all(out, json.dumps(verdict).encode())  # < the pipe's 64 KiB: written whole before the reaper reads
    os._exit(0)


#: characters of an error message kept in the verdict
MESSAGE_CHARS = 4000


def _read_verdict(fd: int) -> dict | None:
    """The verdict the builder wrote to the pipe ``fd``, None when it wrote none. Read without
    waiting: a process the builder forked may still hold the pipe's other end."""
    import json

    os.set_blocking(fd, False)
    data = b""
    try:
        while chunk := os.read(fd, 65536):
            data += chunk
    except BlockingIOError:
        pass
    os.close(fd)
    try:
        verdict = json.loads(data)
    except ValueError:
        return None
    return verdict if isinstance(verdict, dict) and isinstance(verdict.get("error"), str) else None


def _write_all(fd: int, data: bytes) -> None:
    while data:
        data = data[os.write(fd, data) :]
