"""The Section 3 claims (the paper's Table 1 and Figure 3, and the reproduction's), checked as data.

:func:`claims_frame` gives one row per claim: the claim with its criterion, the paper's figure,
what was measured here and a verdict from :mod:`neural_ode.reporting.claims.verdicts`.
"""

from __future__ import annotations

import math

import pandas as pd

from neural_ode.apps.training.results import TrainingResults
from neural_ode.apps.training.stats import difference_se
from neural_ode.apps.training.table1 import table1_frame
from neural_ode.reporting import (
    DOES_NOT_HOLD,
    HOLDS,
    NOT_ENOUGH_EVIDENCE,
    NOT_MEASURED,
    NOT_SIGNIFICANTLY_DIFFERENT,
)

#: test errors "match" when they differ by at most this many standard errors of the difference
MATCH_STANDARD_ERRORS = 2.0
#: backward/forward NFE ratios up to this count as "about half" (the paper's Figure 3c)
HALF_RATIO_MAX = 0.6


def _find_run(
    runs: pd.DataFrame,
    model: str,
    solver: str | None = None,
    method_prefix: str | None = None,
    optimizer: str = "adam",
):
    """The run of ``model`` (and solver, method, optimizer) that claims are checked on, None if there is none."""
    rows = runs[runs["config_model"] == model]
    if "config_optimizer" in rows:
        rows = rows[rows["config_optimizer"] == optimizer]
    if solver is not None:
        rows = rows[rows["config_solver"] == solver]
    if method_prefix is not None:
        rows = rows[rows["config_method"].astype(str).str.startswith(method_prefix)]
    if rows.empty:
        return None
    finished = rows[rows["status"] == "ok"]  # a finished run speaks for the model before a failed one
    return (finished if len(finished) else rows).iloc[0]["run"]


class _Claims:
    """The claims found so far, and the comparisons they are checked by, over one Table 1 frame."""

    def __init__(self, table: pd.DataFrame) -> None:
        self.table = table
        self.rows: list[dict] = []

    def add(self, claim: str, paper: str, measured: str, verdict: str) -> None:
        """Record one claim with what was measured and its verdict."""
        self.rows.append({"claim": claim, "paper": paper, "measured": measured, "verdict": verdict})

    def value(self, run, column):
        """The Table 1 value of ``run`` in ``column``, None when the run or the value is missing."""
        if run is None or run not in self.table.index:
            return None
        v = self.table.loc[run, column]
        return None if v is None or (isinstance(v, float) and math.isnan(v)) else v

    def error_difference(self, a, b):
        """(difference in points, its standard error in points, text), or None when not measured."""
        ea, eb = self.value(a, "test_error_pct"), self.value(b, "test_error_pct")
        na, nb = self.value(a, "test_images"), self.value(b, "test_images")
        if None in (ea, eb, na, nb):
            return None
        se = 100 * difference_se(ea / 100, int(na), eb / 100, int(nb))
        text = (
            f"{self.table.loc[a, 'model']} {ea:.2f}% vs {self.table.loc[b, 'model']} {eb:.2f}%: "
            f"{ea - eb:+.2f} ± {se:.2f} points ({int(na)} and {int(nb)} test images)"
        )
        return ea - eb, se, text

    def same_error(self, claim, paper, a, b) -> None:
        """The claim that runs ``a`` and ``b`` err alike: ``not significantly different`` when the difference
        lies within the standard errors (no confirmation of equality at this many test images), else
        ``does not hold``."""
        found = self.error_difference(a, b)
        if found is None:
            return self.add(claim, paper, "a run is missing or has no finished epoch", NOT_MEASURED)
        difference, se, text = found
        verdict = NOT_SIGNIFICANTLY_DIFFERENT if abs(difference) <= MATCH_STANDARD_ERRORS * se else DOES_NOT_HOLD
        self.add(claim, paper, text, verdict)

    def worse(self, claim, paper, a, b) -> None:
        """The claim that run ``a`` errs more than ``b`` (beyond the standard errors)."""
        found = self.error_difference(a, b)
        if found is None:
            return self.add(claim, paper, "a run is missing or has no finished epoch", NOT_MEASURED)
        difference, se, text = found
        bound = MATCH_STANDARD_ERRORS * se
        verdict = HOLDS if difference > bound else DOES_NOT_HOLD if difference < -bound else NOT_ENOUGH_EVIDENCE
        self.add(claim, paper, text, verdict)


