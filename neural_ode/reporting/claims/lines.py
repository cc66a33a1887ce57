"""Judging one line of cells: does a figure stay flat or grow with depth, and how sure are we.

The pieces every claim shares (:mod:`neural_ode.reporting.claims.paper` for depth and NFE,
:mod:`neural_ode.reporting.claims.outputs` for output times): thresholds, the verdict of a line
from its affine growth fit, and what a verdict was measured on.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from neural_ode.reporting.claims.growth import fit_growth
from neural_ode.reporting.claims.verdicts import DOES_NOT_HOLD as FAILS
from neural_ode.reporting.claims.verdicts import FLAT, GROWS, HOLDS, MIXED
from neural_ode.reporting.claims.verdicts import NOT_ENOUGH_EVIDENCE as NOT_ENOUGH

#: backward/forward NFE ratios counted as "about half"
HALF_BAND = (0.35, 0.65)
#: growth over the measured depths below this fraction of the intercept counts as flat
FLAT_FRACTION = 0.05
#: a growing line must be explained by a straight line at least this well
MIN_R2 = 0.9
#: a timing whose interquartile range exceeds this fraction of its median is noisy
NOISY_IQR = 0.10
#: a time line with more than this share of noisy (or contended) cells gets no verdict
MAX_NOISY_SHARE = 0.25
#: distinct depths a noisy figure (time, RSS) needs; exact byte counts need two
MIN_NOISY_DEPTHS = 3
#: metrics measured exactly (the same in every run): two depths decide them
EXACT_METRICS = ("saved_bytes", "cpu_peak_bytes", "cuda_peak_bytes")
#: adaptive solves shorter than this (forward NFE) cannot show the backward/forward NFE ratio
MIN_HALF_NFE = 50
#: what every verdict is measured on besides its cells
UNTRAINED = "untrained (randomly initialised) field"


def method_family(method) -> str | None:
    """The ``family`` a method's class declares (``direct``, ``adjoint``, ``checkpointing``), or None."""
    from neural_ode.methods import METHODS

    if not isinstance(method, str) or method not in METHODS:
        return None
    return getattr(METHODS[method], "family", None)


def verdict(passed: list[bool]) -> str:
    """The claim's verdict over decided lines: every one agrees, some do, none does, or none decided."""
    if not passed:
        return NOT_ENOUGH
    if all(passed):
        return HOLDS
    return MIXED if any(passed) else FAILS


def _noisy(cells: pd.DataFrame) -> np.ndarray:
    """Per cell: its forward or backward IQR is wide, or it ran on a contended machine."""
    noisy = np.zeros(len(cells), dtype=bool)
    for phase in ("forward", "backward"):
        median, iqr = f"time_{phase}_s", f"time_{phase}_iqr_s"
        if median in cells and iqr in cells:
            noisy |= (cells[iqr] > NOISY_IQR * cells[median]).fillna(False).to_numpy(dtype=bool)
    if "contended" in cells:
        noisy |= cells["contended"].map(lambda v: v is True or v == 1).to_numpy(dtype=bool)
    return noisy


def line_verdict(
    fit, metric: str, cells: pd.DataFrame | None = None, exact: bool | None = None, noisy_share: float | None = None
) -> tuple[str, str]:
    """(``grows linearly`` | ``flat`` | ``not enough evidence``, the reason) of one fitted line.

    ``exact``: the figure is the same in every run (default: ``metric`` is one of
    :data:`EXACT_METRICS`); then two depths decide it, otherwise :data:`MIN_NOISY_DEPTHS`.
    ``noisy_share`` (or ``cells``, from which it is computed): the share of the line's cells with
    noisy timings; a time line above :data:`MAX_NOISY_SHARE` gets no verdict.
    """
    exact = metric in EXACT_METRICS if exact is None else exact
    if fit is None:
        return NOT_ENOUGH, "fewer than two depths"
    if not exact and fit.depths < MIN_NOISY_DEPTHS:
        return NOT_ENOUGH, f"{fit.depths} depths (a noisy figure needs {MIN_NOISY_DEPTHS})"
    if noisy_share is None and cells is not None and len(cells):
        noisy_share = float(_noisy(cells).mean())
    if metric.startswith("time") and noisy_share is not None and noisy_share > MAX_NOISY_SHARE:
        return NOT_ENOUGH, (
            f"timings noisy: {noisy_share:.0%} of the cells have an IQR above {NOISY_IQR:.0%} of the median "
            "or ran on a contended machine"
        )
    scale = max(abs(fit.intercept), abs(fit.predict(fit.depth_max)), 1e-300)
    span = fit.depth_max
    if fit.flat_within(FLAT_FRACTION):
        return FLAT, f"slope ≤ {fit.slope_high:.3g} per depth unit: < {FLAT_FRACTION:.0%} change over the range"
    if fit.slope_low > 0 and fit.slope * span > FLAT_FRACTION * scale:
        if fit.r2 >= MIN_R2 or np.isnan(fit.r2):
            return GROWS, f"slope {fit.slope:.3g} ({fit.slope_low:.3g} to {fit.slope_high:.3g}) per depth unit"
        return NOT_ENOUGH, f"grows, but a straight line explains it poorly (R² {fit.r2:.2f})"
    return NOT_ENOUGH, f"slope {fit.slope:.3g} ({fit.slope_low:.3g} to {fit.slope_high:.3g}) cannot be told"


