"""``results.jsonl``: the one module that reads, checks, migrates and appends cell records.

A line is parsed once (the standard library's C JSON decoder, one call per line) and checked once,
here, for every caller: ``report`` and ``compare`` (:func:`read_rows`, :func:`read_frame`) and ``run
--resume`` (:class:`ResultsLog`). A line is either a valid cell record for all of them, or named in
one warning and skipped by all of them (never counted as done).

A record must name its cell: ``workload``, ``method`` and ``solver`` (a line without config
fields is not the default cell). Config fields are checked against :class:`CellConfig`'s types
and values (the same checks as a typed option); ``workload`` must be registered or a factory the
user named (:mod:`neural_ode.workloads.trusted`); metrics against the schema's dtypes
(:data:`neural_ode.results.schema.METRICS`), context fields against
:data:`neural_ode.results.record.CONTEXT_FIELDS`; ``status`` must be a known status. A measured
value (a metric or its spread) is a number in [0, :data:`MAX_MEASURED`], NaN or +infinity (a
gradient that went non-finite is a result, not a broken line), or null.

Checking is cheap per line (:mod:`neural_ode.results.checks`: each field's check compiled once) and the
cross-field checks of a cell config run once per distinct combination of the fields they involve,
so 100,000 lines read in seconds, not the minutes of building one config per line.

Versions: every record carries ``schema_version``. A line of an older version is brought up to
:data:`SCHEMA_VERSION` by the chain of :data:`MIGRATIONS` (one function per version step, as asv's
``update_to_N``); a file holding a line of a newer version is refused as a whole
(:class:`NewerSchema`, a usage error: exit status 2), since this tool cannot know what its fields mean.
"""

from __future__ import annotations

import functools
import json
import math
import os
import warnings
from collections.abc import Callable
from pathlib import Path

from neural_ode.errors import UsageError
from neural_ode.results.checks import MAX_MEASURED, BadRecord, ConfigCheck, check_fields, check_row
from neural_ode.results.record import SCHEMA_VERSION, CellRecord
from neural_ode.validation import check_regular_or_absent, open_owned, open_regular

#: bad lines of one file named one by one in a warning; the rest are counted in one more
MAX_WARNINGS = 20


class NewerSchema(UsageError):
    """A results file written by a newer version of the record schema than this tool reads."""


def _from_unversioned(row: dict) -> dict:
    """Version 0 (a line without ``schema_version``) to 1: the fields are the same; the version is
    stated. Fields added since (``stage``, ``max_repeats``, ...) are absent from older lines and read
    as their defaults, which describe how those cells were measured (training stage 0, a fixed count
    of repeats)."""
    return {**row, "schema_version": 1}


#: version -> the function taking a row of that version to the next one
MIGRATIONS: dict[int, Callable[[dict], dict]] = {0: _from_unversioned}


def migrate(row: dict, where: str = "") -> dict:
    """``row`` brought up to :data:`SCHEMA_VERSION` through :data:`MIGRATIONS`.

    Raises:
        NewerSchema: the row is of a newer version than this tool reads.
        BadRecord: its version is below any known one.
    """
    version = row.get("schema_version", 0)
    if type(version) is not int:  # a wrong type is named by the field check
        return row
    if version > SCHEMA_VERSION:
        place = f"{where}: " if where else ""
        raise NewerSchema(
            f"{place}written with record schema version {version}; this neural-ode-bench reads versions up to "
            f"{SCHEMA_VERSION}: read it with the newer version that wrote it"
        )
    if version < 0:
        raise BadRecord(f"schema_version is {version}; allowed: 0 to {SCHEMA_VERSION}")
    while version < SCHEMA_VERSION:
        row = MIGRATIONS[version](row)
        version += 1
    return row


# --- a file -------------------------------------------------------------------------------------


def _file(path: Path) -> Path:
    path = Path(path)
    return path / "results.jsonl" if path.is_dir() else path


class _Dropped:
    """The warnings of one file's bad lines: the first :data:`MAX_WARNINGS` one by one, then a count."""

    def __init__(self, path):
        self.path = path
        self.count = 0

    def __call__(self, number: int, what: str) -> None:
        self.count += 1
        if self.count <= MAX_WARNINGS:
            warnings.warn(f"{self.path}: line {number} {what}", stacklevel=4)

    def close(self) -> None:
        if self.count > MAX_WARNINGS:
            more = self.count - MAX_WARNINGS
            warnings.warn(f"{self.path}: {more} more lines were dropped (the first {MAX_WARNINGS} are named above)",
                          stacklevel=3)  # fmt: skip


