"""How a figure grows with depth: affine least-squares fits with a confidence interval on the slope.

A *line* is a set of measured cells that differ only in depth (same workload, method, solver,
device, dtype and sizes; see :data:`neural_ode.reporting.columns.LINE_KEYS`). Memory and time are
a constant plus a per-depth cost, so each line is fitted as ``value ≈ intercept + slope · L̃``
(ordinary least squares), with a two-sided :data:`CONFIDENCE` interval on the slope from the
t-distribution with ``points - 2`` degrees of freedom. Extrapolations (the budget table) use this
fit. A power law through the constant (c · L̃^k) would read linear growth as k well below 1 and
extrapolate wrongly by orders of magnitude.

What is reported of a growing line is its slope, in the metric's unit per depth unit, with its
interval, and the **share** of the value at the deepest measured depth that the slope explains
(slope x deepest depth / fitted value there): direct backpropagation's memory is nearly all slope,
an adjoint's +13 % over 4x depth a small share above a large intercept. No exponent is reported: a
log-log slope of the part above the intercept reads k ≈ 1 for *any* straight line, so it cannot
tell those two apart (``exponent`` stays on :class:`GrowthFit` and in :func:`growth_table` as a
descriptive figure for callers, never in a report). A line that grows by less than
:data:`MEASURABLE_GROWTH` of its value over its depths, or whose slope cannot be told from zero,
reads ``flat`` (column ``growth``).

Depth is the ``depth`` column of :func:`neural_ode.reporting.columns.prepare`: steps for
fixed-grid solvers, forward NFE for adaptive ones. :func:`fits_table` also fits memory against
the unit of the method's memory law (:mod:`neural_ode.methods.laws`: forward evaluations for
``direct``, accepted steps for ``aca``, segments or steps per segment for ``checkpoint``, nothing
for the adjoints, which must stay flat), so that the slope is the increment per unit and the budget
table extrapolates in it; :func:`law_table` flags a line that leaves its method's law.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from neural_ode.methods.laws import law_of
from neural_ode.reporting.claims.line_fits import derived_columns, fit_lines
from neural_ode.reporting.columns import LINE_KEYS, measured

#: confidence level of the slope's interval
CONFIDENCE = 0.95
#: growth over the measured depths below this fraction of the value is not measurable: "flat"
MEASURABLE_GROWTH = 0.05
#: a line leaves its method's law when a cell is further than this from the law's fit (relative)
LAW_TOLERANCE = 0.05


@dataclass(frozen=True)
class GrowthFit:
    """An affine fit value ≈ intercept + slope · depth, with its uncertainty.

    Attributes:
        intercept: the fitted value at depth 0, in the metric's unit.
        slope: the fitted increase per unit of depth, in the metric's unit per depth unit.
        slope_low, slope_high: the :data:`CONFIDENCE` interval of the slope (equal to the slope
            for an exact fit; infinite with only two distinct depths and scatter).
        intercept_se, slope_se: standard errors; residual_se: the residuals' standard deviation.
        r2: coefficient of determination (1.0 for an exact line; NaN when the values are all equal
            and the fit is exact, since there is no variance to explain).
        exponent: descriptive log-log slope of ``value - intercept`` (see the module docstring).
        points: cells fitted; depths: distinct depths among them; depth_min, depth_max: the range.
    """

    intercept: float
    slope: float
    slope_low: float
    slope_high: float
    intercept_se: float
    slope_se: float
    residual_se: float
    r2: float
    exponent: float
    points: int
    depths: int
    depth_min: float
    depth_max: float

    @property
    def coefficient(self) -> float:
        """The fitted value at depth 1 (intercept + slope), in the metric's unit."""
        return self.intercept + self.slope

    @property
    def growing(self) -> bool:
        """True when the slope's confidence interval lies wholly above zero."""
        return self.slope_low > 0

    def flat_within(self, fraction: float) -> bool:
        """True when the slope's whole interval changes the value by at most ``fraction`` of it
        between depth 0 and the deepest measured depth (a growth too small to matter)."""
        scale = max(abs(self.intercept), abs(self.predict(self.depth_max)), 1e-300)
        span = self.depth_max
        return self.slope_high * span <= fraction * scale and self.slope_low * span >= -fraction * scale

    @property
    def growth(self) -> str:
        """``grows`` when the slope is above zero and moves the value by :data:`MEASURABLE_GROWTH`
        or more over the measured depths; else ``flat``."""
        return "grows" if self.growing and not self.flat_within(MEASURABLE_GROWTH) else "flat"

    @property
    def share(self) -> float:
        """The share (0-1) of the fitted value at the deepest measured depth that the slope explains:
        slope x depth_max / (intercept + slope x depth_max); NaN where that value is not positive."""
        total = self.predict(self.depth_max)
        return self.slope * self.depth_max / total if total > 0 else math.nan

    @property
    def measurable_exponent(self) -> float:
        """:attr:`exponent` where the line grows measurably, NaN where it reads flat."""
        return self.exponent if self.growth == "grows" else math.nan

    def predict(self, depth: float) -> float:
        """The fitted value at ``depth`` (extrapolated outside the fitted range)."""
        return self.intercept + self.slope * depth

    def depth_within(self, budget: float, slope: float | None = None) -> float:
        """The largest depth whose fitted value stays within ``budget`` (inf when it does not grow).

        ``slope`` replaces the fitted slope (e.g. ``slope_high`` for a cautious answer).
        """
        slope = self.slope if slope is None else slope
        if not math.isfinite(slope):
            return 0.0
        if slope <= 0:
            return math.inf if self.intercept <= budget else 0.0
        return max((budget - self.intercept) / slope, 0.0)


