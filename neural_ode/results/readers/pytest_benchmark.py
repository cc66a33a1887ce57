"""pytest-benchmark JSON (``--benchmark-json``, ``--benchmark-autosave``) of this project's suite:
one file, or a storage directory (``.benchmarks``, or one machine's directory in it) whose JSON
files are all read.

Each benchmark of ``benchmarks/test_bench_gradients.py`` carries its cell's config and exact
figures in ``extra_info``; its timing statistics are per call, in seconds. The two benchmarks
of a cell (``phase`` ``step``: forward + backward; ``forward``: the forward pass) become one row:

* ``time_forward_s`` (+ ``_iqr_s``, ``_min_s``, ``_max_s``) from the forward benchmark;
* ``time_total_s`` (+ ``_iqr_s``, ``_min_s``, ``_max_s``) from the step benchmark, the median of
  whole steps; ``time_backward_s`` stays empty, as the backward pass is not timed on its own;
* ``time_repeats``: rounds of the step benchmark (of the forward one when there is no step);
* ``time_forward_samples_s`` / ``time_total_samples_s``: every round's time, when saved
  (``--benchmark-save-data``), which ``compare`` tests with Mann-Whitney U.

Benchmarks without a cell config in ``extra_info`` (other suites' entries) are left out.
"""

from __future__ import annotations

import warnings
from pathlib import Path

from neural_ode.results.readers import load_json_object, with_record_columns

NAME = "pytest-benchmark JSON"

#: provenance fields stored in extra_info beside the figures
PROVENANCE_KEYS = ("torch_version", "torchdiffeq_version", "device_name", "threads", "git_commit")


def figure_keys() -> tuple[str, ...]:
    """extra_info keys copied as they are: the status, every tracked metric of the schema
    (:func:`neural_ode.results.schema.tracked`) and the provenance. The pytest-benchmark suite
    writes exactly these."""
    from neural_ode.results.schema import tracked

    return ("status", "error", *(metric.name for metric in tracked()), *PROVENANCE_KEYS)


#: phase -> column prefix of its time statistics
PHASE_COLUMNS = {"forward": "time_forward", "step": "time_total"}


def record_columns() -> list[str]:
    """The columns of ``results.csv``, in order (a record's flat row)."""
    import pandas as pd

    return list(with_record_columns(pd.DataFrame()).columns)


def _is_benchmark_file(path: Path) -> bool:
    data = load_json_object(path)
    return data is not None and isinstance(data.get("benchmarks"), list) and "machine_info" in data


def benchmark_files(path: Path) -> list[Path]:
    """``path`` itself, or every pytest-benchmark JSON file under the directory ``path``."""
    path = Path(path)
    if path.is_dir():
        return [file for file in sorted(path.rglob("*.json")) if _is_benchmark_file(file)]
    return [path] if _is_benchmark_file(path) else []


def can_read(path: Path) -> bool:
    """A JSON file with pytest-benchmark's top-level ``benchmarks`` and ``machine_info`` keys, or a
    directory holding such files (a ``.benchmarks`` storage)."""
    return bool(benchmark_files(Path(path)))


def rows(data: dict) -> list[dict]:
    """One row per cell of a pytest-benchmark JSON document (already parsed)."""
    machine = data.get("machine_info") if isinstance(data.get("machine_info"), dict) else {}
    commit_info = data.get("commit_info") if isinstance(data.get("commit_info"), dict) else {}
    commit = commit_info.get("id")
    cells: dict[tuple, dict] = {}
    skipped = 0
    for bench in data["benchmarks"]:
        extra = bench.get("extra_info") if isinstance(bench, dict) else None
        config = extra.get("config") if isinstance(extra, dict) else None
        if not isinstance(config, dict) or not isinstance(bench.get("stats") or {}, dict):
            skipped += 1  # not one of this suite's benchmarks, or fields of the wrong type
            continue
        key = tuple(sorted((name, repr(value)) for name, value in config.items()))
        row = cells.setdefault(key, dict(config))
        row.update({name: extra[name] for name in figure_keys() if name in extra})
        phase = extra.get("phase", "step")
        prefix = PHASE_COLUMNS.get(phase)
        if prefix is None:
            continue
        stats = bench.get("stats") or {}
        row[f"{prefix}_s"] = stats.get("median")
        row[f"{prefix}_iqr_s"] = stats.get("iqr")
        row[f"{prefix}_min_s"] = stats.get("min")
        row[f"{prefix}_max_s"] = stats.get("max")
        if isinstance(stats.get("data"), list):
            row[f"{prefix}_samples_s"] = stats["data"]
        if phase == "step" or "time_repeats" not in row:
            row["time_repeats"] = stats.get("rounds")
        row.setdefault("measured_at", data.get("datetime"))
        row.setdefault("commit_date", commit_info.get("time"))
        row.setdefault("hostname", machine.get("node"))
        row.setdefault("python_version", machine.get("python_version"))
    if skipped:
        warnings.warn(
            f"{skipped} benchmark(s) without a cell config in extra_info (or with wrong-typed fields) were left out",
            stacklevel=3,
        )
    for row in cells.values():
        if row.get("git_commit") is None:
            row["git_commit"] = commit
    return list(cells.values())


def read(path: Path):
    """The cells of a pytest-benchmark JSON file as a DataFrame with the ``results.csv`` columns."""
    import pandas as pd

    files = benchmark_files(Path(path))
    if not files:
        raise ValueError(f"{path}: not a pytest-benchmark JSON file")
    table = pd.DataFrame([row for file in files for row in rows(load_json_object(file))])
    return with_record_columns(table)