def claims_frame(results: TrainingResults) -> pd.DataFrame:
    """The paper's (and the reproduction's) claims, each with what was measured and a verdict."""
    claims = _Claims(table1_frame(results).set_index("run"))
    runs = results.runs
    resnet6, resnet1 = _find_run(runs, "resnet6"), _find_run(runs, "resnet1")
    rknet = _find_run(runs, "rknet")
    odenet = _find_run(runs, "odenet", "dopri5", "adjoint") or _find_run(runs, "odenet")
    _accuracy_claims(claims, runs, odenet, resnet6, resnet1, rknet)
    _memory_claims(claims.add, claims.value, odenet, rknet, resnet6, resnet1)
    _nfe_claims(claims.add, results, odenet)
    _optimiser_claims(claims, runs, odenet)
    return pd.DataFrame(claims.rows, columns=["claim", "paper", "measured", "verdict"])


def _accuracy_claims(claims: _Claims, runs, odenet, resnet6, resnet1, rknet) -> None:
    criterion = f"(within {MATCH_STANDARD_ERRORS:g} standard errors)"
    claims.same_error(f"ODE-Net matches ResNet's test error {criterion}", "0.42% vs 0.41%", odenet, resnet6)
    claims.same_error(f"RK-Net matches ODE-Net's test error {criterion}", "0.47% vs 0.42%", rknet, odenet)
    claims.same_error(
        f"ResNet with 1 block matches ODE-Net, as in the reproduction {criterion}",
        "similar (reproduction)",
        resnet1,
        odenet,
    )
    claims.worse(
        f"The 1-layer MLP errs more than ResNet (by over {MATCH_STANDARD_ERRORS:g} standard errors)",
        "1.60% vs 0.41%",
        _find_run(runs, "mlp"),
        resnet6,
    )
    p_ode, p_res = claims.value(odenet, "params"), claims.value(resnet6, "params")
    if p_ode and p_res:
        ratio = p_ode / p_res
        claims.add(
            "ODE-Net needs fewer parameters than ResNet (under half)",
            "0.22 M vs 0.60 M (0.37x)",
            f"{p_ode:,.0f} vs {p_res:,.0f} ({ratio:.2f}x)",
            HOLDS if ratio < 0.5 else DOES_NOT_HOLD,
        )


def _optimiser_claims(claims: _Claims, runs, odenet) -> None:
    adams = _find_run(runs, "odenet", "implicit_adams")
    claim = (
        "With Adam, implicit_adams trains as well as dopri5, as in the reproduction "
        f"(within {MATCH_STANDARD_ERRORS:g} standard errors)"
    )
    paper = "unstable with the first optimiser; stable with Adam + adaptive lr"
    status = runs.set_index("run")["status"].get(adams) if adams is not None else None
    if status is not None and status != "ok":
        claims.add(claim, paper, f"diverged: {status}", DOES_NOT_HOLD)
    else:
        claims.same_error(claim, paper, adams, odenet)
    sgd = _find_run(runs, "odenet", "implicit_adams", optimizer="sgd")
    if sgd is not None:
        claim = (
            "With SGD, implicit_adams trains worse than with Adam or diverges, as in the reproduction "
            f"(worse by over {MATCH_STANDARD_ERRORS:g} standard errors)"
        )
        status = runs.set_index("run")["status"].get(sgd)
        if status != "ok":
            claims.add(claim, paper, f"{claims.table.loc[sgd, 'model']} diverged: {status}", HOLDS)
        else:
            claims.worse(claim, paper, sgd, adams)


