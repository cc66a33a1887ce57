"""``neural-ode-bench train``: the paper's Section 3 -- ODE-Net against ResNet and RK-Net, measured.

One model (``--model``) or the ``table1`` preset (``--preset table1``) is trained on the bundled
scikit-learn digits or on local MNIST IDX files, recording per epoch the training loss, test
error, wall time, peak memory and NFE; the result tables and the report (Table 1 analog, loss
curves, Figure 3) go to ``--out``. ``--render DIR`` re-renders a results folder without training.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

from neural_ode.apps.training.models import MODELS
from neural_ode.apps.training.report import render_training_report
from neural_ode.apps.training.results import load_results
from neural_ode.apps.training.run_config import TrainConfig
from neural_ode.apps.training.runs import run_all
from neural_ode.apps.training.table1 import PRESETS, TABLE1_DEFAULTS, table1_display, table1_frame
from neural_ode.config import ConfigError
from neural_ode.data.idx import IDXError
from neural_ode.data.images import DATA_SOURCES, DataError, load_data
from neural_ode.errors import UsageError
from neural_ode.methods import METHODS
from neural_ode.solvers import SOLVERS
from neural_ode.validation import argument, parse_float, parse_int, parse_timeout

NAME = "train"
HELP = "train ResNet / RK-Net / ODE-Net / MLP classifiers (the paper's Table 1 and Figure 3) and report"

#: flags that configure one ODE model and make no sense for a preset
_SINGLE_RUN_FLAGS = ("solver", "method", "steps", "tol")


#: argparse types: ASCII digits only, in int64 / seed / OS-timer range (see :mod:`neural_ode.validation`)
_positive_int = argument(parse_int)
_positive_float = argument(parse_float)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    what = parser.add_mutually_exclusive_group(required=True)
    what.add_argument("--model", help=f"one model to train: {', '.join(MODELS)}")
    what.add_argument("--preset", help=f"a set of runs: {', '.join(PRESETS)} (all models of the paper's Table 1)")
    what.add_argument("--render", metavar="DIR", help="re-render the report of an existing results folder")
    parser.add_argument("--data", default="digits", help=f"{' or '.join(DATA_SOURCES)} (default: digits)")
    parser.add_argument("--solver", help=f"ODE models: a solver ({', '.join(SOLVERS)})")
    parser.add_argument("--method", help=f"ODE models: a gradient method ({', '.join(METHODS)})")
    parser.add_argument("--steps", type=_positive_int, help="ODE models, fixed-grid solvers: grid steps over [0, 1]")
    parser.add_argument(
        "--tol", type=_positive_float, help="ODE models: rtol = atol (adaptive solvers, implicit_adams)"
    )
    parser.add_argument("--epochs", type=_positive_int, help=f"epochs (default {TABLE1_DEFAULTS['epochs']})")
    parser.add_argument("--batch", type=_positive_int, help=f"batch size (default {TABLE1_DEFAULTS['batch']})")
    parser.add_argument("--width", type=_positive_int, help=f"channels (default {TABLE1_DEFAULTS['width']})")
    parser.add_argument(
        "--lr", type=_positive_float, help=f"Adam's initial learning rate (default {TABLE1_DEFAULTS['lr']:g})"
    )
    parser.add_argument(
        "--optimizer", default="adam", help="adam (default) or sgd (momentum 0.9, the paper's); cosine-annealed lr"
    )
    parser.add_argument(
        "--seed",
        type=argument(parse_int, minimum=0, maximum=2**32 - 1),  # numpy's and scikit-learn's random_state range
        default=0,
        help="seed of initialisation, batches and digits split (0 to 2^32-1)",
    )
    parser.add_argument("--device", default="cpu", help="cpu or cuda (default cpu)")
    parser.add_argument("--train-limit", type=_positive_int, help="train on the first N training images only")
    parser.add_argument("--test-limit", type=_positive_int, help="test on the first N test images only")
    parser.add_argument(
        "--memory-every",
        type=argument(parse_int, minimum=0),
        default=0,
        help="memory probe every N epochs too (0: first/last)",
    )
    parser.add_argument("--no-memory", action="store_true", help="skip the memory probe")
    parser.add_argument("--no-sweep", action="store_true", help="skip the Figure 3a tolerance sweep")
    parser.add_argument(
        "--timeout", type=argument(parse_timeout), help="wall-clock budget per run in seconds (then status timeout)"
    )
    parser.add_argument(
        "--threads",
        type=argument(parse_int, maximum=4096),
        default=1,
        help="torch CPU threads (default 1, as `run` pins its cells: timings taken alone on one core)",
    )
    parser.add_argument("--out", help="results folder (default reports/train/<run> or reports/<preset>)")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")


def _configs(args) -> list[TrainConfig]:
    common = {
        "data": args.data,
        "seed": args.seed,
        "device": args.device,
        "train_limit": args.train_limit,
        "test_limit": args.test_limit,
        "memory_every": args.memory_every,
        "memory_probe": not args.no_memory,
        "timeout_s": args.timeout,
        "optimizer": args.optimizer,
    }
    for name in ("epochs", "batch", "width", "lr"):
        value = getattr(args, name)
        if value is not None:
            common[name] = value
    if args.preset is not None:
        if args.preset not in PRESETS:
            raise UsageError(f"unknown preset {args.preset!r}; allowed: {', '.join(PRESETS)}")
        given = [f"--{flag}" for flag in _SINGLE_RUN_FLAGS if getattr(args, flag) is not None]
        if given:
            raise UsageError(f"{', '.join(given)} configure a single --model run, not --preset {args.preset}")
        return PRESETS[args.preset](**common)
    for name, value in TABLE1_DEFAULTS.items():
        common.setdefault(name, value)
    return [
        TrainConfig(
            model=args.model,
            method=args.method,
            solver=args.solver,
            steps=args.steps,
            rtol=args.tol,
            atol=args.tol,
            **common,
        )
    ]


def main(args) -> int:
    if args.render is not None:
        folder = Path(args.render)
        if not (folder / "runs.csv").is_file():
            raise UsageError(f"{folder}: not a training results folder (no runs.csv)")
        print(render_training_report(folder))
        return 0
    torch.set_num_threads(args.threads)
    try:
        configs = _configs(args)
        if args.device == "cuda" and not torch.cuda.is_available():
            raise UsageError("--device cuda: no CUDA device is available here; allowed here: cpu")
        data = load_data(configs[0].data, configs[0].seed)
    except (ConfigError, DataError, IDXError) as exc:
        raise UsageError(str(exc)) from None
    out = Path(args.out) if args.out else Path("reports") / (args.preset or f"train/{configs[0].name}")
    if out.exists() and not out.is_dir():
        raise UsageError(f"--out {out}: exists and is not a directory")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UsageError(f"--out {out}: cannot create the folder: {exc.strerror or exc}") from exc
    print(data.describe())
    results = run_all(configs, out, data=data, sweep=not args.no_sweep, show_progress=not args.quiet)
    print(table1_display(table1_frame(load_results(out))).to_markdown(index=False))
    failed = [r for r in results if r.status != "ok"]
    for result in failed:
        print(f"{result.config.name}: {result.status} in epoch {result.failed_epoch}: {result.error}")
    print(f"report: {out / 'report.html'}")
    return 0
