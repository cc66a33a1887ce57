"""The affine fits of many lines at once: grouped sums over every cell, no loop over lines.

:func:`fit_lines` gives, for every line (cells sharing a line number), the same figures as
:func:`neural_ode.reporting.claims.growth.fit_growth` gives one line (value ≈ intercept + slope ·
depth by ordinary least squares, the slope's two-sided t-interval, R², the descriptive log-log
exponent), from a handful of grouped sums. A history of 100,000 cells holds tens of thousands of
lines; fitting them one by one was the report's slowest step (issue 33). The sums are taken about
each line's means, as :func:`fit_growth` takes them, so the two agree to rounding (a test checks).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

#: the columns of :func:`fit_lines`, in the units of the values and depths fitted
LINE_FIT_COLUMNS = (
    "intercept", "slope", "slope_low", "slope_high", "intercept_se", "slope_se", "residual_se", "r2",
    "exponent", "points", "depths", "depth_min", "depth_max", "value_at_max",
)  # fmt: skip


def fit_lines(line, depth, value, confidence: float) -> pd.DataFrame:
    """Affine fits of ``value`` against ``depth`` per ``line`` (one label per cell), one row per line.

    Cells with a non-finite depth or value, or a depth that is not positive, are left out; lines
    with fewer than two distinct depths are left out. Indexed by line label (sorted); columns
    :data:`LINE_FIT_COLUMNS` (``value_at_max``: the mean value at the deepest depth).
    """
    from scipy import stats

    cells = pd.DataFrame({"line": np.asarray(line), "x": np.asarray(depth, float), "y": np.asarray(value, float)})
    cells = cells[np.isfinite(cells["x"]) & np.isfinite(cells["y"]) & (cells["x"] > 0)]
    by = cells.groupby("line", sort=True)
    out = pd.DataFrame({"points": by.size(), "depths": by["x"].nunique(), "depth_min": by["x"].min(),
                        "depth_max": by["x"].max()})  # fmt: skip
    out = out[out["depths"] >= 2]
    cells = cells[cells["line"].isin(out.index)]
    if cells.empty:
        return pd.DataFrame(columns=LINE_FIT_COLUMNS)
    by = cells.groupby("line", sort=True)
    n = out["points"].astype(float)
    x_mean, y_mean = by["x"].mean(), by["y"].mean()
    dx = cells["x"] - cells["line"].map(x_mean)
    dy = cells["y"] - cells["line"].map(y_mean)
    sums = pd.DataFrame({"line": cells["line"], "xx": dx**2, "xy": dx * dy, "yy": dy**2, "x2": cells["x"] ** 2})
    sums = sums.groupby("line", sort=True).sum()
    slope = sums["xy"] / sums["xx"]
    intercept = y_mean - slope * x_mean
    residuals = cells["y"] - (cells["line"].map(intercept) + cells["line"].map(slope) * cells["x"])
    sse = (residuals**2).groupby(cells["line"]).sum()
    scale = np.maximum(1.0, cells["y"].abs().groupby(cells["line"]).max() ** 2) * n
    exact = sse <= 1e-24 * scale
    sse = sse.where(~exact, 0.0)
    level = exact & (slope.abs() * out["depth_max"] <= 1e-12 * np.maximum(1.0, intercept.abs()))
    slope, intercept = slope.where(~level, 0.0), intercept.where(~level, y_mean)
    r2 = pd.Series(np.where(sums["yy"] <= 1e-24 * scale, np.where(exact, 1.0, np.nan), 1.0 - sse / sums["yy"]),
                   index=out.index)  # fmt: skip
    dof = n - 2
    residual_se = np.sqrt(sse / dof.where(dof > 0)).where(dof > 0, 0.0)
    slope_se = (residual_se / np.sqrt(sums["xx"])).where(dof > 0, 0.0)
    quantile = pd.Series(stats.t.ppf(0.5 + confidence / 2, dof.where(dof > 0, 1.0)), index=out.index)
    half = (quantile * slope_se).where(dof > 0, 0.0)
    out = out.assign(
        intercept=intercept,
        slope=slope,
        slope_low=slope - half,
        slope_high=slope + half,
        intercept_se=slope_se * np.sqrt(sums["x2"] / n),
        slope_se=slope_se,
        residual_se=residual_se,
        r2=r2,
        exponent=_exponents(cells, intercept, slope, slope - half),
        value_at_max=cells[cells["x"] == cells["line"].map(out["depth_max"])].groupby("line")["y"].mean(),
    )
    return out[list(LINE_FIT_COLUMNS)]


def _exponents(cells: pd.DataFrame, intercept: pd.Series, slope: pd.Series, slope_low: pd.Series) -> pd.Series:
    """Per line, the least-squares log-log slope of ``value - intercept`` over depth, on the cells above the
    intercept: 0 where the slope is not above zero, 1 where fewer than two distinct depths lie above it."""
    exponent = pd.Series(0.0, index=slope.index)
    rising = slope.index[(slope > 0) & (slope_low > 0)]
    if len(rising) == 0:
        return exponent
    exponent[rising] = 1.0
    mine = cells[cells["line"].isin(rising)]
    above = mine["y"] - mine["line"].map(intercept)
    mine = mine.assign(lx=np.log(mine["x"]), ly=np.log(above.where(above > 0)))[above.to_numpy() > 0]
    by = mine.groupby("line", sort=True)
    fitted = by["x"].nunique()
    fitted = fitted.index[fitted >= 2]
    mine = mine[mine["line"].isin(fitted)]
    if mine.empty:
        return exponent
    lx = mine["lx"] - mine["line"].map(mine.groupby("line")["lx"].mean())
    ly = mine["ly"] - mine["line"].map(mine.groupby("line")["ly"].mean())
    k = (lx * ly).groupby(mine["line"]).sum() / (lx**2).groupby(mine["line"]).sum()
    exponent[k.index] = k
    return exponent


def derived_columns(fitted: pd.DataFrame, measurable: float) -> dict[str, np.ndarray]:
    """:class:`~neural_ode.reporting.claims.growth.GrowthFit`'s ``share``, ``measurable_exponent`` (as
    ``exponent``), ``growth`` and ``coefficient`` of every line of :func:`fit_lines` at once (the same
    arithmetic as those properties; ``measurable``: the growth share below which a line reads flat)."""
    intercept, slope, deepest = (fitted[c].to_numpy(float) for c in ("intercept", "slope", "depth_max"))
    low, high = fitted["slope_low"].to_numpy(float), fitted["slope_high"].to_numpy(float)
    total = intercept + slope * deepest
    scale = np.maximum(np.maximum(np.abs(intercept), np.abs(total)), 1e-300)
    flat = (high * deepest <= measurable * scale) & (low * deepest >= -measurable * scale)
    grows = (low > 0) & ~flat
    with np.errstate(divide="ignore", invalid="ignore"):
        share = np.where(total > 0, slope * deepest / np.where(total > 0, total, 1.0), np.nan)
    return {
        "share": share,
        "exponent": np.where(grows, fitted["exponent"].to_numpy(float), np.nan),
        "growth": np.where(grows, "grows", "flat").astype(object),
        "coefficient": intercept + slope,
    }


__all__ = ["LINE_FIT_COLUMNS", "derived_columns", "fit_lines"]