@functools.cache
def _t_quantile(dof: int) -> float:
    from scipy import stats

    return float(stats.t.ppf(0.5 + CONFIDENCE / 2, dof))


def fit_growth(depth, value) -> GrowthFit | None:
    """The affine fit of ``value`` against ``depth``; None without two distinct positive depths.

    Non-finite values and non-positive depths are left out.
    """
    depth = np.asarray(depth, dtype=float)
    value = np.asarray(value, dtype=float)
    keep = np.isfinite(depth) & np.isfinite(value) & (depth > 0)
    depth, value = depth[keep], value[keep]
    if np.unique(depth).size < 2:
        return None
    n = depth.size
    x_mean, y_mean = depth.mean(), value.mean()
    sxx = float(np.sum((depth - x_mean) ** 2))
    slope = float(np.sum((depth - x_mean) * (value - y_mean)) / sxx)
    intercept = float(y_mean - slope * x_mean)
    residuals = value - (intercept + slope * depth)
    sse = float(np.sum(residuals**2))
    sst = float(np.sum((value - y_mean) ** 2))
    scale = max(1.0, float(np.max(np.abs(value))) ** 2) * n
    exact = sse <= 1e-24 * scale
    if exact:
        sse = 0.0
        if abs(slope) * float(depth.max()) <= 1e-12 * max(1.0, abs(intercept)):
            slope, intercept = 0.0, float(y_mean)
    r2 = (1.0 if exact else math.nan) if sst <= 1e-24 * scale else 1.0 - sse / sst
    if n > 2:
        residual_se = math.sqrt(sse / (n - 2))
        slope_se = residual_se / math.sqrt(sxx)
        half = _t_quantile(n - 2) * slope_se
    else:  # two points: the line passes through both, nothing is left to estimate the scatter
        residual_se, slope_se, half = 0.0, 0.0, 0.0
    intercept_se = slope_se * math.sqrt(float(np.sum(depth**2)) / n)
    return GrowthFit(
        intercept=intercept,
        slope=slope,
        slope_low=slope - half,
        slope_high=slope + half,
        intercept_se=intercept_se,
        slope_se=slope_se,
        residual_se=residual_se,
        r2=r2,
        exponent=_exponent(depth, value, intercept, slope, slope - half),
        points=int(n),
        depths=int(np.unique(depth).size),
        depth_min=float(depth.min()),
        depth_max=float(depth.max()),
    )


