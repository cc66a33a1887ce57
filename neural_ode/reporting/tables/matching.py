"""Methods compared at equal accuracy and at equal settings.

*Equal settings*: two methods on identical cells (everything equal but the method), the ratio of
their costs; a method that is cheaper because it is less accurate looks better here.

*Equal accuracy*: each method's work-precision line is the Pareto front of its cells on one
problem (:func:`neural_ode.reporting.tables.choices.pareto_front`: over every solver, step count and
tolerance measured). Its cost at a gradient error ``e`` is interpolated linearly in log error
against log cost between the two front cells around ``e``; at an error looser than every front
cell it is the front's cheapest cell (which reaches ``e`` as measured); tighter than every cell it
is undefined. Two methods are compared at the targets of :data:`~neural_ode.reporting.tables.choices.TARGETS`
that both reach and no looser than the looser of their loosest errors, or, when no target falls
there, at the tighter error both reach.

*Like with like*: a method that lands on the output times is never matched against one that
interpolates there (at rtol 1e-5 direct dopri5's gradient error was 9.8e-5 interpolated and 8.1e-7
landed): both kinds of comparison run within one :func:`landing` only, and every row says which.
Every row also says what the contest compares (:func:`contest`): two gradient methods on one
implementation (``methods``), one method on two libraries (``implementations``), or both at once.

*Paired in rounds*: where the cells compared were timed together in interleaved rounds (one
``time_group``: :mod:`neural_ode.reporting.tables.paired`), a time ratio is the median of the
per-round ratios, with its 95 % interval over the rounds (``ratio_low``, ``ratio_high``), and a
difference is resolved when that interval excludes 1 (a tie otherwise). At equal accuracy each
round's cost is interpolated from the front cells' times in that round. Results without groups
keep the ratio of medians, and "resolved" from the two cells' own intervals.
"""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd

from neural_ode.methods import METHODS
from neural_ode.reporting.columns import CONFIG_COLUMNS, intervals_apart
from neural_ode.reporting.tables.choices import (
    CRITERIA,
    TARGETS,
    candidates,
    decided_by_roundoff,
    pareto_front,
    problem_keys,
    problems,
)
from neural_ode.reporting.tables.paired import accuracy_ratio, paired_columns, resolved

EQUAL_ACCURACY = "equal accuracy"
EQUAL_SETTINGS = "equal settings"
#: how a cell's value at the output times came about
LANDED, INTERPOLATED = "landed", "interpolated"


def landing(rows: pd.DataFrame) -> pd.Series:
    """Per cell: ``interpolated`` where the solver's value at the output times was interpolated (the
    record's ``interpolated``; for results without it: an adaptive torchdiffeq solve without
    ``land``), else ``landed`` (fixed grids and the lean core always land)."""
    recorded = pd.to_numeric(rows["interpolated"], errors="coerce") if "interpolated" in rows else None

    def derived(row) -> bool:
        spec = METHODS.get(row.get("method"))
        interpolates = bool(spec is not None and spec.interpolates_outputs)
        return bool(row.get("adaptive")) and interpolates and not bool(row.get("land"))

    flags = [
        bool(value) if recorded is not None and pd.notna(value) else derived(row)
        for value, row in zip(recorded if recorded is not None else [None] * len(rows), rows.to_dict("records"),
                              strict=True)
    ]  # fmt: skip
    return pd.Series(np.where(flags, INTERPOLATED, LANDED), index=rows.index, dtype=object)


def contest(a: str, b: str) -> str:
    """What a head-to-head of methods ``a`` and ``b`` compares: ``methods`` (two gradient methods on
    one library), ``implementations`` (one gradient family on two libraries) or ``methods and
    implementations`` (both differ, e.g. torchdiffeq's direct against the lean core's aca)."""
    spec_a, spec_b = METHODS.get(a), METHODS.get(b)
    if spec_a is None or spec_b is None:
        return "methods"
    same_library = spec_a.library == spec_b.library
    same_method = spec_a.family == spec_b.family and spec_a.family == "direct"
    if same_library:
        return "methods"
    return "implementations" if same_method or _same_route(spec_a, spec_b) else "methods and implementations"


def _same_route(spec_a, spec_b) -> bool:
    """Two adjoints (a backward solve each) on two libraries: one method, two implementations."""
    return spec_a.family == spec_b.family == "adjoint"


