"""The ``neural-ode-bench`` command line: a thin front end over the measuring core.

Each subcommand is a module in :mod:`neural_ode.commands` defining ``NAME``, ``HELP``,
``add_arguments(parser)`` and ``main(args) -> int``; this file only dispatches to them, so a
new subcommand is a new module and nothing else.

:func:`main` is the one error boundary of the tool: bad input a user can cause
(:class:`UsageError`, :class:`ConfigError` of :mod:`neural_ode.errors`, an OS error on a path they gave)
becomes one line on stderr and exit status 2; an unexpected internal error becomes a short
message saying where to report it and exit status 70 (``EX_SOFTWARE``), its traceback shown only
with ``NEURAL_ODE_BENCH_DEBUG=1``. Records already written stay on disk either way: a sweep
appends and fsyncs each one as it lands.
"""

from __future__ import annotations

import argparse
import importlib
import os
import pkgutil
import sys
import traceback
import warnings

import neural_ode.commands
from neural_ode.commands import one_line, warning_printer
from neural_ode.errors import ConfigError, UsageError

#: exit status of an unexpected internal error (BSD sysexits' EX_SOFTWARE)
EXIT_INTERNAL = 70
#: where an internal error should be reported
REPORT_TO = "the neural-ode-bench issue tracker (with the command line and this message)"


def command_modules() -> list:
    """The subcommand modules, in name order."""
    names = sorted(info.name for info in pkgutil.iter_modules(neural_ode.commands.__path__))
    return [importlib.import_module(f"neural_ode.commands.{name}") for name in names if not name.startswith("_")]


class OneLineParser(argparse.ArgumentParser):
    """An argument parser whose errors are one line on stderr (``prog: error: ...``), exit status 2."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {one_line(message)}\n")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every subcommand."""
    parser = OneLineParser(
        prog="neural-ode-bench",
        description="Measure wall time, NFE and memory of Neural ODE gradient methods (adjoint vs direct).",
    )
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module in command_modules():
        sub = subparsers.add_parser(module.NAME, help=module.HELP, description=module.HELP)
        module.add_arguments(sub)
        sub.set_defaults(handler=module.main)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the command line; returns the exit status: 0 done, 2 bad input, 130 interrupted,
    70 an internal error (a bug: the message says where to report it)."""
    words = sys.argv[1:] if argv is None else list(argv)
    if words[:1] in (["run"], ["train-bench"]) and not {"-h", "--help", "--render", "--dry-run", "--dask"} & set(words):
        from neural_ode.sweeping.worker import begin_worker_server

        begin_worker_server()  # the cell processes' server imports torch beside this process's own imports
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse has printed its one-line usage error (2) or the help (0)
        return exc.code if isinstance(exc.code, int) else 2
    prefix = f"neural-ode-bench {args.command}"

    try:
        with warnings.catch_warnings():
            warnings.showwarning = warning_printer(prefix)
            return int(args.handler(args) or 0)
    except (UsageError, ConfigError) as exc:
        print(f"{prefix}: error: {one_line(exc)}", file=sys.stderr)
        return 2
    except OSError as exc:  # a path the user gave: unwritable, under a file, on a read-only or virtual filesystem
        where = f"{exc.filename}: " if exc.filename else ""
        print(f"{prefix}: error: {where}{one_line(exc.strerror or exc)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"{prefix}: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # the error boundary: a bug, reported as such
        if os.environ.get("NEURAL_ODE_BENCH_DEBUG"):
            traceback.print_exc()
        print(
            f"{prefix}: internal error: {type(exc).__name__}: {one_line(exc)[:300]}; this is a bug in "
            f"neural-ode-bench, please report it to {REPORT_TO} (set NEURAL_ODE_BENCH_DEBUG=1 for the traceback); "
            "what was already measured stays on disk (a sweep's results.jsonl)",
            file=sys.stderr,
        )
        return EXIT_INTERNAL


if __name__ == "__main__":
    sys.exit(main())
