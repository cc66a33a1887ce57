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
import datetime
import math
import os
import signal
import sys
import tomllib
import warnings
from pathlib import Path

from neural_ode.axes import AXES as CELL_AXES
from neural_ode.axes import setting_axes, setting_key
from neural_ode.commands import warning_printer
from neural_ode.config import ConfigError
from neural_ode.errors import UsageError
from neural_ode.measuring.timing import THREADS_VARIABLE
from neural_ode.solvers import ADAPTIVE_SOLVERS, FIXED_SOLVERS
from neural_ode.sweeping.plan import AXES, MAX_CELLS, RunSettings, plan
from neural_ode.sweeping.presets import DEFAULT_PRESET, PRESETS
from neural_ode.sweeping.runner import KILL_GRACE_S, ResultsLog, run_sweep
from neural_ode.sweeping.spec import nothing_to_resume, resumes_recorded, sweep_cells

NAME = "run"
HELP = "measure a sweep of cells (a preset, or the product of the given axes) and render its report"

#: the measurement settings (the setting axes, :func:`neural_ode.axes.setting_axes`) by --config key
#: (``timeout``, ``max_repeats``; option ``--timeout``, ``--max-repeats``)
SETTING_AXES = {setting_key(axis): axis for axis in setting_axes()}
#: keys of a --config file besides the axes, with their option's meaning
SETTINGS = ("preset", *SETTING_AXES, "seed", "out", "resume", "wait", "extend", "threads", "scheduler")
SETTINGS += ("yes", "instructions")
#: settings that are true or false
_FLAGS = ("resume", "wait", "extend", "yes", "instructions")
CONFIG_KEYS = AXES + SETTINGS

def axis_help(name: str) -> str:
    """The help of sweep axis ``name``: its declaration's description and the names it allows."""
    if name == "tol":
        return "tolerances of adaptive solvers: rtol = atol = each value (positive numbers)"
    axis = CELL_AXES[name]
    allowed = axis.allowed()
    text = axis.description
    if name == "solver":
        text += f"; fixed-grid: {', '.join(FIXED_SOLVERS)}; adaptive: {', '.join(ADAPTIVE_SOLVERS)}"
    elif allowed is not None:
        text += f"; allowed: {', '.join(map(str, allowed))}"
    elif axis.kind is bool:
        text += " (true/false; true,false measures both)"
    elif axis.kind in (int, float):
        text += f" ({'positive integers' if axis.kind is int else 'positive numbers'})"
    if axis.from_workload:
        text += "; default: the preset's for its own workload, else the workload's"
    else:
        text += "; default: the preset's"
    return text.replace("%", "%%")


#: what a setting's option says beyond its axis's description
_SETTING_HELP = {
    "repeats": "; --repeats N alone is a fixed count of N (calibration off), as before calibrated timings",
    "timeout": f": the cell stops itself there (status timeout), and its process is killed {KILL_GRACE_S:g} s "
    "later if still running",
}


def setting_help(key: str) -> str:
    """The help of setting ``key``: its axis's description, what the option adds, and its default."""
    return (SETTING_AXES[key].description + _SETTING_HELP.get(key, "") + " (default: the preset's)").replace("%", "%%")


def _option(key: str) -> str:
    """The option of setting ``key``: ``--max-repeats`` for ``max_repeats``."""
    return f"--{key.replace('_', '-')}"


