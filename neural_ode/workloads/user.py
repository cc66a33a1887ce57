"""A user's own model as a workload: ``--workload package.module:factory``.

The protocol: ``factory(config) -> Problem``. The factory receives the cell's
:class:`~neural_ode.config.CellConfig` (read ``config.dtype``, ``config.device``, ``config.seed``,
``config.horizon``, ``config.outputs``, and the sizes ``batch``/``width``/``dim``/``layers``, which
default to :data:`DEFAULTS` unless given) and returns a :class:`~neural_ode.workloads.Problem`.
A sweep records the ``batch`` and ``dim`` of the ``y0`` it returns (``y0.shape[0]`` and one
sample's element count, :func:`problem_sizes`) where ``--batch`` / ``--dim`` were not given, and
refuses one that builds other sizes than those given; the parameter count is the field's::

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

import torch
from torch import nn

from neural_ode.workloads.base import Problem, Workload

#: sizes a factory's config carries when none is given
DEFAULTS = {"batch": 16, "width": 64, "dim": 2, "layers": 1, "outputs": 1}

EXPECTED = "a factory 'package.module:function' whose function takes the cell config and returns a neural_ode Problem"


def _error(message: str):
    from neural_ode.errors import ConfigError

    return ConfigError(message)


class FactoryWorkload(Workload):
    """A workload whose problem a user's ``factory(config)`` builds.

    Resolving the name imports nothing: the module is imported (its code run) on the first
    :meth:`build`, which the sweep does only in bounded child processes
    (:func:`neural_ode.sweeping.factory_check.check_factory`, the reference and cell processes),
    never in the command line's own process.
    """

    defaults = DEFAULTS

    def __init__(self, spec: str, factory=None):
        self.name = spec
        self._factory = factory
        self.description = f"user's model: {spec}"
        #: names in ``sys.modules`` before the factory's module was imported (None: not imported here)
        self._before: frozenset[str] | None = None
        #: modules this process loaded while importing the module and building problems (any name:
        #: ``importlib.import_module(computed)`` included)
        self.loaded: set[str] = set()

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
            before = frozenset(sys.modules)
            self._factory = _import_factory(self.name)
            self._before = before
            self._note_loaded()
        return self._factory

    def _note_loaded(self) -> None:
        if self._before is not None:
            self.loaded.update(name for name in list(sys.modules) if name not in self._before)

    def parameters_key(self, width: int, layers: int, stage: int = 0) -> str:
        """A hash of every source file importing the factory's module runs (its own, the helper
        modules it imports from the user's folders, their packages' ``__init__.py``) and of the
        libraries' versions, found without importing anything (:mod:`neural_ode.workloads.sources`),
        and, in a process that has built the problem, of the file of every module loaded since the
        factory's import outside the standard library and site-packages (an import by a computed
        name, ``importlib.import_module(name)``, too): an edit of any of them gets a new reference.

        Only a process that has built the problem loads a cached value by this key (the reference
        and the round-off floor are looked up after the build); the command line's own process,
        which never imports the user's code, uses it to plan the reference pass only."""
        from neural_ode.workloads.sources import sources_digest

        _on_path()
        return "src" + sources_digest(self.name.partition(":")[0], loaded=sorted(self.loaded))[:16]

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
            self._note_loaded()
            raise _error(
                f"workload {self.name!r}: the factory raised {_first_line(exc)}; "
                "expected it to return a neural_ode.workloads.Problem for the cell config"
            ) from exc
        self._note_loaded()  # what the factory imported when called: part of the reference's key
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


def problem_sizes(problem: Problem) -> dict:
    """The sizes a factory's problem has, read from what it returns: ``batch`` = ``y0.shape[0]`` (1 for a
    1-D ``y0``), ``dim`` = the state size of one sample, ``y0[0].numel()`` (``y0.numel()`` for a 1-D
    ``y0``; an image batch (B, C, H, W) has dim C·H·W), ``params`` = the trainable parameters' element
    count, and ``shape`` (y0's, for messages). ``width`` and ``layers`` cannot be read from a field:
    they stay what the config passed to the factory says."""
    y0 = problem.y0
    batch, dim = (int(y0.shape[0]), int(y0[0].numel())) if y0.ndim >= 2 else (1, int(y0.numel()))
    params = sum(p.numel() for p in problem.parameters() if p.requires_grad)
    return {"batch": batch, "dim": dim, "params": int(params), "shape": list(y0.shape)}
