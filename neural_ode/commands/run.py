"""``neural-ode-bench run``: measure a sweep of cells, write results.jsonl/results.csv and the report.

Without axis options the sweep is the preset's (``--preset quick`` by default); with any axis
option (``--workload``, ``--method``, ``--solver``, ``--steps``, ``--horizon``, ``--tol``,
``--rtol``, ``--atol``, ``--batch``, ``--width``, ``--device``, ``--dtype``) it is the product of
the given axes, the others taken from the preset's base (see :mod:`neural_ode.sweeping.plan` for how
fixed-grid and adaptive solvers take depth and tolerance).

``--config FILE`` is a TOML file with the same keys as the options, without the dashes (axes as
lists or comma strings); options given on the command line override it::

    preset = "quick"
    method = ["direct", "adjoint"]
    solver = "rk4,dopri5"
    steps = [8, 16, 32]
    tol = [1e-3, 1e-6]
    repeats = 3
    timeout = 60
    out = "reports/mine"

Bad input (unknown names, non-positive numbers, a tolerance for fixed-grid solvers only, CUDA
where there is none, an unreadable or invalid config file) stops the command with one line and
exit status 2 before anything is measured or created.
"""

from __future__ import annotations

import argparse
import datetime
import signal
import sys
import tomllib
import warnings
from pathlib import Path

from neural_ode.cli import UsageError
from neural_ode.config import ConfigError
from neural_ode.methods import METHODS
from neural_ode.solvers import ADAPTIVE_SOLVERS, FIXED_SOLVERS
from neural_ode.sweeping.plan import AXES, RunSettings, plan, positive_float, positive_int
from neural_ode.sweeping.presets import DEFAULT_PRESET, PRESETS
from neural_ode.sweeping.runner import KILL_GRACE_S, ResultsLog, run_sweep
from neural_ode.workloads import WORKLOADS

NAME = "run"
HELP = "measure a sweep of cells (a preset, or the product of the given axes) and render its report"

#: keys of a --config file besides the axes, with their option's meaning
SETTINGS = ("preset", "repeats", "warmup", "seed", "timeout", "out", "resume")
CONFIG_KEYS = AXES + SETTINGS

