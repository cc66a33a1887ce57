"""``neural-ode-bench ab BASE NEW [run options]``: an A/B gate between two revisions, timed in paired rounds.

BASE and NEW are git revisions of this project (anything ``git rev-parse`` takes: a branch, a tag,
``HEAD~1``, a hash; ``.`` is the working tree as it is, uncommitted changes included). Each is
checked out into its own scratch worktree (``git worktree add --detach`` in a temporary folder,
removed afterwards) and measured by its own worker processes
(:mod:`neural_ode.measuring.revision_worker`, run with ``PYTHONPATH`` set to that worktree in
this interpreter, or in ``--base-python``/``--new-python``), on the cells ``run`` would measure for
the same options (the same parsing and sweep planning: :mod:`neural_ode.commands.run`).

Why paired rounds: two sweeps run at different times see different loads, and a shared machine's
load moves timings by more than the changes worth finding (two runs of identical code once
"regressed" by +127 %). Here both sides stay alive side by side; each round times, per cell, one
forward+backward of BASE and one of NEW back to back (each after an untimed run that re-warms its
caches), in ABBA order (BASE first in even rounds, NEW first in odd ones, shifted per cell), so a
load that lasts longer than one pair slows both alike and cancels in the round's ratio NEW/BASE.
The rounds are spread over ``--processes`` pairs of fresh worker processes, so that an accident of
one process (its memory layout, its core) is one more source of round-to-round spread rather than a
bias of every round.

The verdict on a timing is the median of the per-round ratios with its 95 % interval from order
statistics (:func:`neural_ode.measuring.intervals.honest_median_interval`: the ranks the
binomial(n, 1/2) quantiles give, exact coverage for independent rounds whatever the ratios'
distribution, and ranks pushed outwards when the ratios' lag-1 autocorrelation says the rounds are
not independent). Not a
bootstrap: the ratios are skewed by preemption bursts and, with tens of rounds, the bootstrap
distribution of a median is lumpy and its percentile interval under-covers; the order-statistics
interval needs no such approximation. Rounds are close to independent because the pairing removes
what rounds share (the machine's slow load); the lag-1 autocorrelation of the log ratios is printed
per figure and a warning names any figure where it exceeds 2/sqrt(n) (the interval is then widened
for it, or withheld: "not enough rounds"). A timing regressed when its whole interval lies above
``--threshold`` (default 1.05), improved when it lies below 1/threshold.

Exact figures (NFE forward/backward, saved bytes, parameters; instruction counts with
``--instructions``) and errors (gradient, solution: within ``--error-rtol``) are compared as
``compare`` compares them (:func:`neural_ode.results.compare.compare_figure`), from each side's own
``measure_cell``. A cell that fails on NEW but not on BASE is a regression of its status.

Exit status: 0 nothing regressed, 1 a regression (NEW's worker failing counts as one), 2 bad input (an
unknown revision is named; a BASE that cannot be measured).
"""

from __future__ import annotations

import argparse
import math
import os
import shutil
import sys
from pathlib import Path

from neural_ode.commands import run as run_command
from neural_ode.measuring.revisions import Revision, Worker, WorkerError, checkouts, resolve
from neural_ode.validation import UsageError

NAME = "ab"
HELP = "A/B gate between two git revisions: paired, interleaved timing rounds; exit 1 on a regression"
#: paired rounds by default, and the fewest that give a 95 % interval of their median (n >= 6)
DEFAULT_ROUNDS, MIN_ROUNDS = 30, 6
DEFAULT_THRESHOLD = 1.05
#: the run options that mean nothing for ab (it writes no sweep folder and uses no cluster)
_NOT_FOR_AB = ("resume", "extend", "wait", "scheduler")
#: run's timing settings, which --rounds replaces: accepted (a --config file shared with run) and unused
_ROUNDS_INSTEAD = ("repeats", "max_repeats", "ci_halfwidth", "time_budget")

