"""Comparing two result sets cell by cell: what changed, by how much, and whether it is a regression.

Both sides are tables read by :mod:`neural_ode.results.readers` (our ``results.jsonl``, pytest-benchmark
JSON, ASV results). Cells are paired by configuration (:data:`PAIR_KEYS`); each side keeps one
commit (the newest, or one named) and one row per cell (the newest measured). Three kinds of figure,
three tests, modelled on pyperf and asv:

* exact figures (:data:`EXACT_METRICS`: NFE, saved, peak tensor and CUDA bytes, parameters) are
  deterministic for a given code and configuration: any difference is a change, an increase a
  regression. No tolerance, so no false alarm.
* errors (:data:`ERROR_METRICS`) depend on floating-point summation order: a change is a rise or
  fall by more than the relative tolerance ``error_rtol``.
* timings (:data:`TIMED_METRICS`) are noisy: a change needs both a ratio of the medians beyond
  ``time_factor`` (as ``asv continuous --factor``) and significance. With the repeats' samples on
  both sides the test is a two-sided Mann-Whitney U test at ``alpha`` (pyperf compares samples
  too); ``results.jsonl`` keeps them (``time_forward_samples_s``, ``time_backward_samples_s``) since
  this round. With only their statistics (a CSV): when both sides recorded the 95 % interval of
  the median (calibrated timings, ``*_ci_low_s``/``*_ci_high_s``), the intervals must be apart
  (asv's fallback without samples); else, when minimum and maximum are known (older records),
  every repeat of one side must be slower than every repeat of the other (the ranges do not
  overlap: U = 0, which for 5 repeats a side is p = 0.008 two-sided); else the medians must differ
  by more than the wider interquartile range. ``time_total_s`` is compared where a reader gives it
  (ASV, pytest-benchmark: whole steps timed); ``results.jsonl`` times forward and backward apart.
  A timing with fewer than ``min_samples`` repeats on either side (default
  :data:`MIN_SAMPLES`) is not tested at all: its change reads :data:`NOT_ENOUGH_SAMPLES` and is
  never a regression. Two identical ``--repeats 1`` runs once gave "+158 %, significant".
* process RSS (:data:`RSS_METRICS`) includes allocator and page effects: a change is beyond
  ``rss_factor``.

A cell measured in BASE that failed in NEW is a regression of its ``status``. Cells on one side only
are listed, not counted as regressions (a partial sweep is not a slower library).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from neural_ode.axes import config_identity, machine_keys
from neural_ode.axes import text as axis_text
from neural_ode.results.identity import cell_key as identity_key
from neural_ode.results.identity import differing_axes, merge_duplicates, normalised
from neural_ode.results.schema import METRICS

#: what identifies a cell across result sets: every axis of its configuration's identity
#: (:func:`neural_ode.axes.config_identity`; threads included); the commit is what is compared
PAIR_KEYS = config_identity()
#: where a cell ran (host, device name, library versions): cells are paired across them only when asked
MACHINE_KEYS = machine_keys()
#: deterministic figures (the schema's ``exact`` metrics): any change beyond the metric's declared ``rtol``
#: (0 but for instruction counts) counts, an increase is a regression
EXACT_METRICS = tuple(m.name for m in METRICS.values() if m.kind == "exact")
#: floating-point errors: compared within a relative tolerance
ERROR_METRICS = ("grad_rel_error", "sol_rel_error")
#: wall times, in seconds: ratio threshold and a statistical test on the repeats
TIMED_METRICS = ("time_forward_s", "time_backward_s", "time_total_s")
#: process RSS over its baseline: ratio threshold only
RSS_METRICS = ("rss_peak_bytes",)

#: repeats a side below which a timing is not tested. With n repeats a side, the smallest two-sided
#: Mann-Whitney p is 2 / C(2n, n): 1.0, 0.33, 0.10 for 1-3 (never below alpha 0.05), 0.029 for 4
#: (only when every repeat of one side beats every repeat of the other: one outlier decides), 0.008
#: for 5, where one overlapping pair still gives p = 0.016. asv and pyperf likewise refuse to
#: call a difference from a handful of samples.
MIN_SAMPLES = 5
#: the change of a timing with too few repeats to test
NOT_ENOUGH_SAMPLES = "not enough samples"

#: what each metric is called in the table
LABELS = {
    "nfe_forward": "NFE forward",
    "nfe_backward": "NFE backward",
    "saved_bytes": "saved bytes",
    "cpu_peak_bytes": "CPU peak bytes",
    "cuda_peak_bytes": "CUDA peak bytes",
    "params": "parameters",
    "grad_rel_error": "gradient error",
    "sol_rel_error": "solution error",
    "time_forward_s": "time forward",
    "time_backward_s": "time backward",
    "time_total_s": "time forward+backward",
    "rss_peak_bytes": "RSS peak bytes",
    "status": "status",
}


@dataclass(frozen=True)
class Thresholds:
    """How large a change must be to count.

    Attributes:
        time_factor: a timing counts when new/base (or base/new) exceeds this ratio, and the test
            finds it significant (asv's ``--factor``; default 1.5 on shared machines).
        alpha: significance level of the Mann-Whitney U test when samples are available.
        error_rtol: relative tolerance on the errors (0.05 = 5 %).
        rss_factor: ratio beyond which a process RSS peak counts.
        timings: ``gate`` (a slower timing is a regression), ``report`` (shown, never a regression)
            or ``off`` (not compared).
        min_samples: timed repeats each side needs before a timing is tested (:data:`MIN_SAMPLES`);
            fewer: ``not enough samples``, never a regression.
    """

    time_factor: float = 1.5
    alpha: float = 0.05
    error_rtol: float = 0.05
    rss_factor: float = 1.25
    timings: str = "gate"
    min_samples: int = MIN_SAMPLES


class CompareError(ValueError):
    """The inputs cannot be compared (nothing pairs, a named commit is absent)."""


@dataclass(frozen=True)
class Comparison:
    """The outcome: every compared figure, and the cells found on one side only.

    ``table`` columns: ``cell`` (a readable label), ``metric`` (the record's name), ``label``,
    ``base``, ``new``, ``ratio`` (new/base), ``change`` (``regression``, ``improvement``,
    ``changed``, ``same``), ``test`` (how it was decided), plus the pairing keys.
    """

    table: pd.DataFrame
    only_base: list[str]
    only_new: list[str]
    base_commit: str | None
    new_commit: str | None
    #: why cells found no partner: one row per side and set of differing axes, with the count
    unpaired: pd.DataFrame = None  # type: ignore[assignment]
    #: cells measured more than once on a side with different figures (the latest kept)
    duplicates: tuple[str, ...] = ()
    #: machine axes whose values differ between the paired cells: axis -> (BASE values, NEW values)
    machines: dict = None  # type: ignore[assignment]

    @property
    def regressions(self) -> pd.DataFrame:
        """The rows that regressed."""
        return self.table[self.table["change"] == "regression"]

    @property
    def changed(self) -> pd.DataFrame:
        """The rows whose figure changed (any direction)."""
        return self.table[self.table["change"] != "same"]

    @property
    def paired(self) -> int:
        """How many cells were found on both sides."""
        return int(self.table["cell"].nunique()) if len(self.table) else 0


def commit_order(frame: pd.DataFrame) -> list:
    """The commits of ``frame`` oldest first: by commit date where known, else by first measurement.

    Rows without a commit are in no commit (see :func:`select_commit`).
    """
    if frame.empty or "git_commit" not in frame:
        return []
    known = frame[frame["git_commit"].notna()]
    when = _dates(known, "commit_date").fillna(_dates(known, "measured_at"))
    firsts = pd.DataFrame({"commit": known["git_commit"].astype(str), "when": when})
    firsts = firsts.groupby("commit", sort=False)["when"].min().sort_values(kind="stable", na_position="first")
    return list(firsts.index)


def _dates(frame: pd.DataFrame, column: str) -> pd.Series:
    """``frame[column]`` as UTC timestamps (NaT where absent or unparsable)."""
    if column not in frame:
        return pd.Series(pd.NaT, index=frame.index, dtype="datetime64[ns, UTC]")
    return pd.to_datetime(frame[column], errors="coerce", utc=True, format="ISO8601")


def select_commit(frame: pd.DataFrame, commit: str | None = None) -> tuple[pd.DataFrame, str | None]:
    """The rows of one commit: ``commit`` (a full hash or a prefix of one), else the newest; rows
    that name no commit are kept with it (they belong to no other).

    Raises:
        CompareError: ``commit`` names no commit of ``frame``, or a prefix names several.
    """
    commits = commit_order(frame)
    if not commits and commit is None:
        return frame, None
    if commit is None:
        chosen = commits[-1]
    else:
        matches = [c for c in commits if str(c).startswith(commit)]
        if len(matches) != 1:
            known = ", ".join(str(c)[:10] for c in commits) or "none"
            what = "matches several commits" if matches else "is not a commit of these results"
            raise CompareError(f"commit {commit!r} {what}; commits: {known}")
        chosen = matches[0]
    return frame[frame["git_commit"].isna() | (frame["git_commit"].astype(str) == chosen)], chosen


def _keyed(frame: pd.DataFrame) -> tuple[dict[tuple, dict], list[str]]:
    """One row per cell by :func:`cell_key` (duplicates merged: the latest measured kept), and the
    labels of the cells whose duplicates disagreed."""
    frame = frame.copy()
    for key in PAIR_KEYS:
        if key not in frame:
            frame[key] = None
    merged = merge_duplicates(frame, label=cell_label)
    frame = merged.frame
    # after the merge, cells still alike in their configuration were measured on several machines
    keyed: dict[tuple, dict] = {}
    for row in frame.to_dict("records"):
        keyed[cell_key(row)] = row  # rows are oldest first: the newest of several machines wins
    return keyed, merged.conflicts


def _number(value) -> float | None:
    try:
        value = float(value)
    except (TypeError, ValueError):
        return None
    return value if math.isfinite(value) else None


def cell_key(row) -> tuple:
    """The identity of a row's cell: its pairing keys, numbers normalised (``10`` = ``10.0``)."""
    return identity_key(row, PAIR_KEYS)


def _present(value) -> bool:
    """True for a value that is there but not a finite number (NaN, inf, text): a broken figure."""
    if value is None:
        return False
    try:
        number = float(value)
    except (TypeError, ValueError):
        return True
    return not math.isfinite(number)


def cell_label(row, keys=None) -> str:
    """The pairing axes ``keys`` (default: all) with a value, as the axes show them: ``mlp direct rk4 8 steps ...``."""
    keys = PAIR_KEYS if keys is None else keys
    parts = [axis_text(key, row.get(key) if hasattr(row, "get") else row[key]) for key in keys]
    return " ".join(part for part in parts if part)


def _samples(row, metric: str) -> list[float] | None:
    samples = row.get(metric.replace("_s", "_samples_s")) if metric.endswith("_s") else None
    if isinstance(samples, list | tuple | np.ndarray) and len(samples) >= 2:
        return [float(s) for s in samples]
    return None


def _sample_count(row, metric: str) -> int | None:
    """How many timed repeats are behind ``metric`` of ``row``: its samples, else ``time_repeats``; None if unknown."""
    samples = row.get(metric.replace("_s", "_samples_s")) if metric.endswith("_s") else None
    if isinstance(samples, list | tuple | np.ndarray):
        return len(samples)
    repeats = _number(row.get("time_repeats"))
    return int(repeats) if repeats is not None else None


def _apart(base_row, new_row, low: str, high: str) -> bool | None:
    """Whether the [low, high] bounds recorded in the two rows do not overlap; None where a row lacks one."""
    bounds = [_number(row.get(name)) for row in (base_row, new_row) for name in (low, high)]
    if None in bounds:
        return None
    base_low, base_high, new_low, new_high = bounds
    return new_low > base_high or new_high < base_low


def _timing_test(base_row, new_row, metric: str, base: float, new: float, th: Thresholds) -> tuple[bool, str]:
    """(significant, how it was decided) for one timing pair."""
    base_samples, new_samples = _samples(base_row, metric), _samples(new_row, metric)
    if base_samples and new_samples:
        from scipy.stats import mannwhitneyu

        p = float(mannwhitneyu(base_samples, new_samples, alternative="two-sided").pvalue)
        return p < th.alpha, f"Mann-Whitney U p={p:.3g} (alpha {th.alpha:g}), factor {th.time_factor:g}"
    apart = _apart(base_row, new_row, metric.replace("_s", "_ci_low_s"), metric.replace("_s", "_ci_high_s"))
    if apart is not None:
        return apart, f"95 % intervals of the medians {'apart' if apart else 'overlap'}, factor {th.time_factor:g}"
    apart = _apart(base_row, new_row, metric.replace("_s", "_min_s"), metric.replace("_s", "_max_s"))
    if apart is not None:
        return apart, f"ranges apart (Mann-Whitney U = 0), factor {th.time_factor:g}"
    iqr = metric.replace("_s", "_iqr_s")
    spreads = [_number(base_row.get(iqr)), _number(new_row.get(iqr))]
    spread = max((s for s in spreads if s is not None), default=None)
    if spread is None:
        return True, f"factor {th.time_factor:g} (no spread recorded)"
    return abs(new - base) > spread, f"|Δ median| vs IQR {spread:.3g} s, factor {th.time_factor:g}"


def compare_figure(metric: str, base_row, new_row, th: Thresholds) -> dict | None:
    """The comparison of one metric of one paired cell, or None when either side lacks it."""
    base, new = _number(base_row.get(metric)), _number(new_row.get(metric))
    if base is not None and new is None and _present(new_row.get(metric)):
        # a figure that was finite and is now NaN or infinite: never "no change"
        return {"metric": metric, "label": LABELS.get(metric, metric), "base": base, "new": new_row.get(metric),
                "ratio": np.nan, "change": "regression", "test": "not a finite number in NEW"}  # fmt: skip
    if base is None or new is None:
        return None
    ratio = new / base if base else (1.0 if new == base else math.inf)
    worse = new > base  # every compared figure is lower-is-better
    if metric in EXACT_METRICS:
        rtol = METRICS[metric].rtol
        changed = abs(new - base) > rtol * max(abs(base), abs(new)) if rtol else new != base
        test = f"exact within {rtol:g} (relative)" if rtol else "exact"
    elif metric in ERROR_METRICS:
        changed = abs(new - base) > th.error_rtol * max(abs(base), abs(new))
        test = f"relative tolerance {th.error_rtol:g}"
    elif metric in RSS_METRICS:
        changed = max(ratio, 1 / ratio if ratio else math.inf) > th.rss_factor
        test = f"factor {th.rss_factor:g}"
    else:
        counts = [_sample_count(row, metric) for row in (base_row, new_row)]
        if any(count is not None and count < th.min_samples for count in counts):
            shown = " and ".join("?" if count is None else str(count) for count in counts)
            return {"metric": metric, "label": LABELS.get(metric, metric), "base": base, "new": new, "ratio": ratio,
                    "change": NOT_ENOUGH_SAMPLES,
                    "test": f"{shown} repeats: a test needs {th.min_samples} a side"}  # fmt: skip
        significant, test = _timing_test(base_row, new_row, metric, base, new, th)
        changed = significant and max(ratio, 1 / ratio if ratio else math.inf) > th.time_factor
    if not changed:
        change = "same"
    elif worse and not (metric in TIMED_METRICS and th.timings == "report"):
        change = "regression"
    else:
        change = "changed" if worse else "improvement"
    return {"metric": metric, "label": LABELS.get(metric, metric), "base": base, "new": new, "ratio": ratio,
            "change": change, "test": test}  # fmt: skip


def compare_frames(
    base: pd.DataFrame,
    new: pd.DataFrame,
    thresholds: Thresholds | None = None,
    *,
    base_commit: str | None = None,
    new_commit: str | None = None,
    across_machines: bool = False,
) -> Comparison:
    """Compare two result tables cell by cell (see the module's docstring for the tests).

    Cells pair when every axis of :data:`PAIR_KEYS` agrees; duplicates on a side are merged first
    (the latest measured kept, conflicts listed). Cells measured on different machines or library
    versions (:data:`MACHINE_KEYS`) pair only with ``across_machines``.

    Raises:
        CompareError: a named commit is absent, no cell is found on both sides, or the paired
            cells ran on different machines or library versions without ``across_machines``.
    """
    thresholds = thresholds or Thresholds()
    base, base_commit = select_commit(base, base_commit)
    new, new_commit = select_commit(new, new_commit)
    (base_cells, base_conflicts), (new_cells, new_conflicts) = _keyed(base), _keyed(new)
    common = [key for key in new_cells if key in base_cells]
    unpaired = _unpaired(base_cells, new_cells)
    if not common:
        why = "; ".join(f"{r.side}: {r.cells} differ in {r.axes}" for r in unpaired.itertuples())
        raise CompareError(f"no cell of BASE has the configuration of a cell of NEW: nothing to compare ({why})")
    machines = _machine_differences([base_cells[k] for k in common], [new_cells[k] for k in common])
    if machines and not across_machines:
        what = "; ".join(f"{axis} {', '.join(b)} vs {', '.join(n)}" for axis, (b, n) in machines.items())
        raise CompareError(
            f"BASE and NEW were measured on different machines or library versions ({what}): their figures are "
            "not comparable; pass --across-machines to compare them anyway"
        )
    metrics = list(EXACT_METRICS) + list(ERROR_METRICS) + list(RSS_METRICS)
    if thresholds.timings != "off":
        metrics += list(TIMED_METRICS)
    label_keys = _label_keys([base_cells[k] for k in common] + [new_cells[k] for k in common])
    rows = []
    for key in common:
        base_row, new_row = base_cells[key], new_cells[key]
        label = cell_label(new_row, label_keys)
        ids = {k: new_row.get(k) for k in PAIR_KEYS}
        base_ok = str(base_row.get("status") or "ok") == "ok"
        new_ok = str(new_row.get("status") or "ok") == "ok"
        if base_ok != new_ok or (not base_ok and base_row.get("status") != new_row.get("status")):
            rows.append({"cell": label, **ids, "metric": "status", "label": "status",
                         "base": base_row.get("status") or "ok", "new": new_row.get("status") or "ok",
                         "ratio": np.nan, "change": "regression" if base_ok else "improvement" if new_ok else "changed",
                         "test": str(new_row.get("error") or "")[:120]})  # fmt: skip
        if not (base_ok and new_ok):
            continue
        for metric in metrics:
            row = compare_figure(metric, base_row, new_row, thresholds)
            if row is not None:
                rows.append({"cell": label, **ids, **row})
    columns = ["cell", *PAIR_KEYS, "metric", "label", "base", "new", "ratio", "change", "test"]
    table = pd.DataFrame(rows, columns=columns)
    only_base = sorted(cell_label(row) for key, row in base_cells.items() if key not in new_cells)
    only_new = sorted(cell_label(row) for key, row in new_cells.items() if key not in base_cells)
    return Comparison(
        table, only_base, only_new, base_commit, new_commit, unpaired=unpaired,
        duplicates=tuple(base_conflicts + new_conflicts), machines=machines,
    )  # fmt: skip


def _label_keys(rows: list[dict]) -> tuple[str, ...]:
    """The pairing axes a cell's label names: method, solver, the depth, and every other that varies."""
    varying = [k for k in PAIR_KEYS if len({identity_key(r, (k,)) for r in rows}) > 1]
    always = ("workload", "method", "solver", "steps", "horizon", "rtol", "atol")
    return tuple(k for k in PAIR_KEYS if k in always or k in varying)


def _unpaired(base_cells: dict, new_cells: dict) -> pd.DataFrame:
    """Why cells found no partner: per side, the fewest axes in which each differs from the other side's cells."""
    counts: dict[tuple[str, str], int] = {}
    for side, mine, theirs in (("BASE", base_cells, new_cells), ("NEW", new_cells, base_cells)):
        others = list(theirs.values())
        for key, row in mine.items():
            if key in theirs:
                continue
            axes = differing_axes(row, others, PAIR_KEYS) if others else ()
            name = ", ".join(axes) if axes else "no cell on the other side"
            counts[(side, name)] = counts.get((side, name), 0) + 1
    return pd.DataFrame(
        [{"side": side, "axes": axes, "cells": count} for (side, axes), count in counts.items()],
        columns=["side", "axes", "cells"],
    )


def _machine_differences(base_rows: list[dict], new_rows: list[dict]) -> dict:
    """The machine axes whose recorded values differ between the sides: axis -> (BASE values, NEW values)."""
    out = {}
    for axis in MACHINE_KEYS:
        sides = (base_rows, new_rows)
        values = [sorted({str(r.get(axis)) for r in rows if normalised(r.get(axis)) is not None}) for rows in sides]
        if values[0] and values[1] and set(values[0]) != set(values[1]):
            out[axis] = (tuple(values[0]), tuple(values[1]))
    return out


def _shown(metric: str, value) -> str:
    if isinstance(value, str):
        return value
    if metric in TIMED_METRICS:
        return f"{value * 1e3:.3g} ms"
    if metric.endswith("_bytes"):
        return f"{int(value):,}"
    if metric in ERROR_METRICS:
        return f"{value:.3g}"
    return f"{int(value)}" if float(value).is_integer() else f"{value:.4g}"


def changes_table(comparison: Comparison, every: bool = False) -> pd.DataFrame:
    """The changed figures (``every``: all compared figures) as display text: cell, metric, base,
    new, change (%), verdict, test; regressions first."""
    rows = comparison.table if every else comparison.changed
    order = {"regression": 0, "changed": 1, "improvement": 2, NOT_ENOUGH_SAMPLES: 3, "same": 4}
    rows = rows.assign(_order=rows["change"].map(order)).sort_values(["_order", "cell", "metric"], kind="stable")
    percent = rows["ratio"].map(lambda r: "" if pd.isna(r) else "+inf" if math.isinf(r) else f"{(r - 1) * 100:+.1f} %")
    return pd.DataFrame(
        {
            "cell": rows["cell"],
            "metric": rows["metric"],
            "base": [_shown(m, v) for m, v in zip(rows["metric"], rows["base"])],
            "new": [_shown(m, v) for m, v in zip(rows["metric"], rows["new"])],
            "change": percent,
            "verdict": rows["change"],
            "test": rows["test"],
        }
    ).reset_index(drop=True)
