"""One row per cell: the identity of a results row, and duplicates merged.

A cell's identity is every axis of :func:`neural_ode.axes.identity` (its configuration, where it
ran and the commit). Rows with the same identity, in one input or across inputs (``report R R``,
a sweep resumed twice), are one cell: identical duplicates are merged silently; duplicates whose
figures or status differ are named in a warning and the latest ``measured_at`` is kept.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import pandas as pd

from neural_ode.axes import AXES, identity
from neural_ode.results.schema import METRICS


def normalised(value):
    """A value as identity compares it: numbers as floats (``10`` = ``10.0`` = ``"10"``), flags as
    bools, missing values (None, NaN, empty text) as None, anything else as text."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float):
        return float(value) if math.isfinite(float(value)) else str(value)
    text = str(value)
    if text.strip() == "":
        return None
    try:
        number = float(text)
    except ValueError:
        return text
    return number if math.isfinite(number) else text


def cell_key(row, keys=None) -> tuple:
    """The identity of a row (a dict or a pandas row) over ``keys`` (default: every identity axis)."""
    keys = identity() if keys is None else keys
    out = []
    for key in keys:
        value = row.get(key) if hasattr(row, "get") else row[key]
        axis = AXES.get(key)
        if axis is not None and axis.kind is bool and value is not None and not isinstance(value, str):
            value = None if isinstance(value, float) and math.isnan(value) else bool(value)
        elif axis is not None and axis.kind is bool and isinstance(value, str):
            value = value.strip().lower() in ("true", "1", "yes", "on")
        if value is None and axis is not None and axis.kind is bool:
            value = bool(axis.default)
        out.append(normalised(value))
    return tuple(out)


@dataclass(frozen=True)
class Merged:
    """The rows kept (one per cell), and what was merged: counts and the conflicting cells' labels."""

    frame: pd.DataFrame
    identical: int
    conflicts: list[str]

    def warning(self) -> str | None:
        """One line naming the conflicting duplicates (None when there were none)."""
        if not self.conflicts:
            return None
        shown = "; ".join(self.conflicts[:5]) + (" ..." if len(self.conflicts) > 5 else "")
        return (
            f"{len(self.conflicts)} cells were measured more than once with different figures; "
            f"the latest measurement (measured_at) of each is kept: {shown}"
        )


def _same(a, b) -> bool:
    a, b = normalised(a), normalised(b)
    return a == b


def merge_duplicates(frame: pd.DataFrame, label=None) -> Merged:
    """One row per identity: identical duplicates merged, conflicting ones (any metric or the
    status differs) reported by ``label(row)`` and resolved to the latest ``measured_at``."""
    if frame.empty:
        return Merged(frame, 0, [])
    keys = [k for k in identity() if k in frame]
    work = frame.reset_index(drop=True)
    order = pd.to_datetime(work.get("measured_at"), errors="coerce", utc=True, format="ISO8601") \
        if "measured_at" in work else pd.Series(pd.NaT, index=work.index)  # fmt: skip
    work = work.assign(_key=[cell_key(row, keys) for row in work.to_dict("records")], _order=order)
    work = work.sort_values("_order", kind="stable", na_position="first")
    compared = [c for c in ("status", *METRICS) if c in work]
    identical, conflicts = 0, []
    repeated = work["_key"].duplicated(keep=False)
    keep = list(work.index[~repeated])  # a cell recorded once is kept as is: only repeats are compared
    for _key, rows in work[repeated].groupby("_key", sort=False, dropna=False):
        last, others = rows.iloc[-1], rows.iloc[:-1]
        keep.append(rows.index[-1])
        if all(_same(other[c], last[c]) for _, other in others.iterrows() for c in compared):
            identical += len(others)
        else:
            conflicts.append(label(last) if label else str(_key))
    kept = work.loc[sorted(keep)].drop(columns=["_key", "_order"]).reset_index(drop=True)
    return Merged(kept, identical, conflicts)


def differing_axes(row: dict, others: list[dict], keys) -> tuple[str, ...]:
    """The fewest axes of ``keys`` in which ``row`` differs from one of ``others`` (why it found no partner)."""
    mine = cell_key(row, keys)
    best: tuple[str, ...] | None = None
    for other in others:
        theirs = cell_key(other, keys)
        diff = tuple(k for k, a, b in zip(keys, mine, theirs, strict=True) if a != b)
        if best is None or len(diff) < len(best):
            best = diff
    return best if best is not None else ()
