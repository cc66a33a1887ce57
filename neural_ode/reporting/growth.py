"""How a figure grows with depth: least-squares power-law fits on log-log axes.

A *line* is a set of measured cells that differ only in depth (same workload, method, solver,
device, dtype and sizes; see :data:`neural_ode.reporting.columns.LINE_KEYS`). Its growth exponent
``k`` is the slope of ``log(value)`` against ``log(depth)``: value ≈ c · depth**k. Memory of
direct backpropagation should give k ≈ 1 (O(L̃)), the adjoint's k ≈ 0 (O(1)).

Depth is the ``depth`` column of :func:`neural_ode.reporting.columns.prepare`: steps for
fixed-grid solvers, forward NFE for adaptive ones.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from neural_ode.reporting.columns import LINE_KEYS, measured

#: below this exponent a figure counts as flat in depth (O(1))
FLAT_EXPONENT = 0.2


@dataclass(frozen=True)
class GrowthFit:
    """A power law value ≈ coefficient · depth**exponent fitted on log-log axes.

    Attributes:
        exponent: the slope on log-log axes (1: linear in depth, 0: flat).
        coefficient: the fitted value at depth 1, in the unit of the fitted metric.
        r2: coefficient of determination of the log-log fit (1.0 for an exact power law).
        points: number of cells fitted; depths: number of distinct depths among them.
        depth_min, depth_max: the depth range fitted.
    """

    exponent: float
    coefficient: float
    r2: float
    points: int
    depths: int
    depth_min: float
    depth_max: float

    def predict(self, depth: float) -> float:
        """The fitted value at ``depth`` (extrapolated outside the fitted range)."""
        return self.coefficient * depth**self.exponent

    def depth_within(self, budget: float) -> float:
        """The largest depth whose fitted value stays within ``budget`` (inf for a flat line)."""
        if self.exponent < FLAT_EXPONENT:
            return math.inf if self.predict(self.depth_max) <= budget else 0.0
        return (budget / self.coefficient) ** (1.0 / self.exponent)


def fit_growth(depth, value) -> GrowthFit | None:
    """The power-law fit of ``value`` against ``depth``; None without two distinct positive depths.

    Non-finite and non-positive pairs are left out (they have no logarithm).
    """
    depth = np.asarray(depth, dtype=float)
    value = np.asarray(value, dtype=float)
    keep = np.isfinite(depth) & np.isfinite(value) & (depth > 0) & (value > 0)
    depth, value = depth[keep], value[keep]
    if np.unique(depth).size < 2:
        return None
    x, y = np.log(depth), np.log(value)
    exponent, intercept = np.polyfit(x, y, 1)
    residual = float(np.sum((y - (exponent * x + intercept)) ** 2))
    total = float(np.sum((y - y.mean()) ** 2))
    scale = max(1.0, float(np.sum(y**2)))
    if total <= 1e-24 * scale:
        r2 = 1.0 if residual <= 1e-24 * scale else math.nan
    else:
        r2 = 1.0 - residual / total
    exponent = float(exponent)
    if abs(exponent) < 1e-12:
        exponent = 0.0
    return GrowthFit(
        exponent=exponent,
        coefficient=float(np.exp(intercept)),
        r2=r2,
        points=int(depth.size),
        depths=int(np.unique(depth).size),
        depth_min=float(depth.min()),
        depth_max=float(depth.max()),
    )


def growth_table(frame: pd.DataFrame, metric: str, depth: str = "depth") -> pd.DataFrame:
    """One row per line of ``frame`` (a prepared frame) with the growth of ``metric`` in depth.

    Columns: the line keys, ``adaptive``, ``exponent``, ``coefficient``, ``r2``, ``points``,
    ``depths``, ``depth_min``, ``depth_max``, ``value_at_max`` (the mean measured value at the
    deepest depth, in the metric's unit) and ``fit`` (the :class:`GrowthFit`). Lines with fewer
    than two distinct depths are left out.
    """
    columns = [*LINE_KEYS, "adaptive", "exponent", "coefficient", "r2", "points", "depths"]
    columns += ["depth_min", "depth_max", "value_at_max", "fit"]
    rows = measured(frame, depth, metric)
    rows = rows[(rows[depth] > 0) & (rows[metric] > 0)]
    out = []
    keys = [*LINE_KEYS, "adaptive"]
    for values, line in rows.groupby(keys, dropna=False, sort=True):
        fit = fit_growth(line[depth], line[metric])
        if fit is None:
            continue
        deepest = line[line[depth] == fit.depth_max][metric].mean()
        row = dict(zip(keys, values, strict=True))
        row.update(
            exponent=fit.exponent,
            coefficient=fit.coefficient,
            r2=fit.r2,
            points=fit.points,
            depths=fit.depths,
            depth_min=fit.depth_min,
            depth_max=fit.depth_max,
            value_at_max=float(deepest),
            fit=fit,
        )
        out.append(row)
    return pd.DataFrame(out, columns=columns)
