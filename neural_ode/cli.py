"""The ``neural-ode-bench`` command line: a thin front end over the measuring core.

Each subcommand is a module in :mod:`neural_ode.commands` defining ``NAME``, ``HELP``,
``add_arguments(parser)`` and ``main(args) -> int``; this file only dispatches to them, so a
new subcommand is a new module and nothing else. A :class:`UsageError` raised by a
subcommand becomes a one-line message and exit status 2.
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys

import neural_ode.commands


class UsageError(Exception):
    """Bad input from the user: printed as one line, exit status 2."""


def command_modules() -> list:
    """The subcommand modules, in name order."""
    names = sorted(info.name for info in pkgutil.iter_modules(neural_ode.commands.__path__))
    return [importlib.import_module(f"neural_ode.commands.{name}") for name in names if not name.startswith("_")]


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every subcommand."""
    parser = argparse.ArgumentParser(
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
    """Run the command line; returns the exit status (2 for bad input)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.handler(args) or 0)
    except UsageError as exc:
        print(f"neural-ode-bench {args.command}: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
