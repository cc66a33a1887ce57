"""``neural-ode-bench compare BASE NEW``: which figures changed between two result sets, as a gate.

BASE and NEW are each one or more result inputs of any kind the readers know (``results.jsonl`` or
a sweep directory, pytest-benchmark JSON or a ``.benchmarks`` directory, an ASV results directory or
machine directory); repeat ``--base``/``--new`` style is not needed: ``compare A B`` takes one input
per side, ``compare --base A1 --base A2 --new B`` several. Each side keeps its newest commit unless
``--base-commit``/``--new-commit`` name one. The tests are those of :mod:`neural_ode.results.compare`.

A timing (or RSS peak) between two runs is judged only where both are known to be one machine under
alike recorded load and contention; elsewhere it is printed as evidence with why it was not judged
("not judged") and never fails the gate. Exit status: 0 when nothing regressed, 1 on a regression, 2
on bad input (an unreadable input, a commit that is not there, no cell in common, other machines
without ``--across-machines``).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from neural_ode.errors import UsageError

NAME = "compare"
HELP = "compare two result sets cell by cell; exit 1 when a figure regressed (a CI gate)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """BASE NEW (or --base/--new, repeatable), commits, thresholds and what to show."""
    parser.add_argument("inputs", nargs="*", type=Path, metavar="BASE NEW", help="the two result sets")
    parser.add_argument("--base", action="append", type=Path, default=[], metavar="INPUT", help="a BASE input")
    parser.add_argument("--new", action="append", type=Path, default=[], metavar="INPUT", help="a NEW input")
    parser.add_argument("--base-commit", metavar="SHA", help="the BASE commit (default: its newest)")
    parser.add_argument("--new-commit", metavar="SHA", help="the NEW commit (default: its newest)")
    parser.add_argument(
        "--time-factor", default="1.25", metavar="F",
        help="timing ratio that counts where a timing is judged (default 1.25: sees a 40 %% regression)",
    )  # fmt: skip
    parser.add_argument(
        "--alpha", default="0.002", metavar="P", help="Mann-Whitney U significance (default 0.002, as asv's)"
    )
    parser.add_argument("--error-rtol", default="0.05", metavar="R", help="relative tolerance on errors (0.05)")
    parser.add_argument(
        "--min-samples", default="7", metavar="N",
        help="timed repeats a side a timing test needs; fewer: 'not enough samples', never a regression (default 7: "
        "the fewest whose test can reach p < 0.002)",
    )  # fmt: skip
    parser.add_argument(
        "--load-tolerance", default="0.5", metavar="L",
        help="the most the two runs' recorded load averages (and cores other processes kept busy) may differ for a "
        "timing to be judged (default 0.5)",
    )  # fmt: skip
    parser.add_argument("--rss-factor", default="1.25", metavar="F", help="RSS peak ratio that counts (1.25)")
    parser.add_argument(
        "--timings",
        default="gate",
        choices=("gate", "report", "off"),
        help="gate: a slower timing fails (default); report: shown only; off: not compared",
    )
    parser.add_argument("--all", action="store_true", help="print every compared figure, not only the changes")
    parser.add_argument(
        "--across-machines",
        action="store_true",
        help="pair cells measured on different machines or library versions (refused by default: their figures "
        "differ for reasons other than the code)",
    )


def _positive(name: str, text: str, above_one: bool = False) -> float:
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not (value > (1 if above_one else 0)) or value == float("inf"):
        allowed = "a number above 1" if above_one else "a positive number"
        raise UsageError(f"--{name} takes {allowed}, got {text!r}")
    return value


def _count(name: str, text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 2:
        raise UsageError(f"--{name} takes an integer of at least 2, got {text!r}")
    return value


def _sides(args: argparse.Namespace) -> tuple[list[Path], list[Path]]:
    if args.inputs and (args.base or args.new):
        raise UsageError("give BASE NEW as two arguments, or --base/--new, not both")
    if args.inputs:
        if len(args.inputs) != 2:
            raise UsageError(f"compare takes two inputs, BASE and NEW; got {len(args.inputs)}")
        return [args.inputs[0]], [args.inputs[1]]
    if not (args.base and args.new):
        raise UsageError("compare needs BASE and NEW inputs (BASE NEW, or --base INPUT --new INPUT)")
    return args.base, args.new


def main(args: argparse.Namespace) -> int:
    """Read both sides, compare, print the changes and a summary; 1 on a regression."""
    import pandas as pd

    from neural_ode.commands.report import read_inputs
    from neural_ode.results.compare import CompareError, Thresholds, compare_frames
    from neural_ode.results.compare_table import changes_table

    thresholds = Thresholds(
        time_factor=_positive("time-factor", args.time_factor, above_one=True),
        alpha=_positive("alpha", args.alpha),
        error_rtol=_positive("error-rtol", args.error_rtol),
        rss_factor=_positive("rss-factor", args.rss_factor, above_one=True),
        timings=args.timings,
        min_samples=_count("min-samples", args.min_samples),
        load_tolerance=_positive("load-tolerance", args.load_tolerance),
    )
    base_paths, new_paths = _sides(args)
    base, new = read_inputs(base_paths), read_inputs(new_paths)
    for side, frame in (("BASE", base), ("NEW", new)):
        hosts = frame["hostname"].dropna().unique() if "hostname" in frame else []
        if len(hosts) > 1:
            print(f"note: {side} holds results of {len(hosts)} hosts ({', '.join(map(str, hosts))}); "
                  "a cell measured on several keeps its newest measurement", file=sys.stderr)  # fmt: skip
    try:
        comparison = compare_frames(
            base, new, thresholds, base_commit=args.base_commit, new_commit=args.new_commit,
            across_machines=args.across_machines,
        )  # fmt: skip
    except CompareError as exc:
        raise UsageError(str(exc)) from exc
    if comparison.machines:
        what = "; ".join(f"{axis} {', '.join(b)} vs {', '.join(n)}" for axis, (b, n) in comparison.machines.items())
        print(f"compared across machines (--across-machines): {what}")
    if comparison.duplicates:
        cells = comparison.duplicates
        print(f"warning: {len(cells)} cells measured more than once on a side with different figures, the latest "
              "kept: " + "; ".join(cells[:5]) + (" ..." if len(cells) > 5 else ""), file=sys.stderr)  # fmt: skip
    table = changes_table(comparison, every=args.all)
    with pd.option_context("display.width", 250, "display.max_columns", None, "display.max_rows", None,
                           "display.max_colwidth", 80):  # fmt: skip
        if len(table):
            print(table.to_string(index=False))
    commits = f"{_short(comparison.base_commit)} -> {_short(comparison.new_commit)}"
    for side, cells in (("BASE", comparison.only_base), ("NEW", comparison.only_new)):
        if cells:
            print(f"only in {side} ({len(cells)} cells, not compared): " + "; ".join(cells[:5])
                  + (" ..." if len(cells) > 5 else ""), file=sys.stderr)  # fmt: skip
    if len(comparison.unpaired):
        print("unpaired cells, by the axes in which each differs from its nearest cell on the other side:")
        print(comparison.unpaired.rename(columns={"axes": "axes that differ"}).to_string(index=False))
    regressions = comparison.regressions
    counts = comparison.table["change"].value_counts()
    unpaired = {side: int(comparison.unpaired.loc[comparison.unpaired["side"] == side, "cells"].sum())
                for side in ("BASE", "NEW")}  # fmt: skip
    summary = (
        f"{comparison.paired} cells paired ({commits}; "
        f"unpaired: {unpaired['BASE']} of BASE, {unpaired['NEW']} of NEW), "
        f"{len(comparison.table)} figures compared: "
        f"{counts.get('regression', 0)} regressions, {counts.get('improvement', 0)} improvements, "
        f"{counts.get('changed', 0)} other changes"
    )
    summary += _withheld(comparison, thresholds)
    print(summary)
    if len(regressions):
        names = ", ".join(sorted(regressions["metric"].unique()))
        cells = list(dict.fromkeys(regressions["cell"]))
        print(f"REGRESSION in {names}: " + "; ".join(cells[:5]) + (" ..." if len(cells) > 5 else ""))
        return 1
    return 0


def _withheld(comparison, thresholds) -> str:
    """The summary's tail: the figures not judged, by why, and those recorded on one side only."""
    from neural_ode.results.compare import NOT_ENOUGH_SAMPLES, NOT_JUDGED, ONE_SIDE

    table = comparison.table
    out = ""
    withheld = table[table["change"] == NOT_JUDGED]
    if len(withheld):
        why = withheld["why"].value_counts()
        reasons = {"machine": "runs not known to be one machine", "conditions": "load or contention differ",
                   "samples": "no samples recorded"}  # fmt: skip
        parts = ", ".join(f"{count} {reasons.get(name, name)}" for name, count in why.items())
        out += (f"; {len(withheld)} figures not judged ({parts}; evidence only, never a regression; "
                f"{int(withheld['evident'].sum())} show a change, listed above)")  # fmt: skip
    few = int((table["change"] == NOT_ENOUGH_SAMPLES).sum())
    if few:
        out += (f"; {few} timings {NOT_ENOUGH_SAMPLES} (fewer than {thresholds.min_samples} repeats a side: not "
                "tested, never a regression; measure with more --repeats)")  # fmt: skip
    one_side = table[table["change"] == ONE_SIDE]
    if len(one_side):
        shown = ", ".join(f"{label} {test.removeprefix('not measured in ')} lacks it ({count})"
                          for (label, test), count in one_side.groupby(["label", "test"]).size().items())  # fmt: skip
        out += f"; {len(one_side)} figures recorded on one side only, not compared: {shown}"
    return out


def _short(commit) -> str:
    return "no commit" if commit is None else str(commit)[:10]
