"""This tool's own results: ``results.jsonl`` (one record per line) or a sweep directory.

Reading and checking the records is :mod:`neural_ode.results.records`' job (one pass, one set of
refusals for ``report``, ``compare`` and ``run --resume``); this module only claims the files.
"""

from __future__ import annotations

from pathlib import Path

from neural_ode.results.records import NON_FINITE  # noqa: F401 (re-exported: compare reads it)

NAME = "neural-ode-bench results.jsonl"
#: :func:`read` takes ``progress``
PROGRESS = True


def _file(path: Path) -> Path:
    return path / "results.jsonl" if path.is_dir() else path


def can_read(path: Path) -> bool:
    """A ``.jsonl`` file, or a directory holding ``results.jsonl``."""
    return _file(path).suffix == ".jsonl" and _file(path).is_file()


def load_rows(path: Path, *, progress: bool = False) -> list[dict]:
    """The valid cell records of ``path``: :func:`neural_ode.results.records.read_rows`."""
    from neural_ode.results.records import read_rows

    return read_rows(path, progress=progress)


def read(path: Path, *, progress: bool = False):
    """The records as a DataFrame (:func:`neural_ode.results.records.read_frame`)."""
    from neural_ode.results.records import read_frame

    return read_frame(_file(path) if Path(path).is_dir() else path, progress=progress)
