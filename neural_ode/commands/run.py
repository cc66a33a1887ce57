"""``neural-ode-bench run``: measure a sweep of cells, write results.jsonl/results.csv and the report.

Without axis options the sweep is the preset's (``--preset quick`` by default); with any axis
option (``--workload``, ``--method``, ``--solver``, ``--steps``, ``--horizon``, ``--tol``,
``--rtol``, ``--atol``, ``--batch``, ``--width``, ``--device``, ``--dtype``, ``--outputs``,
``--layers``, ``--dim``) it is the product of
the given axes, the others taken from the preset's base (see :mod:`neural_ode.sweeping.plan` for how
fixed-grid and adaptive solvers take depth and tolerance).

``--config FILE`` is a TOML file with the same keys as the options, without the leading dashes and
with ``_`` for ``-`` (axes as lists or comma strings); options given on the command line override it::

    preset = "quick"
    method = ["direct", "adjoint"]
    solver = "rk4,dopri5"
    steps = [8, 16, 32]
    tol = [1e-3, 1e-6]
    repeats = 6
    max_repeats = 30
    ci_halfwidth = 0.05
    time_budget = 1.0
    timeout = 60
    threads = 1
    out = "reports/mine"

Bad input (unknown names, non-positive numbers, a tolerance for fixed-grid solvers only, CUDA
where there is none, an unreadable or invalid config file, values beyond int64 or the OS timers)
stops the command with one line and exit status 2 before anything is measured or created.

The --out folder is locked while the sweep writes it (a second sweep is refused, naming the
holder, or waits with ``--wait``); the sweep's cells are recorded in ``DIR/sweep.json``, which
``--resume`` continues (without axes: that sweep; with other axes: refused unless ``--extend``).
``--resume`` without axes on a folder that records no sweep is refused before anything is written;
a sweep of a user's factory resumes with ``--resume --out DIR --workload F`` (the factory is imported
only when named on the command line; the refusal without it names that command).
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import datetime
import math
import os
import signal
import sys
import warnings
from pathlib import Path

from neural_ode.commands import warning_printer
from neural_ode.commands._run_options import SETTING_AXES, gather, option
from neural_ode.commands._run_options import add_arguments as add_arguments
from neural_ode.config import ConfigError
from neural_ode.errors import UsageError
from neural_ode.sweeping.lock import FolderLock
from neural_ode.sweeping.plan import AXES, MAX_CELLS, RunSettings, plan
from neural_ode.sweeping.presets import DEFAULT_PRESET, PRESETS
from neural_ode.sweeping.process import ProcessSettings
from neural_ode.sweeping.runner import ResultsLog
from neural_ode.sweeping.spec import SPEC_NAME, nothing_to_resume, resumes_recorded, sweep_cells, write_spec
from neural_ode.sweeping.sweep import Sweep

NAME = "run"
HELP = "measure a sweep of cells (a preset, or the product of the given axes) and render its report"


def run_settings(settings: dict, preset) -> RunSettings:
    """The seed and every setting axis (repeats, warm-up, time budgets, calibration), from the
    settings or the preset. ``repeats`` given without ``max_repeats``: a fixed count (as before
    calibrated timings); ``max_repeats`` at most ``repeats`` is one too."""
    from neural_ode.validation import parse_float, parse_int, parse_seed

    values = {}
    for key, axis in SETTING_AXES.items():
        value = settings.get(key, getattr(preset, axis.name))
        if value is None:
            values[axis.name] = None
        elif axis.kind is int:
            values[axis.name] = parse_int(option(key), value, minimum=int(axis.minimum), error=ConfigError)
        else:
            values[axis.name] = parse_float(option(key), value, maximum=axis.maximum or math.inf, error=ConfigError)
    if "repeats" in settings and "max_repeats" not in settings:
        values["max_repeats"] = None  # --repeats N alone: exactly N, as before calibration
    return RunSettings(seed=parse_seed("--seed", settings.get("seed", 0), error=ConfigError), **values)


def output_dir(settings: dict) -> Path:
    """The --out directory, checked: resuming needs one; a fresh run must not mix with old results."""
    from neural_ode.validation import parse_text

    resume = bool(settings.get("resume"))
    if settings.get("out") is None:
        if resume:
            raise UsageError("--resume needs --out DIR, the directory of the sweep to continue")
        if settings.get("extend"):
            raise UsageError("--extend needs --resume --out DIR, the sweep to extend")
        stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
        return Path("reports") / stamp
    out = Path(parse_text("--out", settings["out"]))
    if out.exists() and not out.is_dir():
        raise UsageError(f"--out {out}: exists and is not a directory")
    if settings.get("extend") and not resume:
        raise UsageError("--extend needs --resume: it adds cells to the sweep in --out DIR")
    return out


def check_folder(out: Path, resume: bool) -> None:
    """Under the folder's lock: a fresh run must not mix with old results, nor overwrite files it did not write."""
    from neural_ode.storage.owned import REPORT_FILES, check_owned
    from neural_ode.validation import check_regular_or_absent

    results = out / "results.jsonl"
    if check_regular_or_absent(results) and not resume and results.stat().st_size > 0:
        raise UsageError(f"--out {out} already holds results.jsonl; add --resume to continue it, or pick another --out")
    check_owned(out, (*REPORT_FILES, "results.csv"))




