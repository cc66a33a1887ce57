"""Readers of result files into one table, for the report.

Each module here defines ``NAME``, ``can_read(path) -> bool`` and ``read(path) ->
pandas.DataFrame`` whose rows have the columns of ``results.csv`` (see
:meth:`neural_ode.results.record.CellRecord.to_dict`), plus a ``source`` column naming the file.
:func:`read_results` picks the first reader that accepts each path, so supporting a new
format is one new module.
"""

from __future__ import annotations

import importlib
import json
import pkgutil
from pathlib import Path


class UnreadableResults(ValueError):
    """A path no reader accepts, or a file a reader cannot parse."""


def load_json_object(path: Path) -> dict | None:
    """The JSON object in the file ``path``; None when it is not a readable ``.json`` file holding
    one object (unreadable, not UTF-8, not JSON, nested too deep, or another JSON value)."""
    path = Path(path)
    if not path.is_file() or path.suffix != ".json":
        return None
    try:
        with open(path, encoding="utf-8") as handle:
            data = json.load(handle)
    except (OSError, ValueError, RecursionError):
        return None
    return data if isinstance(data, dict) else None


def with_record_columns(table):
    """``table`` with every column of ``results.csv`` (a record's flat row), in order, missing ones
    empty, then its other columns."""
    from neural_ode.config import CellConfig
    from neural_ode.results.record import CellRecord

    columns = list(CellRecord(config=CellConfig()).to_dict())
    for name in columns:
        if name not in table:
            table[name] = None
    extra = [name for name in table.columns if name not in columns]
    return table[columns + extra]


def reader_modules() -> list:
    """The reader modules, in name order."""
    names = sorted(info.name for info in pkgutil.iter_modules(__path__))
    return [importlib.import_module(f"{__name__}.{name}") for name in names]


def read_results(paths, *, progress: bool = False):
    """One DataFrame of every row in ``paths`` (any mix of supported formats); ``progress``: a bar
    on stderr (when it is a terminal) while a reader that offers one (``PROGRESS = True``) reads."""
    import pandas as pd

    frames = []
    modules = reader_modules()
    for path in map(Path, paths):
        if not path.exists():
            raise UnreadableResults(f"{path}: no such file or directory")
        for module in modules:
            if module.can_read(path):
                offers = getattr(module, "PROGRESS", False)
                frame = module.read(path, progress=progress) if offers else module.read(path)
                frame["source"] = str(path)
                frames.append(frame)
                break
        else:
            names = ", ".join(module.NAME for module in modules)
            raise UnreadableResults(f"{path}: not a results file of any known format ({names})")
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
