"""The checks of one results.jsonl line: every field against the schema's type and range, once.

Each field's check is compiled once from the annotations of :class:`CellConfig` and
:class:`CellRecord` (:class:`_Field`), with a fast test for the common values and the full message
only for a bad one; the checks a cell config makes across its fields run once per distinct
combination of those fields (:class:`ConfigCheck`). :mod:`neural_ode.results.records` reads files
through them; :func:`check_row` builds the record (``run --resume``).
"""

from __future__ import annotations

import dataclasses
import functools
import math
import re
import typing
from collections.abc import Callable

from neural_ode.errors import STATUSES, BadRecord
from neural_ode.results.record import CellRecord
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


@dataclasses.dataclass(frozen=True)
class _Field:
    """One checked field: its checkable types, whether null is allowed, whether it is measured."""

    name: str
    kinds: tuple
    nullable: bool
    measured: bool

    def ok(self, value) -> bool:
        """True when ``value`` certainly passes :meth:`check` (the common cases, without building a message)."""
        kind = type(value)
        if value is None:
            return self.nullable
        if not self.kinds:
            return True
        if kind is float:
            if float in self.kinds:
                if self.measured:
                    return 0 <= value <= MAX_MEASURED or value != value or value == math.inf
                return math.isfinite(value)
            return int in self.kinds and _is_int(value) and not (self.measured and not 0 <= value <= MAX_MEASURED)
        if kind is int:
            if (int in self.kinds or float in self.kinds) and -INT64_MAX <= value <= INT64_MAX:
                return not self.measured or 0 <= value <= MAX_MEASURED
            return False
        if kind is str:
            return str in self.kinds and len(value) <= MAX_TEXT
        if kind is bool:
            return bool in self.kinds
        if kind is list:
            return list in self.kinds and _is_list(value)
        if kind is dict:
            return dict in self.kinds and _is_phases(value)
        return False

    def check(self, value) -> None:
        """Raise :class:`BadRecord` naming the field and what is allowed unless ``value`` is one it takes."""
        if self.ok(value):
            return
        if value is None:
            raise BadRecord(f"{self.name} is null; allowed: {' or '.join(_CHECKS[k][1] for k in self.kinds)}")
        if not any(_CHECKS[k][0](value) for k in self.kinds):
            allowed = " or ".join(_CHECKS[k][1] for k in self.kinds) + (" or null" if self.nullable else "")
            raise BadRecord(f"{self.name} is {repr(value)[:60]} ({type(value).__name__}); allowed: {allowed}")
        if isinstance(value, float) and not math.isfinite(value) and not self.measured:
            raise BadRecord(f"{self.name} is {value!r}; allowed: a finite number")
        raise BadRecord(f"{self.name} is {value!r}; allowed: a measurement in [0, {MAX_MEASURED:g}], NaN, inf or null")


def _field(name: str, annotation, measured: bool) -> _Field:
    args = typing.get_args(annotation) or (annotation,)
    return _Field(name, tuple(a for a in args if a in _CHECKS), type(None) in args, measured)


@functools.cache
def _fields() -> tuple[dict[str, _Field], dict[str, _Field]]:
    """(config field -> check, record field -> check), in declaration order."""
    from neural_ode.config import CellConfig
    from neural_ode.results.schema import METRICS

    measured = set()
    for metric in METRICS.values():
        measured.add(metric.name)
        measured.update(metric.spread_fields)
    config = {name: _field(name, kind, False) for name, kind in typing.get_type_hints(CellConfig).items()}
    record = {
        f.name: _field(f.name, f.type, f.name in measured) for f in dataclasses.fields(CellRecord) if f.name != "config"
    }
    return config, record


#: context values that are config-like magnitudes: at most MAX_MEASURED in size
_BOUNDED = ("load_before", "load_after", "other_cpu_cores", "cell_wall_s")


