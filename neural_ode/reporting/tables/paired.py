"""Head-to-heads timed in the same rounds: per-round ratios of two cells' total times.

Cells of one problem timed together (:mod:`neural_ode.measuring.grouped`) share a ``time_group``
and their i-th repeats come from the same round. The ratio of two of them is then taken round by
round, B's forward + backward time over A's, and summarised by its median and the 95 % interval of
that median over the rounds (:func:`neural_ode.measuring.intervals.paired_ratio`): a load change
between rounds moves both and cancels. Two cells whose paired interval contains 1 are *tied*.

Rows without a group (results from before interleaved timing, cells timed alone, other readers)
have no paired ratio: the callers keep comparing their medians and their own intervals, as before.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np
import pandas as pd

from neural_ode import units
from neural_ode.measuring.intervals import RatioStats, honest_median_interval, paired_ratio

GROUP = "time_group"
SAMPLES = ("time_forward_samples_s", "time_backward_samples_s")


def _group(row: Mapping, suffix: str = "") -> str | None:
    value = row.get(GROUP + suffix)
    return value if isinstance(value, str) and value else None


def round_totals(row: Mapping, suffix: str = "") -> np.ndarray | None:
    """The per-round forward + backward times of a grouped row (seconds, in round order), None
    where the row has no group or no samples of equal length."""
    if _group(row, suffix) is None:
        return None
    forward, backward = (row.get(name + suffix) for name in SAMPLES)
    if not isinstance(forward, list | tuple | np.ndarray) or not isinstance(backward, list | tuple | np.ndarray):
        return None
    if len(forward) == 0 or len(forward) != len(backward):
        return None
    return np.asarray(forward, dtype=float) + np.asarray(backward, dtype=float)


def paired_time(row_a: Mapping, row_b: Mapping, suffix_a: str = "", suffix_b: str = "") -> RatioStats | None:
    """B's total time over A's, round by round, where both rows come from one interleaved group."""
    group = _group(row_a, suffix_a)
    if group is None or group != _group(row_b, suffix_b):
        return None
    a, b = round_totals(row_a, suffix_a), round_totals(row_b, suffix_b)
    if a is None or b is None:
        return None
    return paired_ratio(a, b)


def paired_columns(pairs: pd.DataFrame, suffix_a: str = "_a", suffix_b: str = "_b") -> pd.DataFrame:
    """Per row of merged ``pairs``: ``paired_ratio``, ``paired_low``, ``paired_high`` (NaN where the
    two cells were not timed in the same rounds, or where the interval is withheld) and ``paired_rounds``."""
    stats = [paired_time(row, row, suffix_a, suffix_b) for row in pairs.to_dict("records")]
    return pd.DataFrame(
        {
            "paired_ratio": [s.median if s else math.nan for s in stats],
            "paired_low": [s.low if s else math.nan for s in stats],
            "paired_high": [s.high if s else math.nan for s in stats],
            "paired_rounds": [s.rounds if s else 0 for s in stats],
        },
        index=pairs.index,
    )


def resolved(low: float, high: float) -> bool | None:
    """A paired interval that excludes 1 resolves the difference (True), one that contains it is a
    tie (False); None without an interval."""
    if not (np.isfinite(low) and np.isfinite(high)):
        return None
    return bool(low > 1.0 or high < 1.0)


def ratio_text(stats: RatioStats) -> str:
    """``0.97× [0.93–1.02]``: a paired ratio and its 95 % interval (``no interval`` where withheld)."""
    median = units.ratio(stats.median)
    if not (math.isfinite(stats.low) and math.isfinite(stats.high)):
        return f"{median} (no interval)"
    return f"{median} [{stats.low:.3g}–{stats.high:.3g}]"


def difference_text(stats: RatioStats) -> str:
    """How a head-to-head reads with a paired ratio: resolved or tied, with the ratio and its interval."""
    verdict = resolved(stats.low, stats.high)
    if verdict is None:
        return f"no paired interval ({stats.rounds} rounds too few or too correlated): {ratio_text(stats)}"
    word = "resolved" if verdict else "tied"
    return f"{word} (paired over {stats.rounds} rounds: {ratio_text(stats)})"


def accuracy_ratio(front_a: pd.DataFrame, front_b: pd.DataFrame, error: float, cost_at) -> RatioStats | None:
    """The equal-accuracy time ratio B/A at gradient ``error``, round by round: each round's cost of a
    front is interpolated (``cost_at``) from its cells' times in that round. None unless every cell of
    both fronts comes from one group with the same rounds."""
    # only the columns read here: a row of every column as a dict costs more than all the rest
    needed = [c for c in (GROUP, *SAMPLES, "grad_rel_error") if c in front_a and c in front_b]
    fronts = [front[needed].sort_values("grad_rel_error") for front in (front_a, front_b)]
    rows = [row for front in fronts for row in front.to_dict("records")]
    groups = {_group(row) for row in rows}
    if len(groups) != 1 or None in groups:
        return None
    totals = [[round_totals(row) for row in front.to_dict("records")] for front in fronts]
    lengths = {len(t) if t is not None else -1 for side in totals for t in side}
    if len(lengths) != 1 or -1 in lengths:
        return None
    rounds = lengths.pop()
    per_round = []
    for side, front in zip(totals, fronts, strict=True):
        errors = front["grad_rel_error"].to_numpy(float)
        per_round.append([cost_at((errors, np.array([t[r] for t in side])), error) for r in range(rounds)])
    ratios = [b / a for a, b in zip(*per_round, strict=True) if a > 0 and np.isfinite(a) and np.isfinite(b)]
    if len(ratios) != rounds:
        return None
    low, high = honest_median_interval(ratios)
    return RatioStats(float(np.median(ratios)), low, high, rounds)


def pair_precision(settings: pd.DataFrame, halfwidth: float) -> dict:
    """How precisely the equal-settings time ratios (``settings``: :func:`equal_settings_table`'s
    ``time`` rows, with the cells' total-time intervals as ``low_a, high_a, low_b, high_b``) are known.

    ``unpaired``: pairs whose ratio interval from the two cells' own intervals, [low_b / high_a,
    high_b / low_a], lies within ±``halfwidth`` of the ratio of medians; ``paired``: pairs timed in the
    same rounds whose per-round ratio's 95 % interval lies within ±``halfwidth`` of its median;
    ``with_rounds``: pairs timed in the same rounds; ``pairs``: all."""
    ratio = settings["value_b"] / settings["value_a"]
    low, high = settings["low_b"] / settings["high_a"], settings["high_b"] / settings["low_a"]
    reach = np.fmax(ratio - low, high - ratio) / ratio
    paired = settings[settings["paired_rounds"] > 0]
    paired_reach = np.fmax(paired["ratio"] - paired["ratio_low"], paired["ratio_high"] - paired["ratio"]) / paired[
        "ratio"
    ]
    return {
        "pairs": len(settings),
        "unpaired": int((reach <= halfwidth).sum()),
        "with_rounds": len(paired),
        "paired": int((paired_reach <= halfwidth).sum()),
    }