EPILOG = """\
A library under test: the worker of each side runs in --base-python / --new-python (default: this
interpreter), with --base-pythonpath / --new-pythonpath DIRS placed after that side's checkout on
PYTHONPATH. To A/B two versions of torchdiffeq on the same code, give one revision twice and two
venvs:  ab HEAD HEAD --base-python venv-old/bin/python --new-python venv-new/bin/python ...
(each venv needs this project's dependencies; the versions each side imported are printed).

run's --repeats, --max-repeats, --ci-halfwidth and --time-budget are not used (--rounds sets the count);
--warmup is each worker's warm-up runs per cell, --timeout bounds each side's exact run of a cell.

Timings: per cell and figure, the median of the per-round ratios NEW/BASE with its 95 % interval
(order statistics over the rounds); a regression is an interval wholly above --threshold.
Exact figures must be equal (instruction counts within their declared tolerance); errors within
--error-rtol. Exit 0 clean, 1 regression, 2 bad input."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """BASE NEW, the run options (axes, preset, config, threads...), and ab's own."""
    parser.add_argument("base", metavar="BASE", help="the base revision (git rev-parse syntax; '.': the working tree)")
    parser.add_argument("new", metavar="NEW", help="the new revision")
    run_command.add_arguments(parser)
    for action in parser._actions:  # argparse has no public way to drop an option it was given
        if action.dest in _NOT_FOR_AB + _ROUNDS_INSTEAD:
            action.help = argparse.SUPPRESS
        elif action.dest == "out":
            action.help = "write ab.csv (every figure) and rounds.csv (every timed run) there (default: none)"
    ab = parser.add_argument_group("A/B")
    ab.add_argument("--rounds", default=str(DEFAULT_ROUNDS), metavar="N",
                    help=f"paired timing rounds (default {DEFAULT_ROUNDS}; at least {MIN_ROUNDS})")  # fmt: skip
    ab.add_argument("--processes", default="3", metavar="N",
                    help="worker process pairs the rounds are spread over (default 3)")  # fmt: skip
    ab.add_argument("--threshold", default=str(DEFAULT_THRESHOLD), metavar="R",
                    help=f"regression: its interval lies above R (default {DEFAULT_THRESHOLD})")  # fmt: skip
    ab.add_argument("--error-rtol", default="0.05", metavar="R", help="relative tolerance on errors (default 0.05)")
    for side in ("base", "new"):
        ab.add_argument(f"--{side}-python", metavar="PYTHON", help=f"the interpreter of the {side.upper()} workers")
        ab.add_argument(
            f"--{side}-pythonpath",
            metavar="DIRS",
            help=f"folders ({os.pathsep}-separated) after the {side.upper()} checkout on PYTHONPATH",
        )
    ab.add_argument("--repo", metavar="DIR", default=".", help="the git repository of the revisions (default: .)")
    parser.epilog = EPILOG
    parser.formatter_class = argparse.RawDescriptionHelpFormatter


def _number(name: str, text: str, *, integer: bool = False, minimum: float = 0.0, above: bool = False):
    try:
        value = int(text) if integer else float(text)
    except ValueError:
        value = math.nan
    if not (value > minimum if above else value >= minimum) or value == math.inf:
        what = "an integer" if integer else "a number"
        raise UsageError(f"--{name} takes {what} {'above' if above else 'of at least'} {minimum:g}, got {text!r}")
    return value


def _python(name: str, value: str | None) -> str:
    if value is None:
        return sys.executable
    found = shutil.which(value)
    if found is None:
        raise UsageError(f"--{name} {value}: not an executable interpreter")
    return found


def plan_cells(args: argparse.Namespace) -> tuple[list, int, dict]:
    """The cells ``run`` would measure for these options, torch's threads, and the settings."""
    from neural_ode.config import ConfigError
    from neural_ode.sweeping.plan import MAX_CELLS, plan
    from neural_ode.sweeping.presets import DEFAULT_PRESET, PRESETS
    from neural_ode.validation import parse_int

    settings = run_command.gather(args)
    given_elsewhere = [key for key in _NOT_FOR_AB if settings.get(key)]
    if given_elsewhere:
        raise UsageError(f"ab takes no --{given_elsewhere[0]} (it runs both revisions here and keeps no sweep folder)")
    preset_name = str(settings.get("preset", DEFAULT_PRESET))
    if preset_name not in PRESETS:
        raise UsageError(f"unknown preset {preset_name!r}; allowed: {', '.join(PRESETS)}")
    preset = PRESETS[preset_name]
    given = {name: settings[name] for name in run_command.AXES if name in settings}
    try:
        cells = plan(preset, given, run_command.run_settings(settings, preset),
                     max_cells=None if settings.get("yes") else MAX_CELLS)  # fmt: skip
        threads = parse_int("--threads", settings.get("threads", preset.threads), maximum=1024, error=ConfigError)
    except ConfigError as exc:
        raise UsageError(str(exc)) from exc
    return cells, threads, settings