def plan_sweep(settings: dict) -> Sweep:
    """The sweep ``settings`` ask for, every value checked (a UsageError names the first bad one);
    nothing is created yet. Its cell processes take its threads, the commit this checkout is at (one
    commit per sweep) and whether to count instructions."""
    from neural_ode.measuring.provenance import checkout_commit
    from neural_ode.sweeping.plan import split_values
    from neural_ode.validation import parse_int
    from neural_ode.workloads.trusted import forget_factories, trust_factories

    forget_factories()  # only this command's own --workload (command line or --config) may import code
    if settings.get("workload") is not None:
        trust_factories(str(v) for v in split_values(settings["workload"]))
    preset = _preset(settings)
    try:
        limit = None if settings.get("yes") else MAX_CELLS
        cells = plan(preset, _given(settings), run_settings(settings, preset), max_cells=limit)
        threads = parse_int("--threads", settings.get("threads", preset.threads), maximum=1024, error=ConfigError)
    except ConfigError as exc:
        raise UsageError(str(exc)) from exc
    out = output_dir(settings)
    process = ProcessSettings(threads, checkout_commit(), bool(settings.get("instructions")))
    scheduler = _scheduler(settings.get("scheduler"))
    return Sweep(tuple(cells), out, process, resume=bool(settings.get("resume")), scheduler=scheduler)


def _preset(settings: dict):
    """The preset ``settings`` name (``--preset``, default :data:`DEFAULT_PRESET`)."""
    name = str(settings.get("preset", DEFAULT_PRESET))
    if name not in PRESETS:
        raise UsageError(f"unknown preset {name!r}; allowed: {', '.join(PRESETS)}")
    return PRESETS[name]


def _given(settings: dict) -> dict:
    """The axes given (command line or --config), by name."""
    return {name: settings[name] for name in AXES if name in settings}


def _scheduler(address):
    """A client of the Dask scheduler at ``address`` (None: none); an unreachable cluster is bad
    input, refused before --out exists."""
    if not address:
        return None
    from neural_ode.sweeping.dask_runner import connect

    try:
        return connect(str(address))
    except OSError as exc:
        raise UsageError(f"--scheduler: {exc}") from exc


