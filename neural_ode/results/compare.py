"""Comparing two result sets cell by cell: what changed, by how much, and whether it is a regression.

Both sides are tables read by :mod:`neural_ode.results.readers` (our ``results.jsonl``, pytest-benchmark
JSON, ASV results). Cells are paired by configuration (:data:`PAIR_KEYS`, :mod:`neural_ode.results.pairing`);
each side keeps one commit (the newest, or one named) and one row per cell (the newest measured).
Every test is vectorised over the cells (two 100,000-cell files compare in seconds). Kinds of figure:

* exact figures (:data:`EXACT_METRICS`: NFE, saved, peak tensor and CUDA bytes, parameters) are
  deterministic for a given code and configuration: any difference is a change, an increase a
  regression. No tolerance, so no false alarm.
* errors (:data:`ERROR_METRICS`) depend on floating-point summation order: a change is a rise or
  fall by more than the relative tolerance ``error_rtol`` and by more than the cell's recorded
  round-off floor (:data:`ROUNDOFF_FLOORS`, the larger of the two sides'): a float32 gradient error
  moving from 1.03e-7 to 1.78e-7 with a floor of 1.78e-7 is rounding, not a regression.
* timings (:data:`TIMED_METRICS`) of two runs measured at different times are evidence, and a
  verdict only where :mod:`neural_ode.results.timing_evidence` allows one: both runs known to be one
  machine, their recorded load and contention alike, at least ``min_samples`` repeats a side, and
  a change beyond ``time_factor`` that asv's stricter test finds significant (p < ``alpha``,
  0.002). Otherwise the change reads :data:`NOT_JUDGED` (or :data:`NOT_ENOUGH_SAMPLES`), its test
  says why and shows the evidence, and it is never a regression. Issue 29 measured two runs of
  identical code 7 "regressions" apart at p < 0.05 and factor 1.5 when the load rose from 1.3 to 2.2.
* process RSS (:data:`RSS_METRICS`) includes allocator and page effects: a change beyond
  ``rss_factor``, judged only on one machine.

A figure finite in BASE and NaN or infinite in NEW is a regression (the reader names a recorded NaN
in :data:`~neural_ode.results.readers.jsonl.NON_FINITE`, telling it from a null); one recorded on one
side only reads :data:`ONE_SIDE`. A cell measured in BASE that failed in NEW is a regression of its
``status``. Cells on one side only are listed, not counted as regressions (a partial sweep is not a
slower library).

Default factor: 1.25, not asv's 1.1 nor the 1.5 used before. With cross-run timings judged only
under matching recorded conditions and at p < 0.002, the factor has one job left: to stay above the
drift between two runs that load and contention do not record (frequency, cache and VM neighbours);
1.5 could not see a 40 % regression (issue 29); 1.1 is asv's figure for a dedicated machine, which a
shared runner is not. A smaller change needs an interleaved A/B run, not two separate runs.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from neural_ode.results.commits import CompareError, commit_order, select_commit
from neural_ode.results.pairing import PAIR_KEYS, cell_label, cell_labels, label_keys, latest, one_per_cell, pair_ids
from neural_ode.results.pairing import cell_key as _cell_key
from neural_ode.results.pairing import unpaired as _unpaired
from neural_ode.results.readers.jsonl import NON_FINITE
from neural_ode.results.schema import METRICS
from neural_ode.results.timing_evidence import (
    MACHINE_KEYS,
    condition_gaps,
    evidence,
    machine_gaps,
    numbers,
    sample_counts,
    samples_of,
)

#: deterministic figures (the schema's ``exact`` metrics): any change beyond the metric's declared ``rtol``
#: (0 but for instruction counts) counts, an increase is a regression
EXACT_METRICS = tuple(m.name for m in METRICS.values() if m.kind == "exact")
#: floating-point errors: compared within a relative tolerance and the round-off floor
ERROR_METRICS = ("grad_rel_error", "sol_rel_error")
#: the recorded float32 round-off floor of each error: a change within it is no change
ROUNDOFF_FLOORS = {"grad_rel_error": "grad_roundoff_floor", "sol_rel_error": "sol_roundoff_floor"}
#: wall times, in seconds: judged only under matching conditions (see the module's docstring)
TIMED_METRICS = ("time_forward_s", "time_backward_s", "time_total_s")
#: process RSS over its baseline: ratio threshold, on one machine only
RSS_METRICS = ("rss_peak_bytes",)

#: repeats a side below which a timing is not tested: with n a side the smallest two-sided
#: Mann-Whitney p is 2 / C(2n, n): 0.0079 for 5, 0.0022 for 6, 0.00058 for 7, the first below 0.002
MIN_SAMPLES = 7
#: the change of a timing with too few repeats to test
NOT_ENOUGH_SAMPLES = "not enough samples"
#: the change of a timing (or RSS peak) whose runs are not known to be one machine under alike conditions
NOT_JUDGED = "not judged"
#: the change of a figure recorded on one side only
ONE_SIDE = "one side only"
#: display order of the verdicts
ORDER = {"regression": 0, "changed": 1, "improvement": 2, NOT_JUDGED: 3, NOT_ENOUGH_SAMPLES: 4, ONE_SIDE: 5, "same": 6}

#: what each metric is called in the table
LABELS = {
    "nfe_forward": "NFE forward", "nfe_backward": "NFE backward", "saved_bytes": "saved bytes",
    "cpu_peak_bytes": "CPU peak bytes", "cuda_peak_bytes": "CUDA peak bytes", "params": "parameters",
    "grad_rel_error": "gradient error", "sol_rel_error": "solution error", "time_forward_s": "time forward",
    "time_backward_s": "time backward", "time_total_s": "time forward+backward", "rss_peak_bytes": "RSS peak bytes",
    "status": "status",
}  # fmt: skip
COLUMNS = ["cell", *PAIR_KEYS, "metric", "label", "base", "new", "ratio", "change", "test", "why", "evident"]


@dataclass(frozen=True)
class Thresholds:
    """How large a change must be to count.

    Attributes:
        time_factor: a timing counts when new/base (or base/new) exceeds this ratio and the test finds it
            significant (asv's ``--factor``; default 1.25, see the module's docstring).
        alpha: significance of the two-sided Mann-Whitney U test (asv's 0.002).
        error_rtol: relative tolerance on the errors (0.05 = 5 %).
        rss_factor: ratio beyond which a process RSS peak counts.
        timings: ``gate`` (a slower timing is a regression), ``report`` (shown, never a regression)
            or ``off`` (not compared).
        min_samples: timed repeats each side needs before a timing is tested (:data:`MIN_SAMPLES`).
        load_tolerance: the most two cells' recorded load averages (runnable processes) and the
            cores other processes kept busy may differ for their timings to be judged.
    """

    time_factor: float = 1.25
    alpha: float = 0.002
    error_rtol: float = 0.05
    rss_factor: float = 1.25
    timings: str = "gate"
    min_samples: int = MIN_SAMPLES
    load_tolerance: float = 0.5


@dataclass(frozen=True)
class Comparison:
    """The outcome: every compared figure, and the cells found on one side only.

    ``table`` columns: ``cell`` (a readable label), the pairing keys, ``metric``, ``label``, ``base``,
    ``new``, ``ratio`` (new/base), ``change`` (``regression``, ``improvement``, ``changed``, ``same``,
    :data:`NOT_JUDGED`, :data:`NOT_ENOUGH_SAMPLES`, :data:`ONE_SIDE`), ``test`` (how it was decided),
    ``why`` (why a figure was not judged: ``machine``, ``conditions``, ``samples``; else empty) and
    ``evident`` (a figure not judged whose evidence shows a change beyond the thresholds).
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
    #: how many cells were found on both sides
    paired: int = 0

    @property
    def regressions(self) -> pd.DataFrame:
        """The rows that regressed."""
        return self.table[self.table["change"] == "regression"]

    @property
    def changed(self) -> pd.DataFrame:
        """The rows whose figure was judged changed, in any direction (not those not judged)."""
        return self.table[self.table["change"].isin(["regression", "improvement", "changed"])]


def cell_key(row) -> tuple:
    """The identity of a row's cell: its pairing keys, numbers normalised (``10`` = ``10.0``)."""
    return _cell_key(row, PAIR_KEYS)


def _non_finite(frame: pd.DataFrame, metric: str, values: np.ndarray) -> np.ndarray:
    """Where ``metric`` was recorded as infinite, or as NaN (named by the reader in :data:`NON_FINITE`)."""
    named = np.zeros(len(frame), dtype=bool)
    if NON_FINITE in frame:
        marks = "," + frame[NON_FINITE].fillna("").astype(str) + ","
        named = marks.str.contains(f",{metric},", regex=False).to_numpy(dtype=bool)
    return np.isinf(values) | (np.isnan(values) & named)


def _judge(metric: str, base: pd.DataFrame, new: pd.DataFrame, th: Thresholds, gaps: dict) -> pd.DataFrame:
    """Every pair's verdict on ``metric``: one row per pair where either side recorded it."""
    b, n = numbers(base, metric), numbers(new, metric)
    b_bad, n_bad = _non_finite(base, metric, b), _non_finite(new, metric, n)
    b_ok, n_ok = np.isfinite(b), np.isfinite(n)
    size = len(b)
    change = np.full(size, "same", dtype=object)
    test = np.full(size, "", dtype=object)
    why = np.full(size, "", dtype=object)
    evident = np.zeros(size, dtype=bool)
    with np.errstate(divide="ignore", invalid="ignore"):  # NaN and inf are sorted out below, by mask
        ratio = np.where(b == 0, np.where(n == 0, 1.0, np.inf), n / b)
        ratio[~(b_ok & n_ok)] = np.nan
        spread = np.fmax(ratio, 1 / ratio)
        gap = np.abs(n - b)
    worse, both = n > b, b_ok & n_ok
    if metric in EXACT_METRICS:
        rtol = METRICS[metric].rtol
        changed = np.abs(n - b) > rtol * np.fmax(np.abs(b), np.abs(n)) if rtol else n != b
        test[:] = f"exact within {rtol:g} (relative)" if rtol else "exact"
    elif metric in ERROR_METRICS:
        floors = [numbers(side, ROUNDOFF_FLOORS[metric]) for side in (base, new)]
        floor = np.fmax(*floors)
        beyond = gap > th.error_rtol * np.fmax(np.abs(b), np.abs(n))
        rounding = beyond & (gap <= floor)
        changed = beyond & ~rounding
        test[:] = f"relative tolerance {th.error_rtol:g}"
        for i in np.flatnonzero(rounding & both):
            test[i] = f"within the round-off floor {floor[i]:.3g} (relative tolerance {th.error_rtol:g})"
    elif metric in RSS_METRICS:
        changed = spread > th.rss_factor
        test[:] = f"factor {th.rss_factor:g}"
        _withhold(both & (gaps["machine"] != ""), gaps["machine"], "machine", changed, change, test, why, evident)
    else:
        samples = samples_of(base, metric), samples_of(new, metric)
        counts = sample_counts(base, metric, samples[0]), sample_counts(new, metric, samples[1])
        p, significant, test[:] = evidence(base, new, metric, ratio, th.alpha, th.time_factor, samples)
        changed = significant & (spread > th.time_factor)
        few = both & ((counts[0] < th.min_samples) | (counts[1] < th.min_samples))
        shown = [" and ".join("?" if np.isnan(c) else str(int(c)) for c in pair) for pair in zip(counts[0][few],
                 counts[1][few])]  # fmt: skip
        change[few], why[few], evident[few] = NOT_ENOUGH_SAMPLES, "samples", spread[few] > th.time_factor
        test[few] = [f"{text} repeats: a test needs {th.min_samples} a side" for text in shown]
        machine = both & (gaps["machine"] != "") & (change == "same")
        _withhold(machine, gaps["machine"], "machine", changed, change, test, why, evident)
        _withhold(both & (gaps["conditions"] != "") & (change == "same"), gaps["conditions"], "conditions",
                  changed, change, test, why, evident)  # fmt: skip
        _withhold(both & np.isnan(p) & (change == "same"), np.full(size, "no samples recorded"), "samples",
                  changed, change, test, why, evident)  # fmt: skip
    judged = both & (change == "same") & changed
    gate = not (metric in TIMED_METRICS and th.timings == "report")
    change[judged & worse] = "regression" if gate else "changed"
    change[judged & ~worse] = "improvement"
    for mask, verdict, text in (
        (b_ok & n_bad, "regression", "not a finite number in NEW"),
        (b_bad & n_ok, "improvement", "not a finite number in BASE"),
        (b_bad & n_bad, "same", "not a finite number on either side"),
        (b_ok & ~n_ok & ~n_bad, ONE_SIDE, "not measured in NEW"),
        (~b_ok & ~b_bad & n_ok, ONE_SIDE, "not measured in BASE"),
    ):
        change[mask], test[mask], why[mask], evident[mask] = verdict, text, "", False
    keep = b_ok | b_bad | n_ok | n_bad
    base_shown, new_shown = b.astype(object), n.astype(object)  # a null shows as "not measured", a NaN as "nan"
    base_shown[~b_ok & ~b_bad], new_shown[~n_ok & ~n_bad] = None, None
    return pd.DataFrame(
        {"metric": metric, "label": LABELS.get(metric, metric), "base": base_shown, "new": new_shown, "ratio": ratio,
         "change": change, "test": test, "why": why, "evident": evident},
        index=base.index,
    )[keep]  # fmt: skip


def compare_figure(metric: str, base_row: dict, new_row: dict, th: Thresholds) -> dict | None:
    """The comparison of one metric of one pair of records (dicts), as :func:`compare_frames` judges it
    (``metric``, ``label``, ``base``, ``new``, ``ratio``, ``change``, ``test``); None when either side
    did not measure it. For callers that pair cells themselves (``ab``): their conditions are alike by
    construction, so nothing is withheld for the machine or the load."""
    base, new = pd.DataFrame([base_row]), pd.DataFrame([new_row])
    for frame in (base, new):
        if metric not in frame:
            frame[metric] = np.nan
    alike = {"machine": np.array([""], dtype=object), "conditions": np.array([""], dtype=object)}
    judged = _judge(metric, base, new, th, alike)
    if judged.empty or judged.iloc[0]["change"] == ONE_SIDE:
        return None
    row = judged.iloc[0]
    return {name: row[name] for name in ("metric", "label", "base", "new", "ratio", "change", "test")}


def _withhold(mask, reasons, kind, changed, change, test, why, evident) -> None:
    """Mark the pairs of ``mask`` not judged, saying why and keeping the evidence in the test."""
    for i in np.flatnonzero(mask):
        change[i], why[i], evident[i] = NOT_JUDGED, kind, bool(changed[i])
        test[i] = f"{reasons[i]}; evidence: {test[i]}"


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
    versions (:data:`MACHINE_KEYS`) pair only with ``across_machines``; their timings and RSS peaks
    are then not judged.

    Raises:
        CompareError: a named commit is absent, no cell is found on both sides, or the paired
            cells ran on different machines or library versions without ``across_machines``.
    """
    th = thresholds or Thresholds()
    base, base_commit = select_commit(base, base_commit)
    new, new_commit = select_commit(new, new_commit)
    (base, base_conflicts), (new, new_conflicts) = one_per_cell(base), one_per_cell(new)
    base_ids, new_ids = pair_ids(base, new)
    base_cells, new_cells = latest(base, base_ids), latest(new, new_ids)
    common = new_cells.index[new_cells.index.isin(base_cells.index)]
    unpaired = _unpaired(base, new, base_ids, new_ids)
    if not len(common):
        why = "; ".join(f"{r.side}: {r.cells} differ in {r.axes}" for r in unpaired.itertuples())
        raise CompareError(f"no cell of BASE has the configuration of a cell of NEW: nothing to compare ({why})")
    b_rows = base_cells.loc[common].reset_index(drop=True)
    n_rows = new_cells.loc[common].reset_index(drop=True)
    machines = _machine_differences(b_rows, n_rows)
    if machines and not across_machines:
        what = "; ".join(f"{axis} {', '.join(b)} vs {', '.join(n)}" for axis, (b, n) in machines.items())
        raise CompareError(
            f"BASE and NEW were measured on different machines or library versions ({what}): their figures are "
            "not comparable; pass --across-machines to compare them anyway"
        )
    labels = cell_labels(n_rows, label_keys(pd.concat([b_rows, n_rows], ignore_index=True)))
    ids = n_rows[list(PAIR_KEYS)]
    b_status, n_status = (rows["status"].fillna("ok").astype(str) if "status" in rows else
                          pd.Series("ok", index=rows.index) for rows in (b_rows, n_rows))  # fmt: skip
    b_ok, n_ok = b_status == "ok", n_status == "ok"
    moved = (b_ok != n_ok) | (~b_ok & (b_status != n_status))
    errors = n_rows["error"].fillna("").astype(str).str.slice(0, 120) if "error" in n_rows else ""
    status = pd.DataFrame({"metric": "status", "label": "status", "base": b_status, "new": n_status, "ratio": np.nan,
                           "change": np.where(b_ok, "regression", np.where(n_ok, "improvement", "changed")),
                           "test": errors, "why": "", "evident": False})[moved]  # fmt: skip
    measured = (b_ok & n_ok).to_numpy()
    gaps = {"machine": machine_gaps(b_rows, n_rows), "conditions": condition_gaps(b_rows, n_rows, th.load_tolerance)}
    pieces = [status]
    metrics = list(EXACT_METRICS) + list(ERROR_METRICS) + list(RSS_METRICS)
    if th.timings != "off":
        metrics += list(TIMED_METRICS)
    for metric in metrics:
        if metric in b_rows or metric in n_rows:
            pieces.append(_judge(metric, b_rows[measured], n_rows[measured], th, _subset(gaps, measured)))
    table = pd.concat([p for p in pieces if len(p)] or [status])
    pair = table.index.to_numpy()
    table = pd.concat([ids.iloc[pair].reset_index(drop=True), table.reset_index(drop=True)], axis=1)
    table.insert(0, "cell", labels.to_numpy()[pair])
    table = table[COLUMNS]
    return Comparison(
        table, _labels_of(base_cells, base_cells.index.difference(common)),
        _labels_of(new_cells, new_cells.index.difference(common)), base_commit, new_commit, unpaired=unpaired,
        duplicates=tuple(base_conflicts + new_conflicts), machines=machines, paired=len(common),
    )  # fmt: skip


def _subset(gaps: dict, mask: np.ndarray) -> dict:
    return {name: values[mask] for name, values in gaps.items()}


def _labels_of(cells: pd.DataFrame, index) -> list[str]:
    return sorted(cell_labels(cells.loc[index], PAIR_KEYS)) if len(index) else []


def _machine_differences(base: pd.DataFrame, new: pd.DataFrame) -> dict:
    """The machine axes whose recorded values differ between the sides: axis -> (BASE values, NEW values)."""
    out = {}
    for axis in MACHINE_KEYS:
        values = []
        for rows in (base, new):
            distinct = pd.unique(rows[axis].dropna()) if axis in rows else []
            values.append(sorted({str(v) for v in distinct if str(v).strip()}))
        if values[0] and values[1] and set(values[0]) != set(values[1]):
            out[axis] = (tuple(values[0]), tuple(values[1]))
    return out


__all__ = [
    "EXACT_METRICS", "ERROR_METRICS", "LABELS", "MACHINE_KEYS", "NOT_ENOUGH_SAMPLES", "NOT_JUDGED", "ONE_SIDE",
    "PAIR_KEYS", "RSS_METRICS", "TIMED_METRICS", "CompareError", "Comparison", "Thresholds", "cell_key",
    "cell_label", "commit_order", "compare_frames", "select_commit",
]  # fmt: skip
