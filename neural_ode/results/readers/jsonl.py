"""This tool's own results: ``results.jsonl`` (one record per line) or a sweep directory."""

from __future__ import annotations

import json
import math
import warnings
from pathlib import Path

NAME = "neural-ode-bench results.jsonl"
#: the column naming, per row, the measured fields (comma-separated) recorded as NaN or +-Infinity. Such
#: a record is valid (the schema's figures are floats, and a gradient error can be NaN or inf); the
#: row is kept with the value as recorded, and this column tells a recorded NaN from a null, which
#: pandas turns into the same NaN: ``compare`` reads a figure finite in BASE and named here in NEW
#: as a regression (issue 32). Readers without non-finite figures leave it out.
NON_FINITE = "non_finite_fields"


def _file(path: Path) -> Path:
    return path / "results.jsonl" if path.is_dir() else path


def can_read(path: Path) -> bool:
    """A ``.jsonl`` file, or a directory holding ``results.jsonl``."""
    return _file(path).suffix == ".jsonl" and _file(path).is_file()


def load_rows(path: Path) -> list[dict]:
    """The valid cell records of a JSON-lines file (LF, CRLF or CR-only line endings).

    A line that is truncated, corrupt, too deeply nested, not valid UTF-8, not a JSON object or
    not a valid cell record (:func:`neural_ode.results.rows.check_row`: every field of its
    schema type, a registered workload) is named in one warning and dropped. A FIFO or a device
    is refused (:class:`neural_ode.validation.UsageError`) rather than waited on."""
    from neural_ode.results.rows import BadRecord, check_row
    from neural_ode.validation import open_regular

    rows = []
    with open_regular(_file(path)) as handle:
        data = handle.read()
    for number, raw in enumerate(data.splitlines(), 1):  # bytes.splitlines: \n, \r\n and \r only
        if not raw.strip():
            continue
        try:
            row = json.loads(raw.decode("utf-8"))
        except (ValueError, RecursionError):  # JSONDecodeError, UnicodeDecodeError, nesting too deep
            warnings.warn(f"{path}: line {number} is truncated or corrupt and was dropped", stacklevel=2)
            continue
        if not isinstance(row, dict):
            kind = type(row).__name__
            warnings.warn(f"{path}: line {number} is not a record (a JSON {kind}); dropped", stacklevel=2)
            continue
        # issue 32: a measured figure recorded as NaN or +-inf is a result, not a corrupt line. It is
        # checked as if null (check_row refuses non-finite values) and kept as recorded, named in
        # NON_FINITE. Keep this behaviour in any rewrite: tests/test_compare.py checks it end to end.
        non_finite = _non_finite_figures(row)
        try:
            check_row({**row, **dict.fromkeys(non_finite)} if non_finite else row, str(path))
        except (BadRecord, ValueError, RecursionError) as exc:
            warnings.warn(f"{path}: line {number} is not a valid cell record ({str(exc)[:240]}); dropped", stacklevel=2)
            continue
        rows.append({**row, NON_FINITE: ",".join(non_finite)} if non_finite else row)
    return rows


def _non_finite_figures(row: dict) -> list[str]:
    """The float fields of the schema (metrics declared float, and timing spreads) holding NaN or +-inf in ``row``."""
    from neural_ode.results.schema import METRICS

    names = [name for m in METRICS.values() for name in ((m.name,) if m.dtype is float else ()) + m.spread_fields]
    return [name for name in names if isinstance(row.get(name), float) and not math.isfinite(row[name])]


def read(path: Path):
    """The records as a DataFrame."""
    import pandas as pd

    return pd.DataFrame(load_rows(path))