def _metavar(axis) -> str:
    return "SECONDS" if axis.name.endswith("_s") else "N" if axis.kind is int else "FRACTION"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of ``run`` (every one also a key of ``--config``)."""
    axes = parser.add_argument_group("axes (comma lists; the sweep is their product)")
    for name in AXES:
        axes.add_argument(f"--{name}", metavar="LIST", help=axis_help(name))
    parser.add_argument("--preset", help=f"a named sweep: {', '.join(PRESETS)} (default {DEFAULT_PRESET})")
    parser.add_argument("--config", metavar="FILE", help="a TOML file with the same keys as these options")
    for key, axis in SETTING_AXES.items():
        parser.add_argument(_option(key), dest=key, metavar=_metavar(axis), help=setting_help(key))
    parser.add_argument("--seed", help="seed of parameters, initial state and target (default 0)")
    parser.add_argument(
        "--threads",
        metavar="N",
        help="torch CPU threads of every cell process (default: the preset's, 1; recorded per cell as threads)",
    )
    parser.add_argument("--out", metavar="DIR", help="output directory (default reports/<timestamp>/)")
    parser.add_argument(
        "--resume",
        action="store_true",
        default=None,
        help="continue the sweep in --out DIR (the one its sweep.json records, when no axes are given): "
        "skip the cells already recorded there",
    )
    parser.add_argument(
        "--extend",
        action="store_true",
        default=None,
        help="with --resume: add the cells of the axes given to the folder's sweep (else a different sweep is refused)",
    )
    parser.add_argument(
        "--yes",
        action="store_true",
        default=None,
        help=f"run a sweep of more than {MAX_CELLS:,} cells (else refused with its size)",
    )
    parser.add_argument(
        "--wait",
        action="store_true",
        default=None,
        help="if another sweep is writing --out DIR, wait for it to finish (default: refuse)",
    )
    parser.add_argument(
        "--instructions",
        action="store_true",
        default=None,
        help="also count each cell's forward and backward instructions under valgrind's callgrind (tens of seconds "
        "a cell; where valgrind is absent the counts are None and instructions_status says why)",
    )
    parser.add_argument(
        "--scheduler",
        metavar="tcp://HOST:PORT",
        help="run the cells on a Dask distributed cluster (workers started with --nthreads 1), each in a fresh "
        "process on its worker; records still go to --out DIR/results.jsonl (default: this machine)",
    )


def read_config(path: str) -> dict:
    """The settings of a TOML config file; a UsageError for an unreadable, invalid or unknown one."""
    from neural_ode.validation import check_regular_or_absent

    try:
        if not check_regular_or_absent(path, f"config file {path}") and not Path(path).is_dir():
            raise UsageError(f"cannot read config file {path}: No such file or directory")
        with open(path, "rb") as handle:
            settings = tomllib.loads(handle.read(1_000_001).decode("utf-8"))
    except OSError as exc:
        raise UsageError(f"cannot read config file {path}: {exc.strerror or exc}") from exc
    except UnicodeDecodeError as exc:
        raise UsageError(f"config file {path} is not UTF-8 text (TOML files are UTF-8): byte {exc.start}") from exc
    except (tomllib.TOMLDecodeError, RecursionError) as exc:
        raise UsageError(f"config file {path} is not valid TOML: {exc}") from exc
    unknown = [key for key in settings if key not in CONFIG_KEYS]
    if unknown:
        raise UsageError(f"config file {path}: unknown key {unknown[0]!r}; allowed: {', '.join(CONFIG_KEYS)}")
    for flag in _FLAGS:
        if flag in settings and not isinstance(settings[flag], bool):
            raise UsageError(f"config file {path}: {flag} must be true or false, got {settings[flag]!r}")
    for key in ("out", "preset"):
        if key in settings and not isinstance(settings[key], str):
            raise UsageError(f"config file {path}: {key} takes one text value, got {settings[key]!r}")
    return settings


def gather(args: argparse.Namespace) -> dict:
    """The settings: the config file's, overridden by the options given on the command line."""
    settings = read_config(args.config) if args.config else {}
    settings.update({key: value for key in CONFIG_KEYS if (value := getattr(args, key, None)) is not None})
    return settings


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
            values[axis.name] = parse_int(_option(key), value, minimum=int(axis.minimum), error=ConfigError)
        else:
            values[axis.name] = parse_float(_option(key), value, maximum=axis.maximum or math.inf, error=ConfigError)
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




def _interrupt(signum, frame) -> None:
    raise KeyboardInterrupt