def read_rows(path: Path, *, progress: bool = False) -> list[dict]:
    """The valid cell records of a JSON-lines file (LF, CRLF or CR-only line endings), migrated to
    :data:`SCHEMA_VERSION`.

    A line that is truncated, corrupt, too deeply nested, not valid UTF-8, not a JSON object or
    not a valid cell record (:func:`check_row`: every field of its schema type, a registered
    workload) is named in one warning and dropped (past :data:`MAX_WARNINGS` such lines, the rest
    are counted in one warning). A FIFO or a device is refused
    (:class:`neural_ode.validation.UsageError`) rather than waited on; a line of a newer schema
    version refuses the file (:class:`NewerSchema`).
    """
    with open_regular(_file(path)) as handle:
        data = handle.read()
    lines = data.splitlines()  # bytes.splitlines: \n, \r\n and \r only
    del data
    dropped = _Dropped(path)
    check_config = ConfigCheck()
    rows = []
    for number, raw in enumerate(_progress(lines, progress, f"reading {Path(path).name}"), 1):
        if not raw.strip():
            continue
        try:
            row = json.loads(raw.decode("utf-8"))
        except (ValueError, RecursionError):  # JSONDecodeError, UnicodeDecodeError, nesting too deep
            dropped(number, "is truncated or corrupt and was dropped")
            continue
        if not isinstance(row, dict):
            dropped(number, f"is not a record (a JSON {type(row).__name__}); dropped")
            continue
        try:
            row = migrate(row, f"{path}: line {number}")
            if not check_fields(row, str(path), False):
                check_config(row)
        except (BadRecord, ValueError, RecursionError) as exc:
            if isinstance(exc, NewerSchema):
                raise
            dropped(number, f"is not a valid cell record ({str(exc)[:240]}); dropped")
            continue
        if b"NaN" in raw or b"Infinity" in raw:  # JSON's only spellings of non-finite numbers
            non_finite = [name for name in _measured_floats() if isinstance(row.get(name), float)
                          and not math.isfinite(row[name])]  # fmt: skip
            if non_finite:
                row[NON_FINITE] = ",".join(non_finite)
        rows.append(row)
    dropped.close()
    return rows


#: the column naming, per row, the measured fields (comma-separated) recorded as NaN or Infinity. Such a
#: record is valid (a gradient error can be NaN or inf); the row keeps the value as recorded, and this
#: column tells a recorded NaN from a null, which pandas turns into the same NaN: ``compare`` reads a
#: figure finite in BASE and named here in NEW as a regression (issue 32)
NON_FINITE = "non_finite_fields"


@functools.cache
def _measured_floats() -> tuple[str, ...]:
    """The float fields of the schema: metrics declared float, and every metric's timing spreads."""
    from neural_ode.results.schema import METRICS

    return tuple(name for m in METRICS.values() for name in ((m.name,) if m.dtype is float else ()) + m.spread_fields)


def read_frame(path: Path, *, progress: bool = False):
    """The valid records of ``path`` (:func:`read_rows`) as a pandas DataFrame, one row per record."""
    import pandas as pd

    return pd.DataFrame(read_rows(path, progress=progress))


def _progress(items, shown: bool, what: str):
    """``items``, with a tqdm bar on stderr when ``shown`` and stderr is a terminal."""
    if not shown:
        return items
    from tqdm import tqdm

    return tqdm(items, desc=what, unit=" lines", disable=None, leave=False, mininterval=0.5)


class ResultsLog:
    """``results.jsonl``: one record per line, each appended and fsynced as its cell finishes."""

    def __init__(self, path: Path | str):
        self.path = Path(path)

    def rows(self) -> list[dict]:
        """The records on disk (:func:`read_rows`); a truncated last line (a killed run) is cut off
        the file so that appending continues cleanly."""
        if not check_regular_or_absent(self.path):
            return []
        rows = read_rows(self.path)
        self._repair_tail()
        return rows

    def records(self, *, warn: bool = True) -> list[CellRecord]:
        """The lines that are valid cell records, built (a user's factory is refused unless named);
        any other is skipped, with a warning when ``warn``."""
        records = []
        for number, row in enumerate(self.rows(), 1):
            try:
                records.append(check_row(row, str(self.path), build=True))
            except (TypeError, ValueError, KeyError, AttributeError, OverflowError) as exc:
                if warn:
                    message = f"{self.path}: record {number} is not a cell record ({str(exc)[:200]}); ignored"
                    warnings.warn(message, stacklevel=2)
        return records

    def done_keys(self) -> set[tuple]:
        """The :attr:`CellConfig.key` of every cell already recorded (any status)."""
        return {record.config.key for record in self.records()}

    def append(self, record: CellRecord) -> None:
        """Add ``record`` as one line, on disk before this returns (flush + fsync)."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        line = json.dumps(record.to_dict()) + "\n"
        with open_owned(self.path, "a") as handle:
            handle.write(line)
            handle.flush()
            os.fsync(handle.fileno())

    def _repair_tail(self) -> None:
        """Cut an unfinished last line; end a whole last line that lacks its newline."""
        with open_owned(self.path, "r") as handle:
            data = handle.buffer.read()
        if not data or data.endswith((b"\n", b"\r")):
            return
        cut = max(data.rfind(b"\n"), data.rfind(b"\r")) + 1
        try:
            json.loads(data[cut:])
        except (ValueError, RecursionError):
            fd = os.open(self.path, os.O_WRONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
            try:
                os.ftruncate(fd, cut)
            finally:
                os.close(fd)
            return
        with open_owned(self.path, "a") as handle:
            handle.write("\n")


__all__ = [
    "MAX_MEASURED",
    "MAX_WARNINGS",
    "MIGRATIONS",
    "SCHEMA_VERSION",
    "BadRecord",
    "NewerSchema",
    "ResultsLog",
    "check_row",
    "migrate",
    "read_frame",
    "read_rows",
]