def _exponent(depth, value, intercept: float, slope: float, slope_low: float) -> float:
    """The log-log slope of ``value - intercept`` over ``depth``; 0 when the slope is not above zero."""
    if slope <= 0 or slope_low <= 0:
        return 0.0
    above = value - intercept
    keep = above > 0
    if np.unique(depth[keep]).size < 2:
        return 1.0
    k, _ = np.polyfit(np.log(depth[keep]), np.log(above[keep]), 1)
    return float(k)


#: columns of :func:`growth_table` besides the line keys (``share``: of the value at the deepest depth that
#: the slope explains; ``exponent``: descriptive only, NaN where the line reads flat, never reported)
FIT_COLUMNS = (
    "intercept", "slope", "slope_low", "slope_high", "share", "r2", "exponent", "growth", "points", "depths",
    "depth_min", "depth_max",
)  # fmt: skip


def _fit_values(fit: GrowthFit) -> dict:
    values = {name: getattr(fit, name) for name in FIT_COLUMNS if name not in ("exponent", "growth")}
    return dict(values, exponent=fit.measurable_exponent, growth=fit.growth)


#: a column of line numbers (:func:`line_numbers`) that :func:`fits_table` adds once for every fit of a frame
LINE = "_line"


def line_numbers(frame: pd.DataFrame) -> pd.Series:
    """Per row: its line's number (0, 1, ... in the order of the line keys and ``adaptive``; NaN keys last)."""
    return frame.groupby([*LINE_KEYS, "adaptive"], dropna=False, sort=True).ngroup()


def growth_table(frame: pd.DataFrame, metric: str, depth: str = "depth") -> pd.DataFrame:
    """One row per line of ``frame`` (a prepared frame) with the affine growth of ``metric`` in ``depth``.

    Columns: the line keys, ``adaptive``, :data:`FIT_COLUMNS`, ``coefficient`` (value at depth 1),
    ``value_at_max`` (the mean measured value at the deepest depth, in the metric's unit) and
    ``fit`` (the :class:`GrowthFit`). Lines with fewer than two distinct depths are left out. Every
    line is fitted at once (:func:`neural_ode.reporting.claims.line_fits.fit_lines`), in line-key order.
    """
    columns = [*LINE_KEYS, "adaptive", *FIT_COLUMNS, "coefficient", "value_at_max", "fit"]
    return _numbered_growth(frame, metric, depth).reindex(columns=columns)


def _numbered_growth(frame: pd.DataFrame, metric: str, depth: str, objects: bool = True) -> pd.DataFrame:
    """:func:`growth_table` with each row's line number (:data:`LINE`) beside it; without ``objects``
    its ``fit`` column is None (fits.csv has no use for a :class:`GrowthFit` per line)."""
    columns = [*LINE_KEYS, "adaptive", *FIT_COLUMNS, "coefficient", "value_at_max", "fit", LINE]
    rows = measured(frame, depth, metric)
    rows = rows[rows[depth] > 0]
    keys = [*LINE_KEYS, "adaptive"]
    if rows.empty:
        return pd.DataFrame(columns=columns)
    number = rows[LINE] if LINE in rows else line_numbers(rows)
    fitted = fit_lines(number.to_numpy(), rows[depth], rows[metric], CONFIDENCE)
    if fitted.empty:
        return pd.DataFrame(columns=columns)
    first = rows.groupby(number.to_numpy(), sort=True).head(1)
    first = first.set_axis(number.loc[first.index].to_numpy()).loc[fitted.index]
    if objects:
        fields = fitted[[name for name, _ in _FIT_FIELDS]].astype(dict(_FIT_FIELDS))
        fits = [GrowthFit(*values) for values in fields.itertuples(index=False, name=None)]
    else:
        fits = None
    table = first[keys].reset_index(drop=True)
    for key in keys:  # a missing key reads NaN, as groupby gives it (not None)
        if table[key].dtype == object:
            values = table[key].to_numpy(dtype=object, copy=True)
            values[values == None] = np.nan  # noqa: E711 (elementwise, as numpy compares object arrays)
            table[key] = values
    for name in FIT_COLUMNS:
        if name not in ("exponent", "growth", "share"):
            table[name] = fitted[name].to_numpy()
    table = table.assign(**derived_columns(fitted, MEASURABLE_GROWTH))
    table["value_at_max"] = fitted["value_at_max"].astype(float).to_numpy()
    table["fit"] = fits
    table[LINE] = fitted.index.to_numpy()
    return table[columns]


