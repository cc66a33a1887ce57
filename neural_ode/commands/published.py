"""``neural-ode-bench published [INPUT...] --out DIR``: our figures beside seven published ones.

Reads result inputs (any the readers know; the ``validation`` preset's sweep holds the cells every
row needs), counts the joint and per-sample steps of torchode's Van der Pol batch (deterministic),
and writes ``published.md`` and ``published.csv`` into DIR: per row the published claim, its source,
the published number, ours, what ours was measured on, and a verdict. With inputs, it also writes the
report of those cells there, the table as its section "Against published results".
"""

from __future__ import annotations

import argparse
from pathlib import Path

NAME = "published"
HELP = "our measurements beside seven published results (published.md, published.csv)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """INPUT... (result files or sweep directories; optional) and --out DIR."""
    parser.add_argument("inputs", nargs="*", type=Path, metavar="INPUT",
                        help="result files or sweep directories (e.g. of `run --preset validation`)")  # fmt: skip
    parser.add_argument("--out", type=Path, required=True, metavar="DIR", help="where to write published.md/.csv")
    parser.add_argument("--no-training", action="store_true",
                        help="skip the rows that train models or count on fitted fields (solver dependence, "
                        "seminorm settings, the digits ODE-Net's steps)")  # fmt: skip


def main(args: argparse.Namespace) -> int:
    """Read the inputs, fill the table, write it, print where it is."""
    import pandas as pd

    from neural_ode.apps.published.table import published_table
    from neural_ode.commands.report import read_inputs
    from neural_ode.reporting.columns import prepare
    from neural_ode.storage.writer import write_file, write_table
    from neural_ode.validation import UsageError

    frame = prepare(read_inputs(args.inputs) if args.inputs else pd.DataFrame())
    table = published_table(frame, train=not args.no_training)
    if args.out.exists() and not args.out.is_dir():
        raise UsageError(f"--out {args.out}: exists and is not a directory")
    args.out.mkdir(parents=True, exist_ok=True)
    write_table(table, args.out / "published.csv", args.out)
    sources = ", ".join(str(p) for p in args.inputs) or "no results file (only the counted rows)"
    text = "# Against published results\n\nOur figures from " + sources + ", beside the published ones. Each row " \
        "says what kind of source it is, the setting the source measured in, what ours was measured on (counts, " \
        "measured in that setting where the sweep has no such cell), the mechanism that makes it hold or fail, and " \
        "a verdict that names the setting: \"not reproduced\" means not in that setting, on these cells.\n\n"
    write_file(args.out / "published.md", text + table.to_markdown(index=False) + "\n", args.out)
    print(table[["claim", "verdict"]].to_string(index=False))
    print(args.out / "published.md")
    if len(frame):  # the report of the same cells, with the table as its section "Against published results"
        from neural_ode.reporting import render_report

        print(render_report(frame, args.out, published=table))
    return 0