def check_fields(row, where: str, build: bool) -> bool:
    """Every field's type and range; True when the row's workload is a factory read as data only."""
    if not isinstance(row, dict):
        raise BadRecord(f"not a record (a JSON {type(row).__name__})")
    missing = [name for name in REQUIRED if name not in row]
    if missing:
        raise BadRecord(f"no {', '.join(missing)}: not a cell record (a record names its workload, method and solver)")
    from neural_ode.workloads.trusted import check_workload, is_trusted

    config, record = _fields()
    workload = row["workload"]
    untrusted_factory = isinstance(workload, str) and FACTORY.fullmatch(workload) is not None and not build
    if not untrusted_factory:
        check_workload(workload, where)
    for fields in (config, record):
        for name, value in row.items():
            field = fields.get(name)
            if field is not None and not field.ok(value):
                _first_bad(row, fields)
    for name in _BOUNDED:
        value = row.get(name)
        if _is_float(value) and abs(value) > MAX_MEASURED:
            raise BadRecord(f"{name} is {value!r}; allowed: at most {MAX_MEASURED:g}")
    if "status" in row and row["status"] not in tuple(STATUSES):
        raise BadRecord(f"status is {repr(row['status'])[:60]}; allowed: {', '.join(tuple(STATUSES))}")
    return untrusted_factory and not is_trusted(workload)


def _first_bad(row: dict, fields: dict[str, _Field]) -> None:
    """Raise the message of the first bad field of ``row`` in declaration order."""
    for name, field in fields.items():
        if name in row:
            field.check(row[name])


def _as_declared(value, field: _Field | None):
    """An integral float of an int-only field as an int (``64.0`` -> ``64``); any other value as is."""
    if field is not None and isinstance(value, float) and field.kinds == (int,) and _is_int(value):
        return int(value)
    return value


def _config_values(row: dict) -> dict:
    config, _ = _fields()
    return {k: _as_declared(v, config[k]) for k, v in row.items() if k in config}


def _built(call: Callable, *args):
    try:
        return call(*args)
    except (TypeError, ValueError, KeyError, AttributeError, OverflowError) as exc:
        raise BadRecord(str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__) from exc


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

    if check_fields(row, where, build):
        return None  # read as data only: its factory is not imported
    _, record_fields = _fields()
    values = _config_values(row)
    config = _built(lambda: CellConfig(**values))
    own = {k: _as_declared(v, record_fields[k]) for k, v in row.items() if k in record_fields}
    return _built(lambda: CellRecord(config=config, **own))


class ConfigCheck:
    """The checks a :class:`CellConfig` makes, each run once per distinct input.

    The axes checked alone (seed, repeats, sizes' ranges, ...) are checked once per distinct value;
    the checks across fields (method and solver, steps or tolerances by solver kind, the
    workload's stages and defaults) once per distinct combination of those fields, by building one
    config of just them. A cell config is built exactly when one of these raises, so the message is
    the same as building it whole.
    """

    def __init__(self):
        from neural_ode.axes import config_axes

        axes = config_axes()
        self.alone = [a for a in axes if not a.from_workload and a.name not in ("steps", "rtol", "atol")]
        self.across = tuple(
            name for name in ("workload", "method", "solver", "steps", "rtol", "atol", "stage") if name in
            {a.name for a in axes}
        ) + tuple(a.name for a in axes if a.from_workload)  # fmt: skip
        self._alone: dict = {}
        self._across: dict = {}

    def __call__(self, row: dict) -> None:
        values = _config_values(row)
        for axis in self.alone:
            value = values.get(axis.name, axis.default)
            key = (axis.name, type(value), value)
            if key not in self._alone:
                self._alone[key] = _message(lambda a=axis, v=value: a.check(v))
            if self._alone[key] is not None:
                raise BadRecord(self._alone[key])
        chosen = {name: values[name] for name in self.across if name in values}
        key = tuple((name, type(value), value) for name, value in chosen.items())
        if key not in self._across:
            from neural_ode.config import CellConfig

            self._across[key] = _message(lambda: CellConfig(**chosen))
        if self._across[key] is not None:
            raise BadRecord(self._across[key])


def _message(call: Callable) -> str | None:
    """None when ``call()`` passes; else the first line of its error, as :func:`check_row` words it."""
    try:
        call()
    except (TypeError, ValueError, KeyError, AttributeError, OverflowError) as exc:
        return str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__
    return None