#: the fields of :class:`GrowthFit` and their types, in its order
_FIT_FIELDS = tuple((name, int if name in ("points", "depths") else float) for name in GrowthFit.__dataclass_fields__)


#: columns of :func:`law_table` besides those of :func:`growth_table`
LAW_COLUMNS = ("law", "depth_axis", "leaves_law", "law_check")


def law_table(frame: pd.DataFrame, metric: str) -> pd.DataFrame:
    """One row per line of memory ``metric``, fitted in the unit of its method's memory law.

    Columns: those of :func:`growth_table` (depths in the law's unit) and :data:`LAW_COLUMNS`:
    ``law`` (:data:`neural_ode.methods.laws.MEMORY_LAWS`), ``depth_axis`` (the unit), ``leaves_law``
    (True: a flat law's line grows measurably, or a cell of a growing law's line lies more than
    :data:`LAW_TOLERANCE` off the law's straight line) and ``law_check`` (why, in words). Lines of
    methods that are not registered (other readers) are left out.
    """
    return _numbered_laws(frame, metric).reindex(columns=[*LINE_KEYS, "adaptive", *FIT_COLUMNS, "coefficient",
                                                           "value_at_max", "fit", *LAW_COLUMNS])  # fmt: skip


def _numbered_laws(frame: pd.DataFrame, metric: str, objects: bool = True) -> pd.DataFrame:
    """:func:`law_table` with each row's line number (:data:`LINE`) beside it (``objects``: as
    :func:`_numbered_growth`)."""
    columns = [*LINE_KEYS, "adaptive", *FIT_COLUMNS, "coefficient", "value_at_max", "fit", *LAW_COLUMNS, LINE]
    rows = measured(frame, metric)
    if LINE not in rows:
        rows = rows.assign(**{LINE: line_numbers(rows)})
    names = {m: (law.name if (law := law_of(m)) is not None else None) for m in rows["method"].unique()}
    laws = rows["method"].map(names)  # each method's law looked up once
    rows, laws = rows[laws.notna()], laws[laws.notna()]
    if rows.empty:
        return pd.DataFrame(columns=columns)
    parts = []
    for name in sorted(laws.unique()):
        part = rows[laws == name]
        law = law_of(part["method"].iloc[0])
        depth = law.depth(metric, part["steps"], part["nfe_forward"], part["adaptive"])
        part = part.assign(law_depth=depth)
        table = _numbered_growth(part, metric, "law_depth", objects)
        if table.empty:
            continue
        table["law"] = name
        table["depth_axis"] = [law.unit(metric, bool(a)) for a in table["adaptive"]]
        worst = _worst_deviation(part, table, metric)
        lines = zip(*(table[c].tolist() for c in ("growth", "slope", "depth_max", "depths")), worst, strict=True)
        checks = [_law_check(law.grows, *line) for line in lines]
        table["leaves_law"] = [leaves for leaves, _ in checks]
        table["law_check"] = [text for _, text in checks]
        parts.append(table)
    if not parts:
        return pd.DataFrame(columns=columns)
    return pd.concat(parts, ignore_index=True).reindex(columns=columns)


