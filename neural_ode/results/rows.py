"""The one reader of ``results.jsonl`` records: every field checked against the schema's type.

``run --resume``, ``report`` and ``compare`` read records through :func:`check_row` (via
:func:`neural_ode.results.readers.jsonl.load_rows`), so a line is either a valid cell record for
all three, or named in one warning and skipped by all three (never counted as done).

A record must name its cell: ``workload``, ``method`` and ``solver`` (a line without config
fields is not the default cell). Config fields are checked against :class:`CellConfig`'s types
and values (the same checks as a typed option); ``workload`` must be registered or a factory the
user named (:mod:`neural_ode.workloads.trusted`); metrics against the schema's dtypes
(:data:`neural_ode.results.schema.METRICS`), context fields against
:data:`neural_ode.results.record.CONTEXT_FIELDS`; ``status`` must be a known status.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import re
import typing

from neural_ode.errors import STATUSES, BadRecord
from neural_ode.validation import INT64_MAX

#: what a user's factory spec looks like: ``package.module:function``
FACTORY = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*:[A-Za-z_][A-Za-z0-9_]*")

#: config fields every record must carry
REQUIRED = ("workload", "method", "solver")
#: the longest text a field may hold, characters
MAX_TEXT = 20_000
#: the largest measured value a record may hold (seconds, bytes, counts, relative errors): beyond
#: anything measurable, and small enough that the report's fits (squares, sums) stay finite
MAX_MEASURED = 1e15
#: the most samples a list field may hold
MAX_SAMPLES = 100_000


def _is_int(value) -> bool:
    """An integer within int64; an integral float too (``64.0``: pandas writes integer columns with gaps so)."""
    if isinstance(value, float):
        return math.isfinite(value) and value.is_integer() and abs(value) <= INT64_MAX
    return isinstance(value, int) and not isinstance(value, bool) and abs(value) <= INT64_MAX


def _is_float(value) -> bool:
    return (isinstance(value, float) or _is_int(value)) and not isinstance(value, bool)


def _is_list(value) -> bool:
    return (
        isinstance(value, list)
        and len(value) <= MAX_SAMPLES
        and all(_is_float(v) and math.isfinite(v) and 0 <= v <= MAX_MEASURED for v in value)
    )


def _is_phases(value) -> bool:
    return (
        isinstance(value, dict)
        and len(value) <= 32
        and all(
            isinstance(k, str) and len(k) <= 32 and _is_float(v) and math.isfinite(v) and 0 <= v <= MAX_MEASURED
            for k, v in value.items()
        )
    )


_CHECKS = {
    bool: (lambda v: isinstance(v, bool), "true or false"),
    int: (_is_int, "an integer within int64"),
    float: (_is_float, "a number"),
    str: (lambda v: isinstance(v, str) and len(v) <= MAX_TEXT, f"a text of at most {MAX_TEXT} characters"),
    list: (_is_list, "a list of measurements (numbers in [0, 1e15])"),
    dict: (_is_phases, "a table of at most 32 named seconds (numbers in [0, 1e15])"),
}


def _kinds(annotation) -> tuple[list, bool]:
    """The checkable types of an annotation, and whether None is allowed."""
    args = typing.get_args(annotation) or (annotation,)
    return [a for a in args if a in _CHECKS], type(None) in args


@functools.cache
def _field_types() -> tuple[dict, dict]:
    """(config field -> annotation, record field -> annotation)."""
    from neural_ode.config import CellConfig
    from neural_ode.results.record import CellRecord

    config = typing.get_type_hints(CellConfig)
    record = {f.name: f.type for f in dataclasses.fields(CellRecord) if f.name != "config"}
    return config, record


def _check_value(name: str, value, annotation, *, finite: bool) -> None:
    kinds, nullable = _kinds(annotation)
    if value is None:
        if nullable:
            return
        raise BadRecord(f"{name} is null; allowed: {' or '.join(_CHECKS[k][1] for k in kinds)}")
    if not kinds:
        return
    if not any(_CHECKS[k][0](value) for k in kinds):
        allowed = " or ".join(_CHECKS[k][1] for k in kinds) + (" or null" if nullable else "")
        raise BadRecord(f"{name} is {repr(value)[:60]} ({type(value).__name__}); allowed: {allowed}")
    if finite and isinstance(value, float) and not math.isfinite(value):
        raise BadRecord(f"{name} is {value!r}; allowed: a finite number")


def check_row(row: dict, where: str = "", *, build: bool = False):
    """The :class:`CellRecord` of ``row`` if every field is what the schema says; else BadRecord.

    A ``package.module:function`` workload the user did not name (:mod:`neural_ode.workloads.trusted`)
    is never imported: with ``build`` (``--resume``, which would measure it) the line is refused;
    without (``report``, ``compare``: reading only) its fields are type-checked and None is returned.

    Args:
        row: one decoded JSON object of ``results.jsonl``.
        where: the file, for the workload refusal's message.
        build: the caller needs the record (and so the cell config, which imports a factory).
    """
    from neural_ode.config import CellConfig
    from neural_ode.results.record import CellRecord
    from neural_ode.workloads.trusted import check_workload, is_trusted

    if not isinstance(row, dict):
        raise BadRecord(f"not a record (a JSON {type(row).__name__})")
    missing = [name for name in REQUIRED if name not in row]
    if missing:
        raise BadRecord(f"no {', '.join(missing)}: not a cell record (a record names its workload, method and solver)")
    config_types, record_types = _field_types()
    workload = row["workload"]
    untrusted_factory = isinstance(workload, str) and FACTORY.fullmatch(workload) is not None and not build
    if not untrusted_factory:
        check_workload(workload, where)
    for name, annotation in config_types.items():
        if name in row:
            _check_value(name, row[name], annotation, finite=True)
    for name, annotation in record_types.items():
        if name in row:
            _check_value(name, row[name], annotation, finite=True)
            if name in _metric_names() and row[name] is not None and not 0 <= row[name] <= MAX_MEASURED:
                raise BadRecord(f"{name} is {row[name]!r}; allowed: a measurement in [0, {MAX_MEASURED:g}] or null")
    for name in ("load_before", "load_after", "other_cpu_cores", "cell_wall_s"):  # config values: CellConfig checks
        value = row.get(name)
        if _is_float(value) and abs(value) > MAX_MEASURED:
            raise BadRecord(f"{name} is {value!r}; allowed: at most {MAX_MEASURED:g}")
    if "status" in row and row["status"] not in STATUSES:
        raise BadRecord(f"status is {repr(row['status'])[:60]}; allowed: {', '.join(STATUSES)}")
    if untrusted_factory and not is_trusted(workload):
        return None  # read as data only: its factory is not imported
    row = {k: _as_declared(v, config_types.get(k) or record_types.get(k)) for k, v in row.items()}
    try:
        config = CellConfig(**{k: v for k, v in row.items() if k in config_types})
        return CellRecord(config=config, **{k: v for k, v in row.items() if k in record_types})
    except (TypeError, ValueError, KeyError, AttributeError, OverflowError) as exc:
        raise BadRecord(str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__) from exc


def _as_declared(value, annotation):
    """An integral float of an int-only field as an int (``64.0`` -> ``64``); any other value as is."""
    kinds, _ = _kinds(annotation) if annotation is not None else ([], False)
    if isinstance(value, float) and kinds == [int] and _is_int(value):
        return int(value)
    return value


@functools.cache
def _metric_names() -> frozenset[str]:
    """Measured fields (metrics and their spreads): finite, non-negative, at most :data:`MAX_MEASURED`."""
    from neural_ode.results.schema import METRICS

    names = set()
    for metric in METRICS.values():
        names.add(metric.name)
        names.update(metric.spread_fields)
    return frozenset(names)
