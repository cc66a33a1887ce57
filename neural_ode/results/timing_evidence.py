"""Whether a timing change between two runs can be judged, and the evidence for it, vectorised.

Two runs measured at different times differ for reasons other than the code: the load of the
machine, other processes, the machine itself. A timing change between them is evidence; it becomes
a verdict (:mod:`neural_ode.results.compare`) only when

* both runs are known to be one machine: every :data:`MACHINE_KEYS` axis equal, and the identity
  beyond host name and CPU model (:data:`IDENTITY_KEYS`: machine id, CPU flags, caches, kernel)
  recorded on both sides (older records lack it: not known to be one machine);
* their recorded conditions match: neither cell was timed under contention, and their load
  (the larger 1-minute load average of before and after) and the cores other processes kept busy
  differ by at most ``load_tolerance``;
* the change is significant at asv's stricter level: a two-sided Mann-Whitney U test on the
  repeats (scipy, vectorised over the cells with equal repeat counts), or, without samples, every
  repeat of one side beyond every repeat of the other, whose exact p is 2 / C(n + m, n). The 95 %
  intervals of the medians apart, or the medians' gap against the IQR, are shown as evidence only:
  neither reaches p < 0.002.

Every function takes the paired rows of both sides as two frames aligned row by row and returns
arrays or Series of the same length.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.special import comb
from scipy.stats import mannwhitneyu

from neural_ode.axes import machine_keys

#: where a cell ran (host, device name, library versions, machine identity)
MACHINE_KEYS = machine_keys()
#: the machine identity a record must carry on both sides for its runs to be one machine
#: (:func:`neural_ode.measuring.provenance.machine_identity`)
IDENTITY_KEYS = ("machine_id", "cpu_flags", "cpu_caches", "kernel_release")


def _values(frame: pd.DataFrame, column: str) -> tuple[np.ndarray, np.ndarray]:
    """``column``'s values (objects) and where they are missing (absent column, None, NaN, empty text)."""
    if column not in frame:
        return np.full(len(frame), None, dtype=object), np.ones(len(frame), dtype=bool)
    values = frame[column].to_numpy(dtype=object)
    return values, pd.isna(values) | (values == "")


def numbers(frame: pd.DataFrame, column: str) -> np.ndarray:
    """``column`` as floats (NaN where absent, missing or not a number)."""
    if column not in frame:
        return np.full(len(frame), np.nan)
    return pd.to_numeric(frame[column], errors="coerce").to_numpy(dtype=float, na_value=np.nan)


def machine_gaps(base: pd.DataFrame, new: pd.DataFrame) -> np.ndarray:
    """Per pair, why its two runs are not known to be one machine ("" where they are)."""
    why = np.full(len(base), "", dtype=object)
    differ = {}
    for key in MACHINE_KEYS:
        (b, b_missing), (n, n_missing) = _values(base, key), _values(new, key)
        differ[key] = ~b_missing & ~n_missing & (b != n)
    missing = {side: np.column_stack([_values(frame, k)[1] for k in IDENTITY_KEYS])
               for side, frame in (("BASE", base), ("NEW", new))}  # fmt: skip
    for i in np.flatnonzero(np.any(np.column_stack(list(differ.values())), axis=1)):
        why[i] = "measured on different machines (" + ", ".join(k for k in MACHINE_KEYS if differ[k][i]) + " differ)"
    for side, gaps in missing.items():
        for i in np.flatnonzero(gaps.any(axis=1) & (why == "")):
            names = ", ".join(k for k, gap in zip(IDENTITY_KEYS, gaps[i]) if gap)
            why[i] = f"{side} records no {names} (an older record): not known to be the same machine"
    return why


def _load(frame: pd.DataFrame) -> np.ndarray:
    both = np.column_stack([numbers(frame, "load_before"), numbers(frame, "load_after")])
    out = np.full(len(frame), np.nan)
    known = ~np.isnan(both).all(axis=1)
    out[known] = np.nanmax(both[known], axis=1)
    return out


def _flag(frame: pd.DataFrame, column: str) -> np.ndarray:
    if column not in frame:
        return np.zeros(len(frame), dtype=bool)
    return frame[column].map(lambda v: v is True or (not isinstance(v, str) and v == 1)).to_numpy(dtype=bool)


def condition_gaps(base: pd.DataFrame, new: pd.DataFrame, tolerance: float) -> np.ndarray:
    """Per pair, why the two timings' recorded conditions do not match ("" where they do)."""
    why = np.full(len(base), "", dtype=object)
    loads = _load(base), _load(new)
    others = numbers(base, "other_cpu_cores"), numbers(new, "other_cpu_cores")
    contended = _flag(base, "contended"), _flag(new, "contended")
    reasons = []
    for side, load, busy in (("BASE", loads[0], contended[0]), ("NEW", loads[1], contended[1])):
        reasons.append((busy, lambda i, side=side: f"timed under contention in {side}"))
        reasons.append((np.isnan(load), lambda i, side=side: f"no load recorded in {side}"))
    load_gap = np.abs(loads[0] - loads[1]) > tolerance
    reasons.append((load_gap, lambda i: f"load {loads[0][i]:.2f} vs {loads[1][i]:.2f} (over {tolerance:g} apart)"))
    other_gap = np.abs(others[0] - others[1]) > tolerance
    reasons.append((other_gap, lambda i: f"other processes kept {others[0][i]:.2f} vs {others[1][i]:.2f} cores busy"))
    for mask, say in reasons:
        for i in np.flatnonzero(mask & (why == "")):
            why[i] = "conditions differ: " + say(i)
    return why


