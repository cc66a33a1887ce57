"""A user's own model as a workload: ``--workload package.module:factory``.

The protocol: ``factory(config) -> Problem``. The factory receives the cell's
:class:`~neural_ode.config.CellConfig` (read ``config.dtype``, ``config.device``, ``config.seed``,
``config.horizon``, ``config.outputs``, and the sizes ``batch``/``width``/``dim``/``layers``, which
default to :data:`DEFAULTS` unless given) and returns a :class:`~neural_ode.workloads.Problem`::

    Problem(field=..., y0=..., times=None, loss_fn=None, target=None, modules=())

with ``field`` an ``nn.Module`` called as ``field(t, y)``, ``y0`` the initial state in the
config's dtype and on its device, optionally its own output times and its own loss of the
trajectory (see :class:`~neural_ode.workloads.Problem`). It must be deterministic given the
config (the seed), because it is called again for the float64 reference (with
``config.dtype == "float64"``) and in every cell's own process.

The module is imported with the current directory on ``sys.path`` (so ``examples.my_model``
works from the repository root, in the sweep's cell processes too). A module that cannot be
imported, a missing or non-callable factory, a factory that raises or returns something else
than a Problem: each is a :class:`~neural_ode.config.ConfigError` naming what was expected,
which the command line turns into one line and exit status 2 before anything runs.
"""

from __future__ import annotations

import functools
import importlib
import os
import sys
import time

import torch
from torch import nn

from neural_ode.workloads.base import Problem, Workload

#: sizes a factory's config carries when none is given
DEFAULTS = {"batch": 16, "width": 64, "dim": 2, "layers": 1, "outputs": 1}

EXPECTED = "a factory 'package.module:function' whose function takes the cell config and returns a neural_ode Problem"


def _error(message: str):
    from neural_ode.axes import ConfigError

    return ConfigError(message)


class FactoryWorkload(Workload):
    """A workload whose problem a user's ``factory(config)`` builds.

    Resolving the name imports nothing: the module is imported (its code run) on the first
    :meth:`build`, which the sweep does only in bounded child processes (:func:`check_factory`,
    the reference and cell processes), never in the command line's own process.
    """

    defaults = DEFAULTS

    def __init__(self, spec: str, factory=None):
        self.name = spec
        self._factory = factory
        self.description = f"user's model: {spec}"

    @staticmethod
    @functools.cache
    def resolve(spec: str) -> FactoryWorkload:
        """The workload of ``package.module:function`` (checked in form, not imported yet)."""
        import re

        if not re.fullmatch(r"[A-Za-z_]\w*(\.[A-Za-z_]\w*)*:[A-Za-z_]\w*", spec, flags=re.ASCII):
            raise _error(f"workload {spec!r}: expected {EXPECTED}")
        return FactoryWorkload(spec)

    @property
    def factory(self):
        """The user's function, imported on first use (a ConfigError naming what was expected otherwise)."""
        if self._factory is None:
            self._factory = _import_factory(self.name)
        return self._factory

    def parameters_key(self, width: int, layers: int, stage: int = 0) -> str:
        """A hash of every source file importing the factory's module runs (its own, the helper
        modules it imports from the user's folders, their packages' ``__init__.py``) and of the
        libraries' versions, found without importing anything (:mod:`neural_ode.workloads.sources`):
        an edit of any of them gets a new reference."""
        from neural_ode.workloads.sources import sources_digest

        _on_path()
        return "src" + sources_digest(self.name.partition(":")[0])[:16]

    def build(self, config, dtype: torch.dtype | None = None, device: str | None = None) -> Problem:
        """Call the factory (with the config's dtype/device replaced when overridden) and check what it returns."""
        changes = {}
        if dtype is not None and dtype != getattr(torch, config.dtype):
            changes["dtype"] = str(dtype).removeprefix("torch.")
        if device is not None and device != config.device:
            changes["device"] = device
        if changes:
            config = config.replace(**changes)
        torch.manual_seed(config.seed)
        factory = self.factory
        try:
            problem = factory(config)
        except (Exception, SystemExit, KeyboardInterrupt) as exc:  # SystemExit: the factory called sys.exit
            raise _error(
                f"workload {self.name!r}: the factory raised {_first_line(exc)}; "
                "expected it to return a neural_ode.workloads.Problem for the cell config"
            ) from exc
        check_problem(self.name, problem)
        return problem


def _on_path() -> None:
    """The current directory on ``sys.path`` (``examples.my_model`` from the repository root)."""
    cwd = os.getcwd()
    if cwd not in sys.path and "" not in sys.path:
        sys.path.insert(0, cwd)