def main(args: argparse.Namespace) -> int:
    """Plan and check the sweep, measure it, write the tables and the report; print the report's path."""
    settings = gather(args)
    from neural_ode.sweeping.plan import split_values
    from neural_ode.workloads.trusted import forget_factories, trust_factories

    forget_factories()  # only this command's own --workload (command line or --config) may import code
    if settings.get("workload") is not None:
        trust_factories(str(v) for v in split_values(settings["workload"]))
    preset_name = str(settings.get("preset", DEFAULT_PRESET))
    if preset_name not in PRESETS:
        raise UsageError(f"unknown preset {preset_name!r}; allowed: {', '.join(PRESETS)}")
    preset = PRESETS[preset_name]
    given = {name: settings[name] for name in AXES if name in settings}
    try:
        limit = None if settings.get("yes") else MAX_CELLS
        cells = plan(preset, given, run_settings(settings, preset), max_cells=limit)
    except ConfigError as exc:
        raise UsageError(str(exc)) from exc
    try:
        from neural_ode.validation import parse_int

        threads = parse_int("--threads", settings.get("threads", preset.threads), maximum=1024, error=ConfigError)
    except ConfigError as exc:
        raise UsageError(str(exc)) from exc
    out = output_dir(settings)
    client = None
    if settings.get("scheduler"):  # an unreachable cluster is bad input: refused before --out exists
        from neural_ode.sweeping.dask_runner import connect

        try:
            client = connect(str(settings["scheduler"]))
        except OSError as exc:
            raise UsageError(f"--scheduler: {exc}") from exc

    if settings.get("resume") and "preset" not in settings and not given and not os.path.lexists(out / "sweep.json"):
        raise UsageError(nothing_to_resume(out))  # before the folder is made or locked: nothing written
    # everything the user typed is checked: from here on, the folder is created and locked
    from neural_ode.storage.owned import add_owned
    from neural_ode.sweeping.lock import FolderLock
    from neural_ode.sweeping.spec import SPEC_NAME, write_spec

    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UsageError(f"--out {out}: cannot create the folder: {exc.strerror or exc}") from exc
    if not os.access(out, os.W_OK | os.X_OK):
        raise UsageError(f"--out {out}: the folder is not writable")
    with FolderLock(out, wait=bool(settings.get("wait"))), warnings.catch_warnings():
        warnings.simplefilter("always")
        warnings.showwarning = warning_printer("neural-ode-bench run")
        check_folder(out, bool(settings.get("resume")))
        cells = sweep_cells(out, cells, resume=bool(settings.get("resume")), preset="preset" in settings,
                            given=given, extend=bool(settings.get("extend")))
        write_spec(out, cells)
        add_owned(out, [out / SPEC_NAME, out / "results.jsonl", out / "results.csv"])
        sweep = f"the axes given ({len(cells)} cells)" if given else f"preset {preset.name} ({len(cells)} cells)"
        if settings.get("resume") and "preset" not in settings and resumes_recorded(cells, given):
            sweep = f"the sweep recorded in {out / SPEC_NAME} ({len(cells)} cells)"
        print(f"neural-ode-bench run: {sweep} -> {out}", file=sys.stderr)
        # a SIGTERM (kill, a CI timeout) unwinds like Ctrl-C, so the cell process in flight is killed too
        previous_handler = signal.signal(signal.SIGTERM, _interrupt)
        previous_threads = os.environ.get(THREADS_VARIABLE)
        os.environ[THREADS_VARIABLE] = str(threads)  # the cell processes take the sweep's environment
        if settings.get("instructions"):
            from neural_ode.measuring.instructions import INSTRUCTIONS_VARIABLE, unavailable

            os.environ[INSTRUCTIONS_VARIABLE] = "1"
            if unavailable():
                print(f"neural-ode-bench run: --instructions: {unavailable()}", file=sys.stderr)
        from neural_ode.measuring.provenance import COMMIT_VARIABLE, checkout_commit

        previous_commit = os.environ.get(COMMIT_VARIABLE)
        os.environ[COMMIT_VARIABLE] = previous_commit or checkout_commit() or ""  # one commit per sweep
        try:
            if client is not None:
                from neural_ode.sweeping.dask_runner import run_sweep_dask

                outcome = run_sweep_dask(cells, out, client, resume=bool(settings.get("resume")))
            else:
                outcome = run_sweep(cells, out, resume=bool(settings.get("resume")))
        except KeyboardInterrupt:
            print(f"\ninterrupted; the cells measured so far are in {out / 'results.jsonl'}", file=sys.stderr)
            print(f"continue with: neural-ode-bench run --resume --out {out}", file=sys.stderr)
            return 130
        finally:
            signal.signal(signal.SIGTERM, previous_handler)
            if settings.get("instructions"):
                os.environ.pop("NEURAL_ODE_BENCH_INSTRUCTIONS", None)
            if previous_threads is None:
                os.environ.pop(THREADS_VARIABLE, None)
            else:
                os.environ[THREADS_VARIABLE] = previous_threads
            if previous_commit is None:
                os.environ.pop(COMMIT_VARIABLE, None)
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
