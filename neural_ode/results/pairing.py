"""Pairing the cells of two result tables, vectorised: one row per cell a side, partners, labels.

Used by :func:`neural_ode.results.compare.compare_frames`. A cell is its configuration's identity
(:func:`neural_ode.axes.config_identity`); both sides' rows are numbered together by
:func:`neural_ode.results.identity.cell_ids`, so 100,000 cells pair in a few pandas operations.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from neural_ode.axes import config_identity, lands_anyway, shown
from neural_ode.axes import text as axis_text
from neural_ode.results.identity import cell_ids, cell_key, differing_axes, merge_duplicates

#: what identifies a cell across result sets: every axis of its configuration's identity
#: (:func:`neural_ode.axes.config_identity`; threads included); the commit is what is compared
PAIR_KEYS = config_identity()
#: the axes every label names; the others only where they vary among the compared cells
ALWAYS_LABELLED = ("workload", "method", "solver", "steps", "horizon", "rtol", "atol")
#: the most unpaired cells whose nearest partner over several axes is searched one by one
MAX_NEAREST_SEARCH = 2_000_000


def _value(value):
    return None if value is None or (isinstance(value, float) and np.isnan(value)) else value


def cell_label(row, keys=None) -> str:
    """The pairing axes ``keys`` (default: all) with a value, as the axes show them: ``mlp direct rk4 8 steps ...``.

    ``land`` names what happened: a fixed grid or the lean core lands whatever the setting says
    (:func:`neural_ode.axes.lands_anyway`); ``stage`` only where the workload has stages."""
    keys = PAIR_KEYS if keys is None else keys
    values = {key: _value(row.get(key) if hasattr(row, "get") else row[key]) for key in keys}
    values.setdefault("method", _value(row.get("method")))
    values.setdefault("solver", _value(row.get("solver")))
    values.setdefault("workload", _value(row.get("workload")))
    parts = [
        axis_text(k, True if k == "land" and lands_anyway(values) else values[k]) for k in keys if shown(k, values)
    ]
    return " ".join(part for part in parts if part)


def cell_labels(frame: pd.DataFrame, keys) -> pd.Series:
    """:func:`cell_label` of every row of ``frame``, each axis's text computed once per distinct value.

    ``land`` is computed per distinct method, solver and setting, ``stage`` per workload and stage."""
    if frame.empty:
        return pd.Series([], index=frame.index, dtype=object)
    texts = []
    for key in keys:
        needs = {"land": ["method", "solver"], "stage": ["workload"]}.get(key, [])
        columns = [key, *needs]
        view = pd.DataFrame({k: frame[k].astype(object) if k in frame else None for k in columns}, index=frame.index)
        codes, uniques = pd.factorize(pd.MultiIndex.from_frame(view.fillna(np.nan)))
        shown_texts = []
        for values in uniques:
            values = dict(zip(columns, (_value(v) for v in values)))
            if key == "land":
                shown_texts.append(axis_text(key, True if lands_anyway(values) else values[key]))
            else:
                shown_texts.append(axis_text(key, values[key]) if shown(key, values) else "")
        texts.append(np.asarray(shown_texts, dtype=object)[codes])
    labels = [" ".join(part for part in parts if part) for parts in zip(*texts)]
    return pd.Series(labels, index=frame.index, dtype=object)


def one_per_cell(frame: pd.DataFrame) -> tuple[pd.DataFrame, list[str]]:
    """One row per cell: duplicates merged (:func:`merge_duplicates`: the latest measured kept), and
    of a cell measured on several machines the latest measured; with the conflicting cells' labels."""
    frame = frame.reset_index(drop=True)
    for key in PAIR_KEYS:
        if key not in frame:
            frame[key] = None
    merged = merge_duplicates(frame, label=cell_label)
    frame = merged.frame
    when = pd.to_datetime(frame.get("measured_at"), errors="coerce", utc=True, format="ISO8601") \
        if "measured_at" in frame else pd.Series(pd.NaT, index=frame.index)  # fmt: skip
    frame = frame.assign(_when=when).sort_values("_when", kind="stable", na_position="first").drop(columns="_when")
    return frame, merged.conflicts


def pair_ids(base: pd.DataFrame, new: pd.DataFrame, keys=PAIR_KEYS) -> tuple[np.ndarray, np.ndarray]:
    """The cell numbers of ``base``'s and ``new``'s rows over ``keys``, numbered together (equal: one cell)."""
    both = pd.concat([base[list(keys)], new[list(keys)]], ignore_index=True) if keys else base.iloc[:0]
    ids = cell_ids(both, keys) if keys else np.zeros(len(base) + len(new), dtype=np.int64)
    return ids[: len(base)], ids[len(base) :]


def latest(frame: pd.DataFrame, ids: np.ndarray) -> pd.DataFrame:
    """The last row of each cell number (rows are oldest first), indexed by the cell number."""
    return frame.assign(_cell=ids).drop_duplicates("_cell", keep="last").set_index("_cell")


def unpaired(base: pd.DataFrame, new: pd.DataFrame, base_ids: np.ndarray, new_ids: np.ndarray) -> pd.DataFrame:
    """Why cells found no partner: per side, the fewest axes in which each differs from the other side's cells.

    One axis is found for every cell at once (its number over the other axes matches a cell of the
    other side); more than one is searched cell by cell while that stays small, else said as "several axes".
    """
    lonely = {"BASE": ~np.isin(base_ids, new_ids), "NEW": ~np.isin(new_ids, base_ids)}
    reasons = {side: np.full(int(mask.sum()), None, dtype=object) for side, mask in lonely.items()}
    if not any(mask.any() for mask in lonely.values()):
        return pd.DataFrame(columns=["side", "axes", "cells"])
    for key in PAIR_KEYS:
        rest = [k for k in PAIR_KEYS if k != key]
        b, n = pair_ids(base, new, rest)
        for side, mine, theirs in (("BASE", b, n), ("NEW", n, b)):
            hit = np.isin(mine[lonely[side]], theirs) & pd.isna(reasons[side])
            reasons[side][hit] = key
    counts: dict[tuple[str, str], int] = {}
    for side, mine, theirs in (("BASE", base, new), ("NEW", new, base)):
        rows = mine[lonely[side]]
        others = theirs.to_dict("records") if len(theirs) else []
        search = len(others) * int(pd.isna(reasons[side]).sum()) <= MAX_NEAREST_SEARCH
        for reason, row in zip(reasons[side], rows.to_dict("records")):
            if reason is None and not others:
                reason = "no cell on the other side"
            elif reason is None:
                axes = differing_axes(row, others, PAIR_KEYS) if search else ()
                reason = ", ".join(axes) if axes else "several axes"
            counts[(side, reason)] = counts.get((side, reason), 0) + 1
    return pd.DataFrame(
        [{"side": side, "axes": axes, "cells": count} for (side, axes), count in counts.items()],
        columns=["side", "axes", "cells"],
    )


def label_keys(rows: pd.DataFrame) -> tuple[str, ...]:
    """The pairing axes a cell's label names: method, solver, the depth, and every other that varies in ``rows``."""
    varying = [
        k
        for k in PAIR_KEYS
        if k in rows and rows[k].nunique(dropna=False) > 1 and len(np.unique(cell_ids(rows, (k,)))) > 1
    ]
    return tuple(k for k in PAIR_KEYS if k in ALWAYS_LABELLED or k in varying)


__all__ = ["PAIR_KEYS", "cell_key", "cell_label", "cell_labels", "label_keys", "latest", "one_per_cell", "pair_ids"]
