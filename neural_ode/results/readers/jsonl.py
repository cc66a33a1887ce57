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
    """The records of a JSON-lines file; a truncated or corrupt line is dropped with a warning."""
    rows = []
    with open(_file(path), encoding="utf-8") as handle:
        for number, line in enumerate(handle, 1):
            if not line.strip():
                continue
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError:
                warnings.warn(f"{path}: line {number} is truncated or corrupt and was dropped", stacklevel=2)
    return rows


def read(path: Path):
    """The records as a DataFrame."""
    import pandas as pd

    return pd.DataFrame(load_rows(path))
