"""The options of ``neural-ode-bench run`` and its ``--config`` file: their help, parsing and merging.

Every option is also a key of the TOML ``--config`` file (without the dashes, ``_`` for ``-``);
:func:`gather` merges the two, the command line winning. See :mod:`neural_ode.commands.run`.
"""

from __future__ import annotations

import argparse
import tomllib
from pathlib import Path

from neural_ode.axes import AXES as CELL_AXES
from neural_ode.axes import setting_axes, setting_key
from neural_ode.errors import UsageError
from neural_ode.solvers import ADAPTIVE_SOLVERS, FIXED_SOLVERS
from neural_ode.sweeping.plan import AXES, MAX_CELLS
from neural_ode.sweeping.presets import DEFAULT_PRESET, PRESETS
from neural_ode.sweeping.runner import KILL_GRACE_S

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


def option(key: str) -> str:
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
        parser.add_argument(option(key), dest=key, metavar=_metavar(axis), help=setting_help(key))
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