def _memory_claims(add, value, odenet, rknet, resnet6, resnet1) -> None:
    s_ode, s_rk = value(odenet, "saved_for_backward_mb"), value(rknet, "saved_for_backward_mb")
    if s_ode is None or s_rk is None:
        add("ODE-Net stores less for backward than RK-Net", "O(1) vs O(L̃)", "a run has no memory probe", NOT_MEASURED)
    else:
        nfe_rk = value(rknet, "nfe_forward") or float("nan")
        add(
            "ODE-Net stores less for backward than RK-Net",
            "O(1) vs O(L̃)",
            f"{s_ode:.1f} MB vs {s_rk:.1f} MB (RK-Net: {nfe_rk:.0f} evaluations stored)",
            HOLDS if s_ode < s_rk else DOES_NOT_HOLD,
        )
    m_ode, m_rk = value(odenet, "peak_memory_mb"), value(rknet, "peak_memory_mb")
    if m_ode is not None and m_rk is not None:
        measured = f"{m_ode:.1f} MB vs {m_rk:.1f} MB"
        nfe_rk = value(rknet, "nfe_forward")
        if s_ode is not None and s_rk is not None and nfe_rk and s_rk > s_ode:
            # RK-Net stores each evaluation: the peak grows by about this much per evaluation
            per_eval = (s_rk - s_ode) / nfe_rk
            break_even = nfe_rk + (m_ode - m_rk) / per_eval
            measured += (
                f"; RK-Net stores {per_eval:.2f} MB per evaluation, so direct backpropagation would reach "
                f"ODE-Net's peak at about {break_even:.0f} evaluations"
            )
        verdict = HOLDS if m_ode < m_rk else DOES_NOT_HOLD
        add("ODE-Net's peak memory is below RK-Net's", "O(1) vs O(L̃)", measured, verdict)
    s6, s1 = value(resnet6, "saved_for_backward_mb"), value(resnet1, "saved_for_backward_mb")
    if s6 is not None and s1 is not None:
        per_block = (s6 - s1) / 5
        add(
            "ResNet's memory grows with its depth",
            "O(L)",
            f"6 blocks {s6:.1f} MB vs 1 block {s1:.1f} MB saved: +{per_block:.2f} MB per block",
            HOLDS if per_block > 0 else DOES_NOT_HOLD,
        )


def _nfe_claims(add, results: TrainingResults, odenet) -> None:
    iterations = results.iterations
    tolerance = results.tolerance
    if odenet is None:
        add("NFE checks of Figure 3", "", "no ODE-Net run", NOT_MEASURED)
        return
    sweep = tolerance[tolerance["run"] == odenet].sort_values("tolerance", ascending=False)
    if len(sweep) >= 2:
        nfe_up = bool((sweep["nfe_forward"].diff().dropna() >= 0).all())
        err_down = bool((sweep["numerical_error"].diff().dropna() <= 0).all())
        add(
            "Tighter tolerance: more forward NFE, smaller numerical error (Fig. 3a)",
            "NFE grows, error falls",
            "NFE "
            + " -> ".join(f"{v:.0f}" for v in sweep["nfe_forward"])
            + "; error "
            + " -> ".join(f"{v:.1e}" for v in sweep["numerical_error"])
            + f" (tol {sweep['tolerance'].iloc[0]:.0e} -> {sweep['tolerance'].iloc[-1]:.0e})",
            HOLDS if nfe_up and err_down else DOES_NOT_HOLD,
        )
        rho = sweep["nfe_forward"].corr(sweep["time_forward_s"], method="spearman")
        add(
            "Forward wall time grows with forward NFE (Fig. 3b)",
            "time proportional to NFE",
            f"Spearman rho {rho:.2f} over the tolerance sweep; "
            + ", ".join(f"{n:.0f} NFE {1000 * t:.0f} ms" for n, t in zip(sweep["nfe_forward"], sweep["time_forward_s"]))
            if not math.isnan(rho)
            else "NFE did not vary",
            HOLDS if rho > 0.5 else DOES_NOT_HOLD,
        )
    else:
        add("Tighter tolerance: more NFE, smaller error (Fig. 3a)", "", "no tolerance sweep", NOT_MEASURED)
    its = iterations[iterations["run"] == odenet]
    its = its[its["nfe_forward"] > 0]
    if len(its) and (its["nfe_backward"] > 0).any():
        ratio = (its["nfe_backward"] / its["nfe_forward"]).median()
        add(
            f"Backward NFE is about half the forward NFE (Fig. 3c; ratio <= {HALF_RATIO_MAX})",
            "about 1/2",
            f"median backward/forward {ratio:.2f} over {len(its)} iterations "
            f"({its['nfe_backward'].median():.0f} vs {its['nfe_forward'].median():.0f})",
            HOLDS if ratio <= HALF_RATIO_MAX else DOES_NOT_HOLD,
        )
    epochs = results.epochs[results.epochs["run"] == odenet]
    if len(epochs) >= 2:
        first, last = epochs["nfe_forward"].iloc[0], epochs["nfe_forward"].iloc[-1]
        back_first, back_last = epochs["nfe_backward"].iloc[0], epochs["nfe_backward"].iloc[-1]
        add(
            "Forward NFE grows during training (Fig. 3d)",
            "grows",
            f"forward {first:.1f} in epoch 1, {last:.1f} in epoch {len(epochs)} per iteration "
            f"(backward {back_first:.1f} -> {back_last:.1f})",
            HOLDS if last > first else DOES_NOT_HOLD,
        )