def _worst_deviation(part: pd.DataFrame, table: pd.DataFrame, metric: str) -> list[float]:
    """Per row of ``table`` (lines fitted from ``part``, both numbered by :data:`LINE`): the largest
    relative distance of a cell of its line from the fit, |value - fit(law_depth)| / |value| (NaN
    where a cell has no law depth)."""
    line = part[LINE]
    intercept = line.map(pd.Series(table["intercept"].to_numpy(float), index=table[LINE].to_numpy()))
    slope = line.map(pd.Series(table["slope"].to_numpy(float), index=table[LINE].to_numpy()))
    value = part[metric].astype(float)
    off = (value - (intercept + slope * part["law_depth"].astype(float))).abs() / np.maximum(value.abs(), 1e-300)
    worst = off.groupby(line).max()
    worst[off.isna().groupby(line).any()] = np.nan  # as numpy's max: a NaN cell makes it NaN
    return [float(v) for v in worst.reindex(table[LINE].to_numpy())]


def _law_check(grows: bool, growth: str, slope: float, depth_max: float, depths: int, worst: float) -> tuple[bool, str]:
    """(leaves the law, why) of one fitted line (its ``growth``, ``slope``, ``depth_max`` and ``depths``
    as :class:`GrowthFit` has them) whose cells lie at most ``worst`` (relative) off it."""
    if not grows:
        if growth == "grows":
            return True, f"a flat law, but it grows by {slope * depth_max:.4g} over its depths"
        return False, f"flat as its law says (growth under {MEASURABLE_GROWTH:.0%})"
    if depths < 3:
        return False, f"{depths} depths: the law is fitted, not checked"
    if worst > LAW_TOLERANCE:
        return True, f"a cell lies {worst:.0%} off the law's straight line"
    return False, f"every cell within {worst:.1%} of the law's straight line"


def fits_table(frame: pd.DataFrame, metrics) -> pd.DataFrame:
    """Every fitted line of ``metrics`` as ``fits.csv`` holds it, one row per (metric, line, depth axis).

    Columns: ``metric, method, solver, workload``, the other line keys (``device, dtype, batch,
    width, dim``), ``depth_axis`` (``steps`` or ``forward NFE``; for memory also a row in the unit
    of the method's law, :func:`law_table`: ``evaluations``, ``segments``, ``steps per segment``),
    ``intercept, slope, slope_low, slope_high, r2, depth_min, depth_max, points`` (intercept in
    the metric's unit, slope in that unit per depth unit), ``share`` (of the value at the deepest
    depth that the slope explains), ``growth`` (``grows`` or ``flat``), then for the law rows ``law``,
    ``leaves_law`` and ``law_check``.
    """
    from neural_ode.reporting.columns import MEMORY_METRICS

    first = ("method", "solver", "workload")
    head = ["metric", *first, *[k for k in LINE_KEYS if k not in first]]
    columns = [*head, "depth_axis", "intercept", "slope", "slope_low", "slope_high", "r2"]
    columns += ["depth_min", "depth_max", "points", "share", "growth", "law", "leaves_law", "law_check"]
    parts = []
    frame = frame.assign(**{LINE: line_numbers(frame)})  # every metric's lines numbered once
    # only the columns a fit reads: each filter below copies what it is given
    read = [*LINE_KEYS, "adaptive", "ok", "depth", "steps", "nfe_forward", "method", LINE, *metrics]
    frame = frame[[c for c in dict.fromkeys(read) if c in frame]]
    for metric in metrics:
        if metric not in frame or not frame[metric].notna().any():
            continue
        table = _numbered_growth(frame, metric, "depth", objects=False)
        table = table.assign(metric=metric, depth_axis=np.where(table["adaptive"], "forward NFE", "steps"))
        if metric in MEMORY_METRICS:
            laws = _numbered_laws(frame, metric, objects=False).assign(metric=metric)
            # a law fitted in steps or forward NFE is the same fit as the plain row: keep the law's row only
            same = laws[laws["depth_axis"].to_numpy() == np.where(laws["adaptive"], "forward NFE", "steps")]
            table = table[~table[LINE].isin(same[LINE])]
            parts.append(laws)
        parts.append(table)
    parts = [part for part in parts if len(part)]
    if not parts:
        return pd.DataFrame(columns=columns)
    return pd.concat(parts, ignore_index=True).reindex(columns=columns)