def main(args: argparse.Namespace) -> int:
    """Check everything given, measure both sides in paired rounds, print the figures; 1 on a regression."""
    from neural_ode.measuring.paired import exact_rows, timing_rows
    from neural_ode.sweeping.plan import cell_label

    rounds = _number("rounds", args.rounds, integer=True, minimum=MIN_ROUNDS)
    processes = _number("processes", args.processes, integer=True, minimum=1)
    threshold = _number("threshold", args.threshold, minimum=1.0, above=True)
    error_rtol = _number("error-rtol", args.error_rtol, above=True)
    cells, threads, settings = plan_cells(args)
    instructions = bool(settings.get("instructions"))
    out = Path(settings["out"]) if settings.get("out") else None
    if out is not None and out.exists() and not out.is_dir():
        raise UsageError(f"--out {out}: exists and is not a directory")
    sides = [
        Revision("BASE", args.base, resolve(args.repo, args.base, "BASE"), _python("base-python", args.base_python),
                 args.base_pythonpath),
        Revision("NEW", args.new, resolve(args.repo, args.new, "NEW"), _python("new-python", args.new_python),
                 args.new_pythonpath),
    ]  # fmt: skip
    print(f"neural-ode-bench ab: {len(cells)} cells, {rounds} rounds over {processes} process pairs; "
          + "; ".join(side.describe() for side in sides), file=sys.stderr)  # fmt: skip
    with checkouts(args.repo, sides):
        try:
            records, times, versions = measure(sides, cells, threads, rounds, processes)
        except WorkerError as exc:  # NEW that breaks is a regression; BASE that cannot be measured, bad input
            if exc.label == "BASE":
                raise UsageError(str(exc)) from exc
            print(f"REGRESSION: {exc}")
            return 1
        if instructions:
            for side, counts in count_instructions(sides, cells, threads).items():
                for record, count in zip(records[side], counts):
                    record.update(count)
    labels = [cell_label(cell) for cell in cells]
    exact = exact_rows(labels, records["BASE"], records["NEW"], error_rtol)
    timed = timing_rows(labels, times, threshold)
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        pd_concat(exact, timed).to_csv(out / "ab.csv", index=False)
        pd_frame(times).to_csv(out / "rounds.csv", index=False)
    return print_report(sides, versions, exact, timed, threshold, instructions)


def pd_concat(*frames):
    """The tables one below the other (the figures of ``ab.csv``)."""
    import pandas as pd

    return pd.concat([f for f in frames if len(f)], ignore_index=True)


def pd_frame(rows: list[dict]):
    """``rows`` as a table (``rounds.csv``)."""
    import pandas as pd

    return pd.DataFrame(rows)


