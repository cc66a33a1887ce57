"""``neural-ode-bench train-bench``: time to a target loss, per gradient method x solver x tolerance.

Trains each task's model from the same initialisation with every configuration, for each seed,
one run at a time in a fresh process (:mod:`neural_ode.apps.training.bench_runner`), records every
iteration to ``--out``/bench.jsonl, then writes the report (:mod:`neural_ode.apps.training.bench_report`).
``--resume`` skips the runs already complete; ``--render DIR`` re-renders a results folder.

How a run is executed lives here, above both the sweep and the training packages: in a process
forked from the sweep's forkserver (:func:`run_isolated`), or as a task on a Dask cluster
(:func:`run_on_dask`).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pandas as pd

from neural_ode.apps.training.bench import BenchConfig
from neural_ode.apps.training.bench_report import render_bench_report
from neural_ode.apps.training.bench_runner import (
    RECORDS,
    append_records,
    complete_keys,
    crashed_record,
    parse_lines,
    plan,
    run_bench,
    train_into,
)
from neural_ode.apps.training.bench_tables import read_choices
from neural_ode.apps.training.bench_tasks import TASKS
from neural_ode.config import ConfigError
from neural_ode.methods import METHODS
from neural_ode.solvers import SOLVERS
from neural_ode.sweeping.runner import describe_exit
from neural_ode.sweeping.worker import run_child, start_worker_server, worker_context
from neural_ode.validation import UsageError, argument, parse_float, parse_int, parse_timeout

NAME = "train-bench"
HELP = "train each gradient method x solver x tolerance from one initialisation and report the time to target losses"

DEFAULT_METHODS = ("direct", "adjoint", "own-adjoint", "checkpoint", "aca")
DEFAULT_TOLERANCES = (1e-3, 1e-5)


def _words(text: str) -> list[str]:
    return [word.strip() for word in text.split(",") if word.strip()]


def _floats(name: str, text: str) -> tuple[float, ...]:
    values = tuple(parse_float(name, word) for word in _words(text))
    if not values:
        raise UsageError(f"{name}: give at least one positive number, comma-separated")
    return values


def _targets(given: list[str]) -> dict[str, tuple[float, ...]]:
    """``--target TASK=A,B`` values by task."""
    targets = {}
    for item in given or ():
        task, sep, values = item.partition("=")
        if not sep or task not in TASKS:
            raise UsageError(f"--target {item!r}: expected TASK=LOSS[,LOSS...] with TASK one of {', '.join(TASKS)}")
        targets[task] = _floats(f"--target {task}", values)
    return targets


def run_isolated(config: BenchConfig) -> list[dict]:
    """Train ``config`` in a fresh process forked from the sweep's forkserver (torch imported once,
    :mod:`neural_ode.sweeping.worker`); its records, a ``crashed`` ``run`` record last when the
    process died without writing one."""
    start_worker_server()
    with tempfile.TemporaryDirectory(prefix="train-bench-") as folder:
        record_path, log_path = os.path.join(folder, "records.jsonl"), os.path.join(folder, "log.txt")
        process = worker_context().Process(
            target=run_child,
            args=(train_into, dict(os.environ), config.to_dict(), record_path, log_path, os.getpid()),
            name=f"train-bench {config.label}",
        )
        process.start()
        process.join()
        text = Path(record_path).read_text(encoding="utf-8") if os.path.exists(record_path) else ""
        records = parse_lines(text)
        if not records or records[-1].get("kind") != "run":
            log = Path(log_path).read_text(encoding="utf-8", errors="replace") if os.path.exists(log_path) else ""
            records.append(crashed_record(config, records, f"{describe_exit(process.exitcode)}; {log[-500:]}"))
    return records


def train_on_worker(config: dict) -> list[dict]:
    """On a Dask worker: train ``config`` in a fresh ``python -m neural_ode.apps.training.bench_runner``
    process; its records (never raises for a failed run)."""
    done = subprocess.run(
        [sys.executable, "-m", "neural_ode.apps.training.bench_runner"],
        input=json.dumps(config), capture_output=True, text=True, env=dict(os.environ), check=False,
    )  # fmt: skip
    records = parse_lines(done.stdout)
    if not records or records[-1].get("kind") != "run":
        reason = f"{describe_exit(done.returncode)}; {done.stderr[-500:]}"
        records.append(crashed_record(BenchConfig(**config), records, reason))
    return records


def run_on_dask(configs, out: Path, scheduler: str, *, resume: bool, progress) -> tuple[int, int]:
    """Train ``configs`` on the Dask cluster at ``scheduler``, one task a run, appending each run's
    records as it finishes; start workers with ``--nthreads 1``, one a machine, or the runs time
    each other. Returns (runs trained, runs skipped as complete)."""
    from distributed import as_completed

    from neural_ode.sweeping.dask_runner import connect

    path = out / RECORDS
    done = complete_keys(path) if resume else set()
    todo = [c for c in configs if c.key not in done]
    with connect(scheduler) as client:
        futures = {
            client.submit(train_on_worker, c.to_dict(), key=f"train-bench-{i}-{c.task}", pure=False): c
            for i, c in enumerate(todo)
        }
        for future in as_completed(futures):
            records = future.result()
            append_records(path, records)
            progress(futures[future], records[-1])
    return len(todo), len(configs) - len(todo)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--tasks", default="spiral,digits", help=f"comma-separated, of: {', '.join(TASKS)}")
    parser.add_argument(
        "--methods", default=",".join(DEFAULT_METHODS), help=f"comma-separated gradient methods ({', '.join(METHODS)})"
    )
    parser.add_argument("--solver", default="dopri5", help=f"the solver ({', '.join(SOLVERS)}; default dopri5)")
    parser.add_argument(
        "--tols", default="1e-3,1e-5", help="rtol = atol values of an adaptive solver (default 1e-3,1e-5)"
    )
    parser.add_argument("--seeds", type=argument(parse_int), default=3, help="seeds 0..N-1 (default 3)")
    parser.add_argument("--iterations", type=argument(parse_int), help="iterations per run (default: the task's)")
    parser.add_argument("--check-every", type=argument(parse_int), help="iterations between gradient checks")
    parser.add_argument("--lr", type=argument(parse_float), help="Adam's learning rate (default: the task's)")
    parser.add_argument(
        "--time-budget", type=argument(parse_timeout), help="stop a run after this many training seconds"
    )
    parser.add_argument(
        "--target", action="append", metavar="TASK=LOSS,...", help="loss targets of a task (repeatable)"
    )
    parser.add_argument(
        "--choices",
        metavar="PATH",
        action="append",
        help="a sweep's choices.csv: compare its per-gradient picks (repeatable)",
    )
    parser.add_argument("--out", default="reports/training", help="results folder (default reports/training)")
    parser.add_argument("--resume", action="store_true", help="skip the runs already complete in --out")
    parser.add_argument("--dask", metavar="ADDRESS", help="train on the Dask scheduler at tcp://HOST:PORT")
    parser.add_argument("--render", metavar="DIR", help="re-render the report of a results folder, training nothing")
    parser.add_argument("--dry-run", action="store_true", help="list the runs and train nothing")


def main(args) -> int:
    targets = _targets(args.target)
    try:
        choices = pd.concat([read_choices(path) for path in args.choices]) if args.choices else None
    except FileNotFoundError as exc:
        raise UsageError(f"--choices {exc.filename}: no such file") from None
    except ConfigError as exc:
        raise UsageError(str(exc)) from None
    if args.render is not None:
        folder = Path(args.render)
        if not (folder / RECORDS).is_file():
            raise UsageError(f"--render {folder}: not a training benchmark folder (no {RECORDS})")
        print(render_bench_report(folder, targets=targets, choices=choices))
        return 0
    try:
        configs = plan(
            _words(args.tasks), _words(args.methods), args.solver, _floats("--tols", args.tols), range(args.seeds),
            iterations=args.iterations, check_every=args.check_every, lr=args.lr, time_budget_s=args.time_budget,
        )  # fmt: skip
    except ConfigError as exc:
        raise UsageError(str(exc)) from None
    if args.dry_run:
        for config in configs:
            print(f"{config.task}: {config.label}, seed {config.seed}, {config.iterations} iterations")
        print(f"{len(configs)} runs")
        return 0
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise UsageError(f"--out {out}: exists and is not a directory")
    out.mkdir(parents=True, exist_ok=True)
    if (out / RECORDS).exists() and not args.resume:
        raise UsageError(f"--out {out} already holds {RECORDS}: add --resume to continue it, or choose another folder")

    def progress(config, record) -> None:
        print(
            f"{config.task}: {config.label}, seed {config.seed}: {record['status']}, "
            f"{record.get('iterations_done', 0)} iterations, {record.get('training_s', 0.0):.1f} s training",
            file=sys.stderr,
        )

    if args.dask:
        trained, skipped = run_on_dask(configs, out, args.dask, resume=args.resume, progress=progress)
    else:
        trained, skipped = run_bench(configs, out, resume=args.resume, execute=run_isolated, progress=progress)
    print(f"{trained} runs trained, {skipped} already complete")
    print(render_bench_report(out, targets=targets, choices=choices))
    return 0
