"""Subcommands of ``neural-ode-bench``: one module each (see :mod:`neural_ode.cli`), and the one
way they print a message (:func:`one_line`, :func:`warning_printer`)."""

from __future__ import annotations

import sys


def one_line(text) -> str:
    """``text`` with every run of whitespace (newlines included) as one space: one line on stderr."""
    return " ".join(str(text).split())


def warning_printer(prefix: str):
    """A ``warnings.showwarning`` that prints ``PREFIX: warning: MESSAGE`` as one line on stderr
    (``prefix``: ``neural-ode-bench run``)."""

    def show(message, category, filename, lineno, file=None, line=None) -> None:
        print(f"{prefix}: warning: {one_line(message)}", file=sys.stderr)

    return show