def method_order(methods) -> list[str]:
    """Methods with ``direct`` first, the rest sorted by name."""
    return sorted({str(m) for m in methods}, key=lambda m: (m != "direct", m))


def precision_line(cells: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """(gradient errors ascending, costs) of the Pareto front of ``cells`` (columns ``value``, ``grad_rel_error``)."""
    front = pareto_front(cells).sort_values("grad_rel_error")
    return front["grad_rel_error"].to_numpy(float), front["value"].to_numpy(float)


def cost_at(line: tuple[np.ndarray, np.ndarray], error: float) -> float:
    """The cost of a :func:`precision_line` at gradient error ``error`` (see the module docstring); NaN if tighter."""
    errors, costs = line
    if errors.size == 0 or error < errors[0]:
        return float("nan")
    if error >= errors[-1]:
        return float(costs[-1])
    positive = errors > 0
    if not positive.all():  # an exact cell (error 0) reaches every error at its cost
        if error <= errors[positive][0]:
            return float(costs[~positive].min())
        errors, costs = errors[positive], costs[positive]
    return float(np.exp(np.interp(np.log(error), np.log(errors), np.log(costs))))


def matched_errors(line_a, line_b) -> list[float]:
    """The gradient errors two lines are compared at (module docstring)."""
    if line_a[0].size == 0 or line_b[0].size == 0:
        return []
    tightest = max(line_a[0][0], line_b[0][0])
    loosest = max(line_a[0][-1], line_b[0][-1])
    targets = [t for t in TARGETS if tightest <= t <= loosest]
    return targets or [float(tightest)]


def equal_accuracy_table(frame: pd.DataFrame) -> pd.DataFrame:
    """Every pair of methods on every problem at each matched gradient error, per criterion.

    Columns: the problem keys, ``criterion``, ``landing`` (both fronts are of that landing only),
    ``method_a``, ``method_b``, ``contest`` (:func:`contest`), ``grad_rel_error`` (the matched
    error), ``value_a``, ``value_b`` (interpolated costs: seconds or bytes), ``ratio``
    (``value_b / value_a``; time paired in rounds: the median per-round ratio), and for paired time
    ratios ``ratio_low``, ``ratio_high`` (its 95 % interval, NaN otherwise) and ``paired_rounds``.
    """
    out = []
    for criterion in CRITERIA:
        rows = candidates(frame, criterion)
        rows = rows.assign(landing=landing(rows))
        for problem, cells in problems(rows):
            for landed, same in cells.groupby("landing", sort=True):
                fronts = {m: pareto_front(c) for m, c in same.groupby("method")}
                lines = {m: precision_line(c) for m, c in same.groupby("method")}
                for a, b in itertools.combinations(method_order(lines), 2):
                    floor = _floor(same[same["method"].isin([a, b])])
                    for error in matched_errors(lines[a], lines[b]):
                        value_a, value_b = cost_at(lines[a], error), cost_at(lines[b], error)
                        row = {**problem, "criterion": criterion, "landing": landed, "method_a": a, "method_b": b,
                               "contest": contest(a, b), "grad_rel_error": error, "value_a": value_a,
                               "value_b": value_b, "ratio": value_b / value_a, "ratio_low": np.nan,
                               "ratio_high": np.nan, "paired_rounds": 0,
                               "decided_by_roundoff": decided_by_roundoff(error, floor)}  # fmt: skip
                        paired = accuracy_ratio(fronts[a], fronts[b], error, cost_at) if criterion == "time" else None
                        if paired is not None:
                            row.update(ratio=paired.median, ratio_low=paired.low, ratio_high=paired.high,
                                       paired_rounds=paired.rounds)  # fmt: skip
                        out.append(row)
    columns = [*problem_keys(frame), "criterion", "landing", "method_a", "method_b", "contest", "grad_rel_error"]
    return pd.DataFrame(out, columns=[*columns, "value_a", "value_b", "ratio", "ratio_low", "ratio_high",
                                      "paired_rounds", "decided_by_roundoff"])  # fmt: skip


def _floor(cells: pd.DataFrame) -> float:
    """The largest float32 round-off floor (``grad_roundoff_floor``) of ``cells``; NaN where none was measured."""
    if "grad_roundoff_floor" not in cells:
        return np.nan
    floors = pd.to_numeric(cells["grad_roundoff_floor"], errors="coerce").dropna()
    return float(floors.max()) if len(floors) else np.nan


def equal_settings_table(frame: pd.DataFrame) -> pd.DataFrame:
    """Every pair of methods on identical cells, per criterion: one row per cell pair.

    Columns: ``criterion``, ``method_a``, ``method_b``, ``contest``, ``landing``, ``solver``,
    ``value_a``, ``value_b``, ``ratio`` (``value_b / value_a``; cells timed in the same rounds: the
    median per-round ratio), ``ratio_low``, ``ratio_high`` (that ratio's 95 % interval),
    ``paired_rounds`` (0: timed apart), ``error_a``, ``error_b`` (their gradient errors), ``low_a`` ...
    ``high_b`` (the cells' own total-time intervals, seconds) and ``resolved``. Identical settings
    are not enough: a landed cell is paired with a landed one only (``land`` is a setting of
    torchdiffeq's solvers; the lean core lands whatever it says).
    """
    keys = [c for c in CONFIG_COLUMNS if c not in ("method", "land") and c in frame] + ["landing"]
    out = []
    for criterion in CRITERIA:
        rows = candidates(frame, criterion)
        rows = rows.assign(landing=landing(rows))
        by_method = {m: c for m, c in rows.groupby("method")}
        for a, b in itertools.combinations(method_order(by_method), 2):
            pairs = by_method[a].merge(by_method[b], on=keys, suffixes=("_a", "_b"))
            # a cell of the lean core is one cell whatever its `land` says: keep one pairing per cell of each side
            pairs = pairs.drop_duplicates(subset=[c for c in pairs.columns if c.endswith("_a") and "samples" not in c])
            if pairs.empty:
                continue
            ratio = pairs["value_b"] / pairs["value_a"]
            paired = paired_columns(pairs) if criterion == "time" else None
            if paired is not None:
                ratio = paired["paired_ratio"].where(paired["paired_rounds"] > 0, ratio)
            out.append(
                pd.DataFrame(
                    {
                        "criterion": criterion,
                        "method_a": a,
                        "method_b": b,
                        "contest": contest(a, b),
                        "landing": pairs["landing"],
                        "solver": pairs["solver"],
                        "value_a": pairs["value_a"],
                        "value_b": pairs["value_b"],
                        "ratio": ratio,
                        "ratio_low": paired["paired_low"] if paired is not None else np.nan,
                        "ratio_high": paired["paired_high"] if paired is not None else np.nan,
                        "paired_rounds": paired["paired_rounds"] if paired is not None else 0,
                        "error_a": pairs["grad_rel_error_a"],
                        "error_b": pairs["grad_rel_error_b"],
                        **_cell_intervals(pairs, criterion),
                        "resolved": _resolved(pairs, paired) if criterion == "time" else None,
                    }
                )  # fmt: skip
            )
    columns = ["criterion", "method_a", "method_b", "contest", "landing", "solver", "value_a", "value_b", "ratio"]
    columns += ["ratio_low", "ratio_high", "paired_rounds", "error_a", "error_b", *INTERVAL_ENDS, "resolved"]
    return pd.concat(out, ignore_index=True) if out else pd.DataFrame(columns=columns)


#: the equal-settings table's columns of the two cells' own total-time intervals (seconds)
INTERVAL_ENDS = ("low_a", "high_a", "low_b", "high_b")


def _cell_intervals(pairs: pd.DataFrame, criterion: str) -> dict:
    """The two cells' total-time 95 % interval bounds per pair (NaN for memory, or where none)."""
    out = {}
    for end in INTERVAL_ENDS:
        bound, side = end.split("_")
        column = f"time_total_ci_{bound}_s_{side}"
        out[end] = pairs[column] if criterion == "time" and column in pairs else np.nan
    return out


def _resolved(pairs: pd.DataFrame, paired: pd.DataFrame | None = None) -> list:
    """Per pair of timed cells: timed in the same rounds, their paired ratio's 95 % interval excludes 1
    (True) or contains it (False: a tie; :func:`neural_ode.reporting.tables.paired.resolved`); timed
    apart, their total times' 95 % intervals are apart (True) or overlap (False); None without intervals
    (:func:`neural_ode.reporting.columns.intervals_apart`)."""
    ends = [f"time_total_ci_{end}_s_{side}" for side in ("a", "b") for end in ("low", "high")]
    own = (
        [intervals_apart(*bounds) for bounds in pairs[ends].itertuples(index=False)]
        if all(end in pairs for end in ends)
        else [None] * len(pairs)
    )
    if paired is None:
        return own
    return [
        resolved(low, high) if rounds > 0 else apart
        for apart, low, high, rounds in zip(
            own, paired["paired_low"], paired["paired_high"], paired["paired_rounds"], strict=True
        )
    ]


def _resolved_text(same: pd.DataFrame) -> str:
    """``3 of 4 (95 % intervals apart)``: how many equal-settings time ratios the intervals resolve."""
    known = same["resolved"].dropna() if "resolved" in same else pd.Series(dtype=object)
    if same.empty:
        return "—"
    if known.empty:
        return "no intervals"
    notes = []
    if "paired_rounds" in same and (same["paired_rounds"] > 0).any():
        notes.append(f"{int((same['paired_rounds'] > 0).sum())} paired in rounds")
    if len(known) < len(same):
        notes.append(f"{len(same) - len(known)} without an interval")
    text = f"{int(known.astype(bool).sum())} of {len(known)}"
    return text + (f" ({'; '.join(notes)})" if notes else "")


def _span(ratios: pd.Series) -> str:
    ratios = ratios.dropna()
    if ratios.empty:
        return "—"
    low, high, median = ratios.min(), ratios.max(), ratios.median()
    if np.isclose(low, high, rtol=0.05):
        return f"{median:.2g}×"
    return f"{median:.2g}× ({low:.2g}–{high:.2g}×)"


def matched_tables(frame: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(:func:`equal_accuracy_table`, :func:`equal_settings_table`) of ``frame``: made once per report, read
    by :func:`pairs_table` and by the advice (:func:`neural_ode.reporting.tables.recommend.advice`)."""
    return equal_accuracy_table(frame), equal_settings_table(frame)


def pairs_table(frame: pd.DataFrame, matched: tuple[pd.DataFrame, pd.DataFrame] | None = None) -> pd.DataFrame:
    """Every pair of methods: cost ratios B/A at equal accuracy and at equal settings, time and memory.

    Each ratio reads ``median (min–max)`` over the matched errors of every problem (equal
    accuracy) or over identical cells (equal settings); below 1 means method B is cheaper. How many
    of the equal-settings time ratios the 95 % intervals resolve (paired in rounds: the ratio's
    interval excludes 1; else the two totals' intervals apart) is counted beside them: a ratio whose
    interval contains 1, or from overlapping intervals, is no difference. ``matched``: the frame's
    :func:`matched_tables` where the caller has them already.
    """
    accuracy, settings = matched if matched is not None else matched_tables(frame)
    methods = method_order(frame.loc[frame["ok"], "method"].dropna())
    out = []
    for a, b in itertools.combinations(methods, 2):
        row = {"method A": a, "method B": b, "compares": contest(a, b)}
        for criterion in CRITERIA:
            acc = accuracy[
                (accuracy["method_a"] == a) & (accuracy["method_b"] == b) & (accuracy["criterion"] == criterion)
            ]
            same = settings[
                (settings["method_a"] == a) & (settings["method_b"] == b) & (settings["criterion"] == criterion)
            ]
            row[f"{criterion} B/A at {EQUAL_ACCURACY}"] = _span(acc["ratio"])
            row[f"{criterion} B/A at {EQUAL_SETTINGS}"] = _span(same["ratio"])
            if criterion == "time":
                kinds = sorted(set(acc["landing"]) | set(same["landing"]))
                row["landing (like with like)"] = " and ".join(kinds) if kinds else "—"
                errors = acc["grad_rel_error"]
                row["matched errors"] = (
                    "—" if errors.empty else f"{errors.min():.0e}–{errors.max():.0e}".replace("e-0", "e-")
                )
                row["cells at equal settings"] = len(same)
                row["time differences resolved at equal settings"] = _resolved_text(same)
        out.append(row)
    return pd.DataFrame(out)


__all__ = [
    "EQUAL_ACCURACY",
    "EQUAL_SETTINGS",
    "contest",
    "cost_at",
    "landing",
    "matched_tables",
    "equal_accuracy_table",
    "equal_settings_table",
    "matched_errors",
    "method_order",
    "pairs_table",
    "precision_line",
]