def _first_line(exc: BaseException) -> str:
    if isinstance(exc, SystemExit):
        return f"sys.exit({exc.code!r})"
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text.splitlines()[0]}" if text else type(exc).__name__


def _import_factory(spec: str):
    """Import ``package.module:function``; a ConfigError naming what was expected otherwise."""
    module_name, _, function_name = spec.partition(":")
    _on_path()
    try:
        module = importlib.import_module(module_name)
    except (Exception, SystemExit) as exc:  # SystemExit: the module's import called sys.exit
        raise _error(
            f"workload {spec!r}: cannot import module {module_name!r} ({_first_line(exc)}); "
            f"expected {EXPECTED}, importable from the current directory"
        ) from exc
    factory = getattr(module, function_name, None)
    if not callable(factory):
        raise _error(
            f"workload {spec!r}: module {module_name!r} has no function {function_name!r}; expected {EXPECTED}"
        )
    return factory


def check_problem(name: str, problem) -> None:
    """A ConfigError unless ``problem`` follows the protocol (a Problem with a module field and a tensor y0)."""
    if not isinstance(problem, Problem):
        raise _error(
            f"workload {name!r}: the factory returned {type(problem).__name__}; "
            "expected a neural_ode.workloads.Problem "
            "(field=nn.Module called as field(t, y), y0=tensor, optional times and loss_fn)"
        )
    if not isinstance(problem.field, nn.Module):
        raise _error(f"workload {name!r}: Problem.field is {type(problem.field).__name__}; expected an nn.Module")
    if not isinstance(problem.y0, torch.Tensor):
        raise _error(f"workload {name!r}: Problem.y0 is {type(problem.y0).__name__}; expected a torch.Tensor")
    if problem.times is not None and (
        not isinstance(problem.times, torch.Tensor)
        or problem.times.ndim != 1
        or len(problem.times) == 0
        or not bool((problem.times[1:] > problem.times[:-1]).all())
        or float(problem.times[0]) < 0
    ):
        raise _error(f"workload {name!r}: Problem.times must be a non-empty increasing 1-D tensor of times >= 0")
    if problem.times is not None and not float(problem.times[-1]) > 0:
        raise _error(
            f"workload {name!r}: Problem.times ends at {float(problem.times[-1])!r}; the last output time must be "
            "> 0 (nothing is integrated up to t = 0, so no gradient can be measured)"
        )
    if problem.y0.numel() == 0 or not bool(torch.isfinite(problem.y0).all()):
        raise _error(f"workload {name!r}: Problem.y0 must be a non-empty tensor of finite values")


#: seconds the factory check may take when the cell's own timeout is longer
CHECK_TIMEOUT_S = 120.0
#: seconds the check's child process may take to start (Python, torch) before the user's code runs
STARTUP_S = 120.0


def check_factory(config) -> None:
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
    code = f"from neural_ode.workloads.user import _check_in_child; _check_in_child({os.getpid()})"
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
        raise _error(
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
        message = json.loads(last[-1].partition(":")[2])
        if message:
            raise _error(message)
        return
    raise _error(
        f"workload {config.workload!r}: the factory (or its module's import) ended the process "
        f"with exit status {child.returncode} before returning a Problem; expected {EXPECTED}"
    )


def _check_in_child(parent: int | None = None) -> None:
    """In the check's child process: build the problem of the config on stdin; print the verdict.

    It dies with the command (``parent``) whatever ends it, and a process the factory leaves
    running is killed and named in the verdict (it would hold the check's pipe, and run beside
    every cell)."""
    import json

    from neural_ode.config import CellConfig, ConfigError
    from neural_ode.family import adopt_orphans, die_with_parent, kill_descendants, left_behind

    die_with_parent(parent)
    adopt_orphans()
    config = CellConfig(**json.loads(sys.stdin.read()))
    sys.stdout.write("neural-ode-bench-ready\n")  # the user's code runs from here: the bound starts
    sys.stdout.flush()
    try:
        workload = FactoryWorkload.resolve(config.workload)
        problem = workload.build(config)
        if not list(problem.parameters()):
            raise _error(f"workload {config.workload!r}: the problem has no trainable parameters to differentiate")
        verdict = ""
    except ConfigError as exc:
        verdict = str(exc)
    leftovers = kill_descendants()
    if leftovers and not verdict:
        verdict = f"workload {config.workload!r}: {left_behind(leftovers)}"
    sys.stdout.write("neural-ode-bench-check:" + json.dumps(verdict) + "\n")
    sys.stdout.flush()
    os._exit(0)  # nothing the user's module registered (atexit, threads) runs after the verdict