def make_folder(sweep: Sweep, settings: dict) -> None:
    """Create --out (everything the user typed is checked by now); refuse ``--resume`` without axes
    on a folder that records no sweep, before anything is made."""
    out = sweep.out_dir
    if sweep.resume and "preset" not in settings and not _given(settings) and not os.path.lexists(out / SPEC_NAME):
        raise UsageError(nothing_to_resume(out))
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UsageError(f"--out {out}: cannot create the folder: {exc.strerror or exc}") from exc
    if not os.access(out, os.W_OK | os.X_OK):
        raise UsageError(f"--out {out}: the folder is not writable")


def claim_folder(sweep: Sweep, settings: dict) -> Sweep:
    """Under the folder's lock: check it, settle the cells to measure (``--resume``, ``--extend``),
    record them in ``sweep.json``, and say on stderr what runs where; the sweep of those cells."""
    from neural_ode.storage.owned import add_owned

    out, given, preset = sweep.out_dir, _given(settings), _preset(settings)
    check_folder(out, sweep.resume)
    cells = sweep_cells(out, sweep.cells, resume=sweep.resume, preset="preset" in settings,
                        given=given, extend=bool(settings.get("extend")))  # fmt: skip
    write_spec(out, cells)
    add_owned(out, [out / SPEC_NAME, out / "results.jsonl", out / "results.csv"])
    what = f"the axes given ({len(cells)} cells)" if given else f"preset {preset.name} ({len(cells)} cells)"
    if sweep.resume and "preset" not in settings and resumes_recorded(cells, given):
        what = f"the sweep recorded in {out / SPEC_NAME} ({len(cells)} cells)"
    print(f"neural-ode-bench run: {what} -> {out}", file=sys.stderr)
    if sweep.process.instructions:
        from neural_ode.measuring.instructions import unavailable

        if unavailable():
            print(f"neural-ode-bench run: --instructions: {unavailable()}", file=sys.stderr)
    return dataclasses.replace(sweep, cells=tuple(cells))


def _interrupt(signum, frame) -> None:
    raise KeyboardInterrupt


@contextlib.contextmanager
def _sigterm_as_interrupt():
    """A SIGTERM (kill, a CI timeout) unwinds like Ctrl-C, so the cell process in flight is killed too."""
    previous = signal.signal(signal.SIGTERM, _interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def main(args: argparse.Namespace) -> int:
    """Plan and check the sweep, measure it, write the tables and the report; print the report's path."""
    settings = gather(args)
    sweep = plan_sweep(settings)
    make_folder(sweep, settings)
    out = sweep.out_dir
    with FolderLock(out, wait=bool(settings.get("wait"))), warnings.catch_warnings():
        warnings.simplefilter("always")
        warnings.showwarning = warning_printer("neural-ode-bench run")
        sweep = claim_folder(sweep, settings)
        try:
            with _sigterm_as_interrupt():
                outcome = sweep.run()
        except KeyboardInterrupt:
            print(f"\ninterrupted; the cells measured so far are in {out / 'results.jsonl'}", file=sys.stderr)
            print(f"continue with: neural-ode-bench run --resume --out {out}", file=sys.stderr)
            return 130
        if outcome.skipped:
            print(f"resumed: {outcome.skipped} cells were already recorded and were skipped", file=sys.stderr)
        with warnings.catch_warnings():  # the bad lines were named once, when the sweep read the log
            warnings.simplefilter("ignore")
            rows = ResultsLog(out / "results.jsonl").records(warn=False)
        return finish(rows, out)


def finish(rows: list[dict], out: Path) -> int:
    """Write results.csv, print the summary table, render the report and print its path last."""
    import pandas as pd

    from neural_ode.reporting import render_report
    from neural_ode.results.frame import results_frame, status_counts, summary_table, write_csv

    frame = results_frame(rows)
    csv_path = write_csv(frame, out / "results.csv")
    with pd.option_context("display.width", 250, "display.max_columns", None, "display.max_rows", None):
        print(summary_table(frame).to_string(index=False))
    print(status_counts(frame))
    print(f"results: {csv_path}")
    report = render_report(frame, out)
    print(report)
    return 0
