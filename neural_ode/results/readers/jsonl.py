"""This tool's own results: ``results.jsonl`` (one record per line) or a sweep directory."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

NAME = "neural-ode-bench results.jsonl"


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
        try:
            check_row(row, str(path))
        except (BadRecord, ValueError, RecursionError) as exc:
            warnings.warn(f"{path}: line {number} is not a valid cell record ({str(exc)[:240]}); dropped", stacklevel=2)
            continue
        rows.append(row)
    return rows


def read(path: Path):
    """The records as a DataFrame."""
    import pandas as pd

    return pd.DataFrame(load_rows(path))