_AXIS_HELP = {
    "workload": f"workloads: {', '.join(WORKLOADS)}",
    "method": f"gradient methods: {', '.join(METHODS)}",
    "solver": f"solvers, fixed-grid ({', '.join(FIXED_SOLVERS)}; take --steps) "
    f"or adaptive ({', '.join(ADAPTIVE_SOLVERS)}; take --tol)",
    "steps": "grid steps of fixed-grid solvers (positive integers)",
    "horizon": "end of the integration interval [0, T] (positive numbers); the adaptive solvers' depth",
    "tol": "tolerances of adaptive solvers: rtol = atol = each value",
    "rtol": "relative tolerances (replace the tol values on that side; product with atol)",
    "atol": "absolute tolerances (replace the tol values on that side; product with rtol)",
    "batch": "batch sizes (positive integers; default: the preset's, else the workload's)",
    "width": "hidden width (mlp) or channels (conv) (positive integers)",
    "device": "cpu or cuda",
    "dtype": "float32 or float64",
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of ``run`` (every one also a key of ``--config``)."""
    axes = parser.add_argument_group("axes (comma lists; the sweep is their product)")
    for name in AXES:
        axes.add_argument(f"--{name}", metavar="LIST", help=_AXIS_HELP[name])
    parser.add_argument("--preset", help=f"a named sweep: {', '.join(PRESETS)} (default {DEFAULT_PRESET})")
    parser.add_argument("--config", metavar="FILE", help="a TOML file with the same keys as these options")
    parser.add_argument("--repeats", help="timed repeats per cell (default: the preset's)")
    parser.add_argument("--warmup", help="untimed warm-up rounds per cell (default: the preset's)")
    parser.add_argument("--seed", help="seed of parameters, initial state and target (default 0)")
    parser.add_argument(
        "--timeout",
        metavar="SECONDS",
        help="time budget of one cell: it stops itself there (status timeout), and its process is killed "
        f"{KILL_GRACE_S:g} s later if still running (default: the preset's)",
    )
    parser.add_argument("--out", metavar="DIR", help="output directory (default reports/<timestamp>/)")
    parser.add_argument(
        "--resume",
        action="store_true",
        default=None,
        help="continue the sweep in --out DIR: skip the cells already recorded there",
    )


def read_config(path: str) -> dict:
    """The settings of a TOML config file; a UsageError for an unreadable, invalid or unknown one."""
    try:
        with open(path, "rb") as handle:
            settings = tomllib.load(handle)
    except OSError as exc:
        raise UsageError(f"cannot read config file {path}: {exc.strerror or exc}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise UsageError(f"config file {path} is not valid TOML: {exc}") from exc
    unknown = [key for key in settings if key not in CONFIG_KEYS]
    if unknown:
        raise UsageError(f"config file {path}: unknown key {unknown[0]!r}; allowed: {', '.join(CONFIG_KEYS)}")
    if "resume" in settings and not isinstance(settings["resume"], bool):
        raise UsageError(f"config file {path}: resume must be true or false, got {settings['resume']!r}")
    return settings


def gather(args: argparse.Namespace) -> dict:
    """The settings: the config file's, overridden by the options given on the command line."""
    settings = read_config(args.config) if args.config else {}
    settings.update({key: value for key in CONFIG_KEYS if (value := getattr(args, key, None)) is not None})
    return settings


def run_settings(settings: dict, preset) -> RunSettings:
    """Seed, repeats, warm-up and time budget, from the settings or the preset."""
    seed = settings.get("seed", 0)
    try:
        seed = int(seed) if not isinstance(seed, bool | float) else None
    except (TypeError, ValueError):
        seed = None
    if seed is None or seed < 0:
        raise ConfigError(f"--seed takes a non-negative integer, got {settings.get('seed')!r}")
    warmup = settings.get("warmup", preset.warmup)
    if not (str(warmup).isdigit() and not isinstance(warmup, bool)):
        raise ConfigError(f"--warmup takes a non-negative integer, got {warmup!r}")
    return RunSettings(
        seed=seed,
        repeats=positive_int("repeats", settings.get("repeats", preset.repeats)),
        warmup=int(warmup),
        timeout_s=positive_float("timeout", settings.get("timeout", preset.timeout_s)),
    )


def output_dir(settings: dict) -> Path:
    """The --out directory, checked: resuming needs one; a fresh run must not mix with old results."""
    resume = bool(settings.get("resume"))
    if settings.get("out") is None:
        if resume:
            raise UsageError("--resume needs --out DIR, the directory of the sweep to continue")
        stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
        return Path("reports") / stamp
    out = Path(str(settings["out"]))
    if out.exists() and not out.is_dir():
        raise UsageError(f"--out {out}: exists and is not a directory")
    results = out / "results.jsonl"
    if not resume and results.exists() and results.stat().st_size > 0:
        raise UsageError(f"--out {out} already holds results.jsonl; add --resume to continue it, or pick another --out")
    return out


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    print(f"neural-ode-bench run: warning: {message}", file=sys.stderr)


def _interrupt(signum, frame) -> None:
    raise KeyboardInterrupt


def main(args: argparse.Namespace) -> int:
    """Plan and check the sweep, measure it, write the tables and the report; print the report's path."""
    settings = gather(args)
    preset_name = str(settings.get("preset", DEFAULT_PRESET))
    if preset_name not in PRESETS:
        raise UsageError(f"unknown preset {preset_name!r}; allowed: {', '.join(PRESETS)}")
    preset = PRESETS[preset_name]
    given = {name: settings[name] for name in AXES if name in settings}
    try:
        cells = plan(preset, given, run_settings(settings, preset))
    except ConfigError as exc:
        raise UsageError(str(exc)) from exc
    out = output_dir(settings)

    # everything is checked: from here on, files are written
    with warnings.catch_warnings():
        warnings.simplefilter("always")
        warnings.showwarning = _show_warning
        sweep = f"the axes given ({len(cells)} cells)" if given else f"preset {preset.name} ({len(cells)} cells)"
        print(f"neural-ode-bench run: {sweep} -> {out}", file=sys.stderr)
        out.mkdir(parents=True, exist_ok=True)
        # a SIGTERM (kill, a CI timeout) unwinds like Ctrl-C, so the cell process in flight is killed too
        previous_handler = signal.signal(signal.SIGTERM, _interrupt)
        try:
            outcome = run_sweep(cells, out, resume=bool(settings.get("resume")))
        except KeyboardInterrupt:
            print(f"\ninterrupted; the cells measured so far are in {out / 'results.jsonl'}", file=sys.stderr)
            print(f"continue with: neural-ode-bench run --resume --out {out} (and the same axes)", file=sys.stderr)
            return 130
        finally:
            signal.signal(signal.SIGTERM, previous_handler)
        if outcome.skipped:
            print(f"resumed: {outcome.skipped} cells were already recorded and were skipped", file=sys.stderr)
        rows = ResultsLog(out / "results.jsonl").rows()
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
