"""Running the training benchmark: the plan of runs, one fresh process per run, the records file, resuming.

Runs train one after another, never two at once: the timings are one core's, alone. The command
line trains each in a process of its own, forked from the sweep's forkserver
(:mod:`neural_ode.commands.train_bench`; here they can also train in this process). A run's records
are kept apart until it has ended, then appended to ``bench.jsonl`` in the results folder, the
``run`` record last, and fsynced. A run is complete when its ``run`` record is there; ``--resume``
skips the complete ones, and a reader (:func:`read_records`) keeps only the records of the attempt
each ``run`` record names, so a run cut off halfway (or appended twice) never counts twice.

On a Dask cluster (``--dask``), each run is one task: a worker trains it in a fresh
``python -m neural_ode.apps.training.bench_runner`` process (:func:`main`: its config on stdin, its
records on stdout), and the client appends them as the tasks finish (:func:`append_records`).
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

from neural_ode.apps.training.bench import BenchConfig, train_run
from neural_ode.apps.training.bench_tasks import TASKS
from neural_ode.config import ConfigError
from neural_ode.methods import METHODS
from neural_ode.solvers import SOLVERS

#: the records file in a results folder
RECORDS = "bench.jsonl"
#: the solver of methods that walk a fixed grid only (``checkpoint``), at the task's two step counts
FALLBACK_SOLVER = "rk4"


def plan(
    tasks: Sequence[str],
    methods: Sequence[str],
    solver: str,
    tolerances: Sequence[float],
    seeds: Iterable[int],
    **overrides,
) -> list[BenchConfig]:
    """The runs: every task x method x tolerance x seed, seed innermost.

    A method that cannot take ``solver`` (``checkpoint`` walks a fixed grid) runs with
    :data:`FALLBACK_SOLVER` at the task's ``fixed_steps`` instead, the coarser grid paired with the
    looser tolerance. ``overrides``: ``iterations``, ``check_every``, ``lr``, ``batch``, ``width``,
    ``time_budget_s`` (None values keep the task's defaults).
    """
    configs = []
    for name in tasks:
        if name not in TASKS:
            raise ConfigError(f"unknown task {name!r}; allowed: {', '.join(TASKS)}")
        task = TASKS[name]
        sizes = {k: v for k, v in task.defaults.items()}
        sizes.update({k: v for k, v in overrides.items() if v is not None})
        for method in methods:
            if method not in METHODS:
                raise ConfigError(f"unknown method {method!r}; allowed: {', '.join(METHODS)}")
            if METHODS[method].supports(solver) and SOLVERS[solver].adaptive:
                solves = [{"solver": solver, "rtol": tol, "steps": None} for tol in tolerances]
            elif METHODS[method].supports(solver):
                solves = [{"solver": solver, "rtol": None, "steps": steps} for steps in task.fixed_steps]
            elif METHODS[method].supports(FALLBACK_SOLVER):
                levels = task.fixed_steps[: len(tolerances)] if len(tolerances) > 1 else task.fixed_steps[:1]
                solves = [{"solver": FALLBACK_SOLVER, "rtol": None, "steps": steps} for steps in levels]
            else:
                raise ConfigError(f"method {method!r} supports neither {solver} nor {FALLBACK_SOLVER}")
            for solve in solves:
                for seed in seeds:
                    configs.append(BenchConfig(task=name, method=method, seed=seed, **solve, **sizes))
    return configs


def append_records(path: Path, records: Sequence[dict]) -> None:
    """Append ``records`` (one JSON object a line) to ``path`` and fsync it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a", encoding="utf-8") as handle:
        for record in records:
            handle.write(json.dumps(record) + "\n")
        handle.flush()
        os.fsync(handle.fileno())


def read_records(path: Path) -> list[dict]:
    """The records of complete runs in ``path``: for each run key, those of the attempt its last
    ``run`` record names. A line that is not a JSON object (a torn last line) is skipped."""
    if not Path(path).is_file():
        return []
    lines = []
    with open(path, encoding="utf-8") as handle:
        for line in handle:
            try:
                record = json.loads(line)
            except ValueError:
                continue
            if isinstance(record, dict) and isinstance(record.get("key"), str) and "attempt" in record:
                lines.append(record)
    attempts = {r["key"]: r["attempt"] for r in lines if r.get("kind") == "run"}
    return [r for r in lines if attempts.get(r["key"]) == r["attempt"]]


def complete_keys(path: Path) -> set[str]:
    """The keys of the runs complete in ``path``."""
    return {r["key"] for r in read_records(path) if r.get("kind") == "run"}


def train_into(config: dict, record_path: str) -> None:
    """In a run process: train ``config`` (a BenchConfig's fields), appending each record to ``record_path``."""
    with open(record_path, "a", encoding="utf-8") as handle:

        def emit(record: dict) -> None:
            handle.write(json.dumps(record) + "\n")
            handle.flush()

        train_run(BenchConfig(**config), emit)


def crashed_record(config: BenchConfig, records: list[dict], reason: str) -> dict:
    """The ``run`` record of a run whose process died before writing its own."""
    attempt = records[0]["attempt"] if records else "crashed"
    done = max((r["iteration"] + 1 for r in records if r.get("kind") == "iteration"), default=0)
    return {
        "key": config.key, "label": config.label, "attempt": attempt, "kind": "run", "config": config.to_dict(),
        "status": "crashed", "error": reason, "iterations_done": done,
    }  # fmt: skip


def parse_lines(text: str) -> list[dict]:
    records = []
    for line in text.splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if isinstance(record, dict):
            records.append(record)
    return records


def train_here(config: BenchConfig) -> list[dict]:
    """Train ``config`` in this process; its records."""
    records = []
    train_run(config, records.append)
    return records


def run_bench(
    configs: Sequence[BenchConfig],
    out_dir: str | Path,
    *,
    resume: bool = False,
    execute: Callable[[BenchConfig], list[dict]] = train_here,
    progress=None,
) -> tuple[int, int]:
    """Train ``configs`` one after another, appending their records to ``out_dir``/bench.jsonl.

    ``execute(config)`` trains one run and returns its records, the ``run`` record last (the
    command line passes one that trains in a fresh process; default: in this one).
    ``progress(config, run_record)`` is called after each run. Returns (runs trained, runs skipped
    as complete).
    """
    path = Path(out_dir) / RECORDS
    done = complete_keys(path) if resume else set()
    todo = [c for c in configs if c.key not in done]
    for config in todo:
        records = execute(config)
        append_records(path, records)
        if progress is not None:
            progress(config, records[-1])
    return len(todo), len(configs) - len(todo)


def main() -> int:
    """``python -m neural_ode.apps.training.bench_runner``: one run's config on stdin, its records on stdout."""
    out = os.fdopen(os.dup(sys.stdout.fileno()), "w", encoding="utf-8")
    sys.stdout.flush()
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())  # library output must not mix with the records

    def emit(record: dict) -> None:
        out.write(json.dumps(record) + "\n")
        out.flush()

    train_run(BenchConfig(**json.loads(sys.stdin.read())), emit)
    return 0


if __name__ == "__main__":
    sys.exit(main())
