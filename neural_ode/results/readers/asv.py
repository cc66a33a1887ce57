"""ASV results (``asv run``) of this project's suite: a results directory, a machine directory
in one, or one result file.

An ASV results directory (``.asv/results``) holds ``benchmarks.json`` (every benchmark's
parameter names, unit and version) and, per machine, one file per commit and environment
(``<machine>/<commit>-<env>.json``). Files are loaded with ASV's own ``asv.results`` module;
results of a benchmark whose code has changed since (another version) are left out, as
``asv publish`` does.

Parameters named after cell fields (``workload``, ``method``, ``solver``, ``steps``,
``horizon``, ``tol`` = rtol = atol, ``device``) map back to the cell; sizes are the workload's
defaults, as in the suite. One row per commit, environment and cell:

* ``time_step`` -> ``time_total_s`` (median of whole steps, with ``_iqr_s`` from ASV's
  quartiles, ``_min_s``/``_max_s`` when samples were recorded); ``time_forward`` ->
  ``time_forward_s`` (same statistics); ``time_repeats``: samples of ``time_step``;
* ``track_<metric>`` -> ``<metric>`` (NFE, bytes, errors, as the record names them);
  ``track_peak_tensor_bytes`` -> ``cpu_peak_bytes`` or ``cuda_peak_bytes`` by the cell's device;
* the suite's one ``cell`` parameter (``workload=mlp method=adjoint solver=rk4 steps=10
  device=cpu``) maps back to the cell's fields, as parameters named after fields did;
* ``peakmem_step`` -> ``peakmem_step_bytes``: the benchmark process's peak RSS, imports and
  set-up included (not the record's ``rss_peak_bytes``, which is over a post-setup baseline);
* ``track_rss_peak_bytes`` (a fresh process per cell) -> ``rss_peak_bytes``, as the record;
* ``*_samples_s``: the timing samples when ASV recorded them (``--record-samples``), which
  ``compare`` tests with Mann-Whitney U;
* ``git_commit``: the commit ASV built; ``commit_date``: its date (ASV's ``date``, the commit's);
  ``measured_at``: when the benchmarks ran (ASV's earliest ``started_at``); ``hostname``: the
  ASV machine name; ``asv_env``: its environment. A cell whose benchmarks failed gets status
  ``error``; skipped ones (CUDA without a GPU) are no row at all.
"""

from __future__ import annotations

import ast
import datetime
import itertools
import json
import math
import warnings
from pathlib import Path

from neural_ode.results.readers import load_json_object, with_record_columns

NAME = "ASV results directory"

#: timed benchmark method -> column prefix
TIME_COLUMNS = {"time_step": "time_total", "time_forward": "time_forward"}
#: other non-track benchmark methods -> column
OTHER_COLUMNS = {"peakmem_step": "peakmem_step_bytes"}
#: ASV parameter names that are not CellConfig fields, and the fields they set
PARAM_ALIASES = {"tol": ("rtol", "atol")}
#: the suite's one parameter since the grid lists runnable cells only: ``name=value`` words
CELL_PARAM = "cell"
#: track benchmarks whose column depends on the cell's device
DEVICE_COLUMNS = {"track_peak_tensor_bytes": {"cuda": "cuda_peak_bytes", "cpu": "cpu_peak_bytes"}}


def _cell_words(text: str) -> tuple[list[str], tuple]:
    """The names and values of a ``cell`` parameter (``workload=mlp method=adjoint steps=10 ...``)."""
    names, values = [], []
    for word in str(text).split():
        name, _, value = word.partition("=")
        try:
            parsed = ast.literal_eval(value)
        except (ValueError, SyntaxError):
            parsed = value
        names.append(name)
        values.append(parsed)
    return names, tuple(values)


def _is_result_file(path: Path) -> bool:
    if path.name in ("benchmarks.json", "machine.json"):
        return False
    data = load_json_object(path)
    return data is not None and {"commit_hash", "env_name", "results"} <= set(data)


def _results_dir(path: Path) -> Path | None:
    """The results directory of ``path`` (itself, the parent of a machine directory, or two levels
    up from a result file)."""
    if path.is_dir():
        if (path / "benchmarks.json").is_file():
            return path
        if (path.parent / "benchmarks.json").is_file() and (path / "machine.json").is_file():
            return path.parent
        return None
    if _is_result_file(path) and (path.parent.parent / "benchmarks.json").is_file():
        return path.parent.parent
    return None


def can_read(path: Path) -> bool:
    """A directory holding ASV's ``benchmarks.json``, or one result file inside such a directory."""
    return _results_dir(Path(path)) is not None


def _cell_fields(param_names: list[str], values: tuple) -> dict:
    from neural_ode.config import CellConfig, ConfigError

    fields: dict = {}
    for name, value in zip(param_names, values):
        for field in PARAM_ALIASES.get(name, (name,)):
            fields[field] = value
    known = {f for f in CellConfig.__dataclass_fields__}
    config_fields = {k: v for k, v in fields.items() if k in known}
    try:
        from neural_ode.workloads.trusted import check_workload

        check_workload(config_fields.get("workload", "mlp"))  # a factory named in the file is never imported
        row = CellConfig(**config_fields).to_dict()
    except (ConfigError, TypeError, ValueError):  # a cell the current registries no longer accept: keep it as given
        row = dict(config_fields)
    row.update({k: v for k, v in fields.items() if k not in known})
    return row