def samples_of(frame: pd.DataFrame, metric: str) -> list:
    """Per row, the timed repeats of ``metric`` (``time_forward_s``: ``time_forward_samples_s``) as a list, or None."""
    column = metric.replace("_s", "_samples_s")
    if column not in frame:
        return [None] * len(frame)
    return [v if isinstance(v, list | tuple | np.ndarray) else None for v in frame[column].to_numpy(dtype=object)]


def sample_counts(frame: pd.DataFrame, metric: str, samples: list) -> np.ndarray:
    """Per row, how many timed repeats are behind ``metric``: its samples, else ``time_repeats`` (NaN: unknown)."""
    counts = numbers(frame, "time_repeats")
    listed = np.array([np.nan if s is None else len(s) for s in samples], dtype=float)
    return np.where(np.isnan(listed), counts, listed)


def mann_whitney(base: list, new: list) -> np.ndarray:
    """Two-sided Mann-Whitney U p-values of each pair of sample lists (NaN where a side has fewer than 2).

    One vectorised scipy call per pair of repeat counts (``axis=1``), not one per cell.
    """
    p = np.full(len(base), np.nan)
    sizes = pd.DataFrame(
        {"b": [0 if s is None else len(s) for s in base], "n": [0 if s is None else len(s) for s in new]}
    )
    sizes = sizes[(sizes["b"] >= 2) & (sizes["n"] >= 2)]
    for _, rows in sizes.groupby(["b", "n"]).indices.items():
        index = sizes.index[rows]
        x = np.array([base[i] for i in index], dtype=float)
        y = np.array([new[i] for i in index], dtype=float)
        p[index] = mannwhitneyu(x, y, axis=1, alternative="two-sided").pvalue
    return p


def _apart(base: pd.DataFrame, new: pd.DataFrame, low: str, high: str) -> np.ndarray:
    """1.0 where the [low, high] bounds of the two sides do not overlap, 0.0 where they do, NaN where unknown."""
    b_low, b_high, n_low, n_high = numbers(base, low), numbers(base, high), numbers(new, low), numbers(new, high)
    apart = ((n_low > b_high) | (n_high < b_low)).astype(float)
    apart[np.isnan(b_low) | np.isnan(b_high) | np.isnan(n_low) | np.isnan(n_high)] = np.nan
    return apart


def evidence(base: pd.DataFrame, new: pd.DataFrame, metric: str, ratio: np.ndarray, alpha: float, factor: float,
             samples: tuple[list, list] | None = None):  # fmt: skip
    """The significance of each timing pair: (p, significant, text).

    ``p``: the p-value where one can be computed (Mann-Whitney on samples; ranges apart with known
    counts: 2 / C(n + m, n)), else NaN: no verdict, the text gives the weaker evidence.
    ``significant``: p < alpha, or for the weaker tests whether they find the sides apart.
    """
    base_samples, new_samples = samples or (samples_of(base, metric), samples_of(new, metric))
    p = mann_whitney(base_samples, new_samples)
    texts = np.array([f"Mann-Whitney U p={v:.3g} (alpha {alpha:g}), factor {factor:g}" for v in p], dtype=object)
    significant = p < alpha
    ranges = _apart(base, new, metric.replace("_s", "_min_s"), metric.replace("_s", "_max_s"))
    counts = sample_counts(base, metric, [None] * len(base)), sample_counts(new, metric, [None] * len(new))
    exact = np.isnan(p) & (ranges == 1.0) & ~np.isnan(counts[0]) & ~np.isnan(counts[1])
    if exact.any():
        p[exact] = 2.0 / comb(counts[0][exact] + counts[1][exact], counts[0][exact])
        significant[exact] = p[exact] < alpha
        for i in np.flatnonzero(exact):
            texts[i] = f"every repeat apart: Mann-Whitney U = 0, p={p[i]:.3g} (alpha {alpha:g}), factor {factor:g}"
    intervals = _apart(base, new, metric.replace("_s", "_ci_low_s"), metric.replace("_s", "_ci_high_s"))
    for i in np.flatnonzero(np.isnan(p)):
        if not np.isnan(intervals[i]):
            significant[i] = bool(intervals[i])
            texts[i] = f"95 % intervals of the medians {'apart' if intervals[i] else 'overlap'}"
        elif not np.isnan(ranges[i]):
            significant[i] = bool(ranges[i])
            texts[i] = f"ranges {'apart' if ranges[i] else 'overlap'}"
        else:
            significant[i] = True
            texts[i] = "no spread recorded"
        texts[i] += f" (no samples: p < {alpha:g} cannot be shown), x{ratio[i]:.3g}"
    return p, significant, texts
