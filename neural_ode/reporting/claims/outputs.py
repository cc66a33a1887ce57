"""The output-times claim: "adjoint memory is O(1) in the number of output times" (torchdiffeq #259).

torchdiffeq's ``odeint_adjoint`` keeps the state at every output time for its backward pass and
restarts its backward solve at each: the adjoint's memory is O(1) in depth only at a fixed number
of output times. :func:`outputs_claims` judges the claim on lines of cells that differ only in
``outputs`` (:func:`outputs_lines`), as the depth claims are judged; the figure
(:mod:`neural_ode.reporting.figures.outputs`) draws the same lines.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from neural_ode.axes import line_keys
from neural_ode.reporting.claims.lines import (
    EXACT_METRICS,
    UNTRAINED,
    _stable_claim,
    method_family,
    stable_line_verdict,
)
from neural_ode.reporting.claims.verdicts import FLAT, NOT_MEASURED
from neural_ode.reporting.columns import MEMORY_METRICS, has_data, line_label, measured, varying

#: what the cells of one outputs line share: every identity axis but the output count
OUTPUTS_LINE_KEYS = line_keys(along=("outputs",))

def outputs_lines(frame: pd.DataFrame, metric: str):
    """(line values, cells) of lines with two or more output counts and ``metric`` measured."""
    if "outputs" not in frame:
        return []
    rows = measured(frame, "outputs", metric)
    rows = rows[(rows["outputs"] > 0) & (rows[metric] > 0)]
    keys = [k for k in OUTPUTS_LINE_KEYS if k in rows]
    lines = []
    for values, cells in rows.groupby(keys, dropna=False, sort=True):
        if cells["outputs"].nunique() >= 2:
            lines.append((dict(zip(keys, values, strict=True)), cells))
    return lines


def line_name(line: dict, frame: pd.DataFrame) -> str:
    """The label of an outputs line: method, solver and every other line axis that varies in ``frame``."""
    shown = ["method", "solver", *varying(frame, keys=OUTPUTS_LINE_KEYS, exclude=("method", "solver"))]
    return line_label(line, shown)


def outputs_claims(frame: pd.DataFrame) -> list[dict]:
    """Claim rows on the outputs axis: is adjoint memory flat in the number of output times?

    Judged as the depth claims are (:mod:`neural_ode.reporting.claims.paper`): each adjoint line's affine
    fit against N reads ``flat`` / ``grows linearly`` / ``not enough evidence`` (a jackknife over its
    cells), and the claim is withheld when leaving one cell out would decide it otherwise.
    """
    statement = "adjoint memory is O(1) in the number of output times (the loss on N states)"
    source = "torchdiffeq #259 (not a claim of the paper)"
    rows = []
    for metric in [m for m in MEMORY_METRICS if has_data(frame, m)]:
        lines, labels, parts, on = [], [], [], []
        for line, cells in outputs_lines(frame, metric):
            if method_family(line["method"]) != "adjoint":
                continue
            depth = cells["outputs"].to_numpy(dtype=float)
            value = cells[metric].to_numpy(dtype=float)
            if np.unique(depth).size < 2:
                continue
            exact = metric in EXACT_METRICS
            noisy = np.zeros(depth.size, dtype=bool)
            label, reason = stable_line_verdict(depth, value, metric, exact, noisy)
            name = line_name(line, frame)
            labels.append(label)
            parts.append(f"{name}: {label} ({reason})")
            lines.append({"depth": depth, "value": value, "noisy": noisy, "exact": exact, "label": name})
            on.append(f"{line['workload']} · {line['solver']} · N = {depth.min():g}–{depth.max():g}")
        if not lines:
            continue
        final, withheld = _stable_claim(lines, labels, metric, FLAT)
        measured_on = "; ".join(dict.fromkeys(on)) + f"; {UNTRAINED}"
        text = f"{len(lines)} line(s): " + "; ".join(parts) + (f"; {withheld}" if withheld else "")
        rows.append(
            {"claim": statement, "source": source, "metric": metric, "expected": FLAT,
             "measured": f"{text} — measured on {measured_on}", "verdict": final, "measured_on": measured_on}
        )  # fmt: skip
    if not rows:
        rows.append(
            {"claim": statement, "source": source, "metric": "memory", "expected": FLAT,
             "measured": "no adjoint line with two or more output counts", "verdict": NOT_MEASURED,
             "measured_on": ""}
        )  # fmt: skip
    return rows


def outputs_condition(frame: pd.DataFrame) -> str:
    """The output-times condition of the depth claims, e.g. ``at 1 output time`` (empty when unknown)."""
    if "outputs" not in frame:
        return ""
    values = sorted(v for v in pd.unique(frame["outputs"].dropna()) if np.isfinite(v))
    if not values:
        return ""
    if len(values) == 1:
        n = int(values[0])
        return (
            f"at {n} output time{'s' if n != 1 else ''} (the loss on {'the final state' if n == 1 else f'{n} states'})"
        )
    return "per number of output times (lines are fitted at a fixed output count; see the outputs figure)"