def _column(method: str) -> tuple[str, str] | None:
    """(kind, column) of a benchmark method, None for methods this reader does not know."""
    from neural_ode.results.record import METRICS

    if method in TIME_COLUMNS:
        return "time", TIME_COLUMNS[method]
    if method in OTHER_COLUMNS:
        return "value", OTHER_COLUMNS[method]
    if method in DEVICE_COLUMNS:
        return "device", method
    if method.startswith("track_") and method[len("track_") :] in METRICS:
        return "value", method[len("track_") :]
    return None


def _iso(timestamp_ms) -> str | None:
    if not timestamp_ms:
        return None
    return datetime.datetime.fromtimestamp(timestamp_ms / 1000, datetime.UTC).isoformat(timespec="seconds")


def _provenance(results) -> dict:
    params = results.params
    started = [t for t in (results.started_at or {}).values() if t]
    torch_req = params.get("torch") or params.get("req-torch")
    return {
        "git_commit": results.commit_hash,
        "commit_date": _iso(results.date),
        "measured_at": _iso(min(started)) if started else None,
        "hostname": params.get("machine"),
        "python_version": params.get("python"),
        "torch_version": torch_req.lstrip("=") if isinstance(torch_req, str) and torch_req.startswith("==") else None,
        "asv_env": results.env_name,
    }


def _is_missing(value) -> bool:
    return isinstance(value, float) and math.isnan(value)


def rows_of(results, benchmarks: dict) -> list[dict]:
    """One row per cell of one loaded :class:`asv.results.Results`."""
    cells: dict[tuple, dict] = {}
    failed: dict[tuple, list[str]] = {}
    provenance = _provenance(results)
    for key in sorted(results.get_result_keys(benchmarks)):
        method = key.rsplit(".", 1)[-1]
        column = _column(method)
        param_names = benchmarks[key].get("param_names") or []
        params = results.get_result_params(key)
        cell_param = param_names == [CELL_PARAM]
        known = cell_param or {"method", "solver"} <= set(param_names)
        if column is None or not known or len(params) != len(param_names):
            continue
        kind, name = column
        combos = list(itertools.product(*params))
        values = results.get_result_value(key, params)
        stats = results.get_result_stats(key, params) or [None] * len(combos)
        samples = results.get_result_samples(key, params) or [None] * len(combos)
        for combo, value, stat, sample in zip(combos, values, stats, samples):
            if _is_missing(value):  # skipped (NotImplementedError in setup)
                continue
            cell_key = tuple(combo)
            row = cells.get(cell_key)
            if row is None:
                values = tuple(ast.literal_eval(v) for v in combo)
                names, values = _cell_words(values[0]) if cell_param else (param_names, values)
                row = cells[cell_key] = _cell_fields(names, values)
                row.update(provenance)
                if row.get("device") == "cpu":
                    row["device_name"] = results.params.get("cpu")
            if value is None:  # failed
                failed.setdefault(cell_key, []).append(method)
                continue
            if kind == "time":
                row[f"{name}_s"] = value
                if stat and "q_25" in stat and "q_75" in stat:
                    row[f"{name}_iqr_s"] = stat["q_75"] - stat["q_25"]
                if sample:
                    row[f"{name}_min_s"], row[f"{name}_max_s"] = min(sample), max(sample)
                    row[f"{name}_samples_s"] = list(sample)
                if method == "time_step" and stat and stat.get("repeat") is not None:
                    row["time_repeats"] = stat["repeat"]
            elif kind == "device":
                row[DEVICE_COLUMNS[name].get(row.get("device"), "cpu_peak_bytes")] = value
            else:
                row[name] = value
    for cell_key, row in cells.items():
        if cell_key in failed:
            row["status"] = "error"
            row["error"] = "ASV benchmark(s) failed: " + ", ".join(sorted(failed[cell_key]))
        else:
            row["status"] = "ok"
    return list(cells.values())


def read(path: Path):
    """The cells of every result file in the ASV results directory of ``path``, as a DataFrame."""
    import pandas as pd
    from asv.results import Results, iter_results

    path = Path(path)
    directory = _results_dir(path)
    if directory is None:
        raise ValueError(f"{path}: not an ASV results directory (no benchmarks.json)")
    with open(directory / "benchmarks.json", encoding="utf-8") as handle:
        benchmarks = {k: v for k, v in json.load(handle).items() if k != "version"}
    if path.is_file():
        loaded = [Results.load(str(path))]
    elif path != directory:  # a machine directory
        loaded = [Results.load(str(file)) for file in sorted(path.glob("*.json")) if _is_result_file(file)]
    else:
        loaded = list(iter_results(str(directory)))
    found = []
    for results in loaded:
        try:
            found += rows_of(results, benchmarks)
        except (TypeError, ValueError, KeyError, AttributeError, IndexError, SyntaxError) as exc:
            name = getattr(results, "env_name", "?")
            warnings.warn(f"{path}: ASV results of {name} have fields of the wrong type ({exc}); skipped", stacklevel=2)
    table = pd.DataFrame(found)
    if table.empty:
        warnings.warn(f"{path}: no results of this project's ASV suite", stacklevel=2)
    return with_record_columns(table)
