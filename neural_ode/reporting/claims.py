"""The paper's claims beside what a run measured, each with a verdict.

The claims (Chen et al. 2018, Table 1 and Figure 3c):

* adjoint (ODE-Net) memory is O(1) in depth: growth exponent below :data:`FLAT_EXPONENT`;
* direct backpropagation (RK-Net) memory is O(L̃): exponent within :data:`LINEAR_BAND`;
* time is O(L̃) for both: exponent of forward+backward time within :data:`LINEAR_BAND`;
* the backward pass takes about half the NFE of the forward pass: median ratio
  backward/forward NFE of the adjoint methods' adaptive cells within :data:`HALF_BAND`.

Depth L̃ is steps for fixed-grid solvers and forward NFE for adaptive ones
(:mod:`neural_ode.reporting.columns`). A method counts as an adjoint when its name contains
``adjoint`` and as direct backpropagation when it is ``direct``; other methods are not judged.
Verdicts: ``holds`` (every line agrees), ``mixed`` (some do), ``does not hold`` (none does),
``not measured`` (the run lacks the cells: no line with two depths, or no adaptive adjoint cell).
Lines whose fit has R² below :data:`NOISY_R2` are named as noisy (timings on a busy machine).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from neural_ode.reporting.columns import MEMORY_METRICS, has_data, line_label, measured, varying
from neural_ode.reporting.growth import FLAT_EXPONENT, growth_table

#: exponents counted as linear growth, O(L̃)
LINEAR_BAND = (0.8, 1.2)
#: backward/forward NFE ratios counted as "about half"
HALF_BAND = (0.35, 0.65)
#: a log-log fit with R² below this is flagged as noisy beside its exponent
NOISY_R2 = 0.9

HOLDS, MIXED, FAILS, NOT_MEASURED = "holds", "mixed", "does not hold", "not measured"


@dataclass(frozen=True)
class Claim:
    """One claim of the paper and where it is made."""

    key: str
    statement: str
    source: str


CLAIMS = {
    c.key: c
    for c in (
        Claim("adjoint_memory", "adjoint (ODE-Net) memory is O(1) in depth", "Table 1"),
        Claim("direct_memory", "direct backpropagation (RK-Net) memory is O(L̃)", "Table 1"),
        Claim("time", "time is O(L̃)", "Table 1"),
        Claim("half_nfe", "backward NFE ≈ ½ forward NFE (adaptive solver)", "Figure 3c"),
    )
}


def method_family(method) -> str | None:
    """``adjoint``, ``direct`` or None (a method the paper's claims do not cover)."""
    if not isinstance(method, str):
        return None
    if method == "direct":
        return "direct"
    return "adjoint" if "adjoint" in method else None


def verdict(passed: list[bool]) -> str:
    """The verdict over lines: every one passed, some did, none did, or there were none."""
    if not passed:
        return NOT_MEASURED
    if all(passed):
        return HOLDS
    return MIXED if any(passed) else FAILS


def _exponent_text(lines: pd.DataFrame, frame: pd.DataFrame) -> str:
    keys = ["method", "solver", *varying(frame, exclude=("method", "solver"))]
    parts = [f"{line_label(row, keys)}: {row['exponent']:.2f}" for row in lines.to_dict("records")]
    low, high = lines["exponent"].min(), lines["exponent"].max()
    span = f"{low:.2f}" if np.isclose(low, high, atol=0.005) else f"{low:.2f} to {high:.2f}"
    text = f"exponent {span} over {len(lines)} line(s) ({'; '.join(parts)})"
    noisy = [line_label(row, keys) for row in lines.to_dict("records") if row["r2"] < NOISY_R2]
    if noisy:
        text += f"; noisy fit (R² < {NOISY_R2}): {', '.join(noisy)}"
    return text


def _growth_row(frame, claim, family, metric, expected, test) -> dict:
    table = growth_table(frame, metric)
    lines = table[table["method"].map(method_family) == family]
    passed = [bool(test(k)) for k in lines["exponent"]]
    measured_text = _exponent_text(lines, frame) if len(lines) else "no line with two or more depths"
    return {
        "claim": claim.statement,
        "source": claim.source,
        "metric": metric,
        "expected": expected,
        "measured": measured_text,
        "verdict": verdict(passed),
    }


def _not_measured(claim: Claim, metric: str, expected: str, why: str) -> dict:
    return {
        "claim": claim.statement,
        "source": claim.source,
        "metric": metric,
        "expected": expected,
        "measured": why,
        "verdict": NOT_MEASURED,
    }


def nfe_ratios(frame: pd.DataFrame) -> pd.DataFrame:
    """Adaptive cells of adjoint methods with their backward/forward NFE ratio (``nfe_ratio``)."""
    rows = measured(frame, "nfe_forward", "nfe_backward")
    rows = rows[rows["adaptive"] & (rows["nfe_forward"] > 0) & (rows["method"].map(method_family) == "adjoint")]
    return rows.assign(nfe_ratio=rows["nfe_backward"] / rows["nfe_forward"])


def claims_table(frame: pd.DataFrame) -> pd.DataFrame:
    """The claims table of a prepared frame: claim, source, metric, expected, measured, verdict."""
    rows = []
    low, high = LINEAR_BAND
    flat = f"exponent < {FLAT_EXPONENT}"
    linear = f"exponent {low}–{high}"
    memory = [m for m in MEMORY_METRICS if has_data(frame, m)]
    for key, family, expected, test in (
        ("adjoint_memory", "adjoint", flat, lambda k: k < FLAT_EXPONENT),
        ("direct_memory", "direct", linear, lambda k: low <= k <= high),
    ):
        if not memory:
            rows.append(_not_measured(CLAIMS[key], "memory", expected, "no memory metric measured"))
        for metric in memory:
            rows.append(_growth_row(frame, CLAIMS[key], family, metric, expected, test))
    for family in ("direct", "adjoint"):
        claim = Claim("time", f"{family}: {CLAIMS['time'].statement}", CLAIMS["time"].source)
        if has_data(frame, "time_total_s"):
            rows.append(_growth_row(frame, claim, family, "time_total_s", linear, lambda k: low <= k <= high))
        else:
            rows.append(_not_measured(claim, "time_total_s", linear, "no forward+backward time measured"))
    # issue 10: the depth claims hold at a fixed number of output times; say which, and judge the outputs axis
    from neural_ode.reporting.outputs_figures import outputs_claims, outputs_condition

    condition = outputs_condition(frame)
    if condition:
        for row in rows:
            if row["claim"] == CLAIMS["adjoint_memory"].statement:
                row["claim"] = f"{row['claim']}, {condition}"
    rows.extend(outputs_claims(frame))
    ratios = nfe_ratios(frame)
    expected = f"median ratio {HALF_BAND[0]}–{HALF_BAND[1]}"
    if ratios.empty:
        rows.append(
            _not_measured(CLAIMS["half_nfe"], "nfe_backward / nfe_forward", expected, "no adaptive adjoint cell")
        )
    for method, cells in ratios.groupby("method", sort=True):
        median = float(cells["nfe_ratio"].median())
        claim = Claim("half_nfe", f"{method}: {CLAIMS['half_nfe'].statement}", CLAIMS["half_nfe"].source)
        rows.append(
            {
                "claim": claim.statement,
                "source": claim.source,
                "metric": "nfe_backward / nfe_forward",
                "expected": expected,
                "measured": (
                    f"median {median:.2f} (range {cells['nfe_ratio'].min():.2f}–{cells['nfe_ratio'].max():.2f})"
                    f" over {len(cells)} adaptive cell(s)"
                ),
                "verdict": HOLDS if HALF_BAND[0] <= median <= HALF_BAND[1] else FAILS,
            }
        )
    return pd.DataFrame(rows, columns=["claim", "source", "metric", "expected", "measured", "verdict"])
