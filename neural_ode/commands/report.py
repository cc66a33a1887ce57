"""``neural-ode-bench report INPUT... --out DIR``: render a report from result files.

Inputs may be any mix of formats the readers in :mod:`neural_ode.results.readers` know (this tool's
``results.jsonl`` or a sweep directory holding one, pytest-benchmark JSON, ...). Writes
``report.html``, ``report.md`` and ``figures/*.png`` into DIR; measures nothing.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from neural_ode.errors import UsageError

NAME = "report"
HELP = "render report.html, report.md and figures/*.png from result files (results.jsonl, pytest-benchmark JSON)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """INPUT... (files or sweep directories), --out DIR, --no-figures and --commit."""
    parser.add_argument(
        "inputs",
        nargs="+",
        type=Path,
        metavar="INPUT",
        help="result files or directories: results.jsonl, a sweep directory, pytest-benchmark JSON or a .benchmarks "
        "directory, an ASV results or machine directory",
    )
    parser.add_argument("--out", type=Path, required=True, metavar="DIR", help="directory to write the report into")
    parser.add_argument(
        "--no-figures",
        dest="figures",
        action="store_false",
        help="tables only: draw no figure (the report of a large history in seconds; the data is in the CSVs)",
    )
    parser.add_argument(
        "--commit",
        metavar="SHA",
        help="the commit the advice, claims and figures use when the inputs span several (default: the newest)",
    )


def read_inputs(paths: list[Path]):
    """One DataFrame of every input; an unreadable input is a :class:`UsageError` naming it."""
    import pandas as pd

    from neural_ode.results.readers import UnreadableResults, read_results

    frames = []
    for path in paths:
        try:
            frame = read_results([path], progress=True)
        except UnreadableResults as exc:
            raise UsageError(str(exc)) from exc
        except (
            OSError,
            ValueError,  # UnicodeDecodeError, JSONDecodeError
            KeyError,
            TypeError,
            AttributeError,
            IndexError,
            SyntaxError,
            RecursionError,
            OverflowError,
        ) as exc:  # a result file of a known format with fields of the wrong type or shape
            message = str(exc).splitlines()[0][:200] if str(exc) else ""
            raise UsageError(f"{path}: cannot be read as results ({type(exc).__name__}: {message})") from exc
        if frame.empty:
            raise UsageError(f"{path}: holds no results")
        frames.append(frame)
    from neural_ode.results.compare import cell_label
    from neural_ode.results.identity import merge_duplicates

    merged = merge_duplicates(pd.concat(frames, ignore_index=True), label=cell_label)
    if merged.warning():
        print(f"warning: {merged.warning()}", file=sys.stderr)
    return merged.frame


def main(args: argparse.Namespace) -> int:
    """Read the inputs, render the report, print where it is."""
    from neural_ode.reporting import render_report

    frame = read_inputs(args.inputs)
    if args.out.exists() and not args.out.is_dir():
        raise UsageError(f"--out {args.out}: exists and is not a directory")
    try:
        args.out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UsageError(f"--out {args.out}: cannot create the folder: {exc.strerror or exc}") from exc
    from neural_ode.results.compare import CompareError

    try:
        html = render_report(frame, args.out, commit=args.commit, figures=args.figures)
    except CompareError as exc:
        raise UsageError(f"--commit: {exc}") from exc
    print(f"report: {html} ({len(frame)} cells; also {html.with_name('report.md')} and {html.parent / 'figures'}/)")
    return 0
