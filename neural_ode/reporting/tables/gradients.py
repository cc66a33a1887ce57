"""The report's section on wrong gradients: cells measured without failure whose gradient is useless,
and the cells whose large gradient error a loose tolerance explains (kept, labelled).

Which cells (:func:`neural_ode.results.trust.judge`), how many, and why: each flagged cell names its
mechanism (``gradient_cause``: stability limit, backsolve drift, loose backward tolerance). For the
stability limit, backpropagation through an explicit adaptive solve differentiates the discrete solve
exactly, and the discrete sensitivities drift because error control never sees them; its numbers and
the remedy's are the independent audit's (MEASURING.md, stiff Van der Pol at mu 1000); the tables
are this report's cells.
"""

from __future__ import annotations

import pandas as pd

from neural_ode.axes import choice_keys, problem_keys
from neural_ode.reporting.columns import measured, wrong_gradients
from neural_ode.results.trust import CAUSES, RULE, STABILITY_LIMIT

#: the mechanism, with the audit's numbers (stiff workload, Van der Pol mu = 1000)
MECHANISM = (
    "Direct backpropagation gives the exact derivative of the discrete solve. On a stiff field an explicit adaptive "
    "solver runs at its stability limit: the audit measured a median per-step amplification of 1.18 for dopri5 on the "
    "stiff workload (Van der Pol, mu 1000). Error control rejects a step when the state's error estimate grows, but it "
    "never looks at the sensitivities, which drift by 5e4 (relative) over the solve while the state stays accurate: "
    "dopri5 at rtol 1e-6 gave gradient error 14 with state error 1.6e-6 (11 in float64, so not round-off), at rtol "
    "1e-3 1.4e4 with state error 2.7e-4. A fixed-step dopri5 at h = 1e-3 (|h λ| about 3.4, the stability limit) "
    "reproduces it (state 1.2e-6, gradient 21); h = 5e-4 gives 4e-15 in both. The step-size choice is not the cause: "
    "torchdiffeq chooses the next step under no_grad."
)
#: the remedy and its cost, with the audit's numbers
REMEDY = (
    "Remedy: put the sensitivities under error control (integrate them inside the controlled state, as forward "
    "sensitivity analysis does): in the audit 788 evaluations instead of 758 (+4 %) gave gradient error 3e-6. "
    "A fixed grid below the stability limit (rk4, 4,000 steps on t1 = 0.1) gave 1.4e-5 in the committed "
    "applications sweep, at 16,000 evaluations (21x dopri5's)."
)


def wrong_gradient_table(frame: pd.DataFrame) -> pd.DataFrame:
    """One row per flagged cell: its problem and choice, NFE, solution and gradient error and their ratio."""
    rows = wrong_gradients(frame)
    if rows.empty:
        return pd.DataFrame()
    keys = [k for k in dict.fromkeys([*problem_keys(), *choice_keys()]) if k in rows and rows[k].notna().any()]
    keys = [k for k in keys if k == "workload" or rows[k].astype(str).nunique() > 1 or k in ("method", "solver")]
    table = rows[keys].copy()
    table["forward NFE"] = rows["nfe_forward"]
    table["solution error"] = rows["sol_rel_error"]
    table["gradient error"] = rows["grad_rel_error"]
    table["gradient / solution error"] = rows["grad_rel_error"] / rows["sol_rel_error"]
    table["cause"] = rows["gradient_cause"] if "gradient_cause" in rows else None
    return table.sort_values([k for k in ("workload", "method", "solver", "horizon", "rtol") if k in table])


def loose_gradient_table(frame: pd.DataFrame) -> pd.DataFrame:
    """The trusted cells whose gradient error needs explaining (above 1e-2 and 1e3x the solution error) and
    a loose tolerance explains: their problem, choice, errors and cause (they stay in picks and medians)."""
    if "gradient_cause" not in frame:
        return pd.DataFrame()
    kept = frame[frame["ok"] & ~frame["gradient_wrong"].astype(bool) & frame["gradient_cause"].notna()]
    return wrong_gradient_table(kept.assign(gradient_wrong=True)) if len(kept) else pd.DataFrame()


def wrong_gradient_section(frame: pd.DataFrame) -> dict:
    """What the report's *Wrong gradients* section shows: the rule, the counts, the table of flagged
    cells with their causes, the table of kept loose-tolerance cells, what each cause shown means, the
    stiff mechanism's numbers and the remedy (empty tables and zero counts when no cell needs it)."""
    judged = measured(frame, "grad_rel_error")
    flagged = wrong_gradients(frame)
    loose = loose_gradient_table(frame)
    shown = set(flagged.get("gradient_cause", pd.Series(dtype=object)).dropna())
    shown |= set(loose["cause"].dropna()) if len(loose) else set()
    return {
        "loose_gradients": loose,
        "loose_gradient_count": len(loose),
        "gradient_causes": "; ".join(f"**{name}**: {text}" for name, text in CAUSES.items() if name in shown),
        "wrong_gradients": wrong_gradient_table(frame),
        "wrong_gradient_count": len(flagged),
        "wrong_gradient_judged": len(judged),
        "wrong_gradient_rule": RULE,
        # the audit's stiff numbers, where a flagged cell is at a stability limit
        "wrong_gradient_mechanism": MECHANISM if STABILITY_LIMIT in shown else "",
        "wrong_gradient_remedy": REMEDY if STABILITY_LIMIT in shown else "",
    }


__all__ = ["MECHANISM", "REMEDY", "loose_gradient_table", "wrong_gradient_section", "wrong_gradient_table"]