def print_report(sides, versions: dict, exact, timed, threshold: float, instructions: bool) -> int:
    """Print what each side ran, the timing ratios, the changed exact figures and the verdict; the exit status."""
    import pandas as pd

    for side in sides:
        found = versions.get(side.label, {})
        print(f"{side.describe()}: " + ", ".join(f"{k} {v}" for k, v in sorted(found.items())))
    with pd.option_context("display.width", 250, "display.max_columns", None, "display.max_rows", None,
                           "display.max_colwidth", 70):  # fmt: skip
        if len(timed):
            shown = pd.DataFrame({
                "cell": timed["cell"], "figure": timed["label"],
                "BASE ms": (timed["base"] * 1e3).map("{:.3f}".format),
                "NEW ms": (timed["new"] * 1e3).map("{:.3f}".format),
                "NEW/BASE [95 %]": [f"{r:.3f} [{lo:.3f}-{hi:.3f}]"
                                    for r, lo, hi in zip(timed["ratio"], timed["low"], timed["high"])],
                "rounds": timed["rounds"], "lag-1": timed["rho"].map("{:+.2f}".format), "verdict": timed["change"],
            })  # fmt: skip
            print(shown.to_string(index=False))
        changed = exact[exact["change"] != "same"]
        if len(changed):
            print(changed[["cell", "label", "base", "new", "change", "test"]].to_string(index=False))
    loose = timed[timed["rho"].abs() > 2 / timed["rounds"].clip(lower=1) ** 0.5] if len(timed) else timed
    for row in loose.itertuples():
        print(f"warning: {row.cell} {row.label}: lag-1 autocorrelation {row.rho:+.2f} of the rounds' ratios: the "
              "rounds are less independent than the interval assumes", file=sys.stderr)  # fmt: skip
    timing_regressions = timed[timed["change"] == "regression"] if len(timed) else timed
    exact_regressions = exact[exact["change"] == "regression"]
    counted = "" if instructions else " (no instruction counts: --instructions)"
    print(f"{exact['index'].nunique() if len(exact) else 0} cells compared: {len(exact)} exact figures{counted}, "
          f"{(exact['change'] == 'regression').sum()} regressed, {(exact['change'] != 'same').sum()} changed; "
          f"{len(timed)} timings, {len(timing_regressions)} regressed (interval above {threshold:g}), "
          f"{(timed['change'] == 'improvement').sum() if len(timed) else 0} improved")  # fmt: skip
    if len(timing_regressions) or len(exact_regressions):
        cells = list(dict.fromkeys([*exact_regressions["cell"], *timing_regressions["cell"]]))
        print("REGRESSION in: " + "; ".join(cells[:5]) + (" ..." if len(cells) > 5 else ""))
        return 1
    return 0


def measure(sides: list[Revision], cells: list, threads: int, rounds: int, processes: int) -> tuple:
    """Each side's records (exact figures, from its first worker), every timed run, and the versions
    each side's worker imported.

    Returns ``(records, times, versions)``: ``records[side label]`` one record dict per cell; ``times`` one
    dict per timed run: round, process, cell index, side, order in the pair, forward_s, backward_s.
    """
    from tqdm import tqdm

    configs = [cell.to_dict() for cell in cells]
    records: dict[str, list] = {}
    versions: dict[str, dict] = {}
    times: list[dict] = []
    blocks = [len(range(rounds)[p::processes]) for p in range(processes)]
    progress = tqdm(total=rounds * len(cells), desc="ab rounds", unit="pair", file=sys.stderr, leave=False)
    round_ = 0
    for process in range(processes):
        if not blocks[process]:
            continue
        workers = [Worker(side, threads) for side in sides]
        try:
            for worker in workers:  # both import at once: their start-up is not timed
                worker.send({"op": "prepare", "cells": configs, "exact": process == 0})
            for side, worker in zip(sides, workers):
                answer = worker.receive()
                if process == 0:
                    records[side.label] = answer["records"]
                    versions[side.label] = dict(worker.ready.get("versions", {}), neural_ode=worker.ready["package"])
                    if answer.get("dropped"):
                        print(f"note: {side.label} ({side.rev}) knows no {', '.join(answer['dropped'])}: "
                              "those settings are not applied there", file=sys.stderr)  # fmt: skip
            ok = [i for i in range(len(cells)) if all(records[s.label][i].get("status", "ok") == "ok" for s in sides)]
            for _ in range(blocks[process]):
                for position, index in enumerate(ok):
                    order = (0, 1) if (round_ + position) % 2 == 0 else (1, 0)  # ABBA over rounds
                    for rank, which in enumerate(order):
                        answer = workers[which].request({"op": "time", "cell": index})
                        times.append({"round": round_, "process": process, "cell": index, "side": sides[which].label,
                                      "first": rank == 0, **answer})  # fmt: skip
                    progress.update(1)
                round_ += 1
        finally:
            for worker in workers:
                worker.close()
    progress.close()
    return records, times, versions


def count_instructions(sides: list[Revision], cells: list, threads: int) -> dict:
    """Each side's instruction counts per cell (:mod:`neural_ode.measuring.instructions`), by side label:
    one dict of record fields per cell."""
    from neural_ode.measuring.instructions import measure_instructions

    return {
        side.label: measure_instructions(
            [cell.to_dict() for cell in cells], python=side.python, pythonpath=side.path_entries(), cwd=side.tree,
            threads=threads,
        )
        for side in sides
    }  # fmt: skip