def stable_line_verdict(depth, value, metric: str, exact: bool, noisy=None) -> tuple[str, str]:
    """:func:`line_verdict` of one line (arrays of depths, values and noisy-timing flags), kept only
    when no line with one cell fewer reads a different decided verdict (a jackknife): a verdict that
    one cell decides is no verdict."""
    depth, value = np.asarray(depth, dtype=float), np.asarray(value, dtype=float)
    noisy = np.zeros(depth.size, dtype=bool) if noisy is None else np.asarray(noisy, dtype=bool)
    share = float(noisy.mean()) if noisy.size else 0.0
    label, reason = line_verdict(fit_growth(depth, value), metric, exact=exact, noisy_share=share)
    if label == NOT_ENOUGH:
        return label, reason
    for index in range(depth.size):
        keep = np.arange(depth.size) != index
        other, _ = line_verdict(
            fit_growth(depth[keep], value[keep]), metric, exact=exact, noisy_share=float(noisy[keep].mean())
        )
        if other not in (label, NOT_ENOUGH):
            return NOT_ENOUGH, f"depends on one cell: {label}, but {other} without the cell at depth {depth[index]:g}"
    return label, reason


def field_state(workloads, stages=None) -> str:
    """Whether the fields behind ``workloads`` were trained (a workload's ``trained``, or a training
    ``stage`` above 0 of a staged one: ``stages`` beside ``workloads``), readably."""
    from neural_ode.workloads import workload_of

    if stages is not None:  # a staged workload's fitted stages count as trained fields
        fitted: dict[str, set[int]] = {}
        for name, stage in zip(workloads, stages, strict=True):
            if isinstance(stage, int | float) and stage == stage and stage > 0:
                fitted.setdefault(str(name), set()).add(int(stage))
        workloads = [
            f"{name} (stage{'s' if len(fitted[str(name)]) > 1 else ''} "
            f"{', '.join(map(str, sorted(fitted[str(name)])))})"
            if str(name) in fitted and stage and stage == stage and stage > 0 else name
            for name, stage in zip(workloads, stages, strict=True)
        ]  # fmt: skip

    def trained(name: str) -> bool:
        from neural_ode.workloads.trusted import check_workload

        if name.endswith(")"):  # a staged workload at a fitted stage (named above)
            return True
        try:
            check_workload(name)  # a factory named only in a results file is never imported
            return bool(getattr(workload_of(name), "trained", False))
        except Exception:  # noqa: BLE001 - a user's workload no longer importable: say untrained
            return False

    names = sorted({str(w) for w in workloads})
    done = [w for w in names if trained(w)]
    if not done:
        return UNTRAINED
    rest = [w for w in names if w not in done]
    if not rest:
        return f"trained field ({', '.join(done)})"
    return f"{', '.join(done)}: trained field; {', '.join(rest)}: {UNTRAINED}"


def _measured_on(lines: pd.DataFrame) -> str:
    parts = []
    for (workload, solver, adaptive), group in lines.groupby(["workload", "solver", "adaptive"], sort=True):
        unit = "forward NFE" if adaptive else "steps"
        low, high = group["depth_min"].min(), group["depth_max"].max()
        parts.append(f"{workload} · {solver} · {low:g}–{high:g} {unit}")
    stages = lines["stage"] if "stage" in lines else None
    return "; ".join([*parts, field_state(lines["workload"], stages)]) if parts else UNTRAINED


def _line_label(depth, value, metric, exact, noisy) -> str:
    return stable_line_verdict(depth, value, metric, exact, noisy)[0]


def _aggregate(labels: list[str], expected: str) -> str:
    return verdict([label == expected for label in labels if label != NOT_ENOUGH])


def _stable_claim(lines: list[dict], labels: list[str], metric: str, expected: str) -> tuple[str, str | None]:
    """The claim's verdict over ``lines``, withheld (``not enough evidence``, with the reason) when
    leaving any one cell out would give another decided verdict: a claim one cell decides is not decided."""
    full = _aggregate(labels, expected)
    if full == NOT_ENOUGH:
        return full, None
    for i, line in enumerate(lines):
        depth, value, noisy = line["depth"], line["value"], line["noisy"]
        for j in range(depth.size):
            keep = np.arange(depth.size) != j
            label = _line_label(depth[keep], value[keep], metric, line["exact"], noisy[keep])
            other = _aggregate([*labels[:i], label, *labels[i + 1 :]], expected)
            if other not in (full, NOT_ENOUGH):
                return NOT_ENOUGH, (
                    f"verdict withheld: {full} with every cell, {other} without the {line['label']} cell at depth "
                    f"{depth[j]:g}"
                )
    return full, None


