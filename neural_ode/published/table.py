"""Against published results: each row a published claim, its source and number, and ours beside it.

Every row says what we measured it on (the cells behind it, and whether the fields were trained),
so a "not reproduced" reads as "not reproduced on these workloads", never as a refutation. Rows
measured from a results frame (a sweep's ``results.jsonl``, e.g. the ``validation`` preset) use
only cells that differ in nothing but what the row compares (:func:`neural_ode.axes.line_keys`);
the joint-step row is counted here (:mod:`neural_ode.published.joint`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from neural_ode.axes import identity
from neural_ode.published import joint
from neural_ode.reporting.claims.lines import HALF_BAND, method_family
from neural_ode.reporting.columns import measured

REPRODUCED, NOT_REPRODUCED, NOT_MEASURED = "reproduced", "not reproduced here", "not measured"
COLUMNS = ["claim", "source", "published", "ours", "measured on", "verdict"]


@dataclass(frozen=True)
class Published:
    """One published claim: what it says, where, its number, and how we measure ours."""

    claim: str
    source: str
    published: str
    measure: Callable[[pd.DataFrame], tuple[str, str, str]]  # frame -> (ours, measured on, verdict)
    trains: bool = False  # the row trains models to measure (seconds to minutes): skipped when asked


def _trained(rows: pd.DataFrame) -> str:
    """The workloads of ``rows``, each said trained or untrained (a staged one: at which stages)."""
    from neural_ode.workloads import WORKLOADS

    parts = []
    for name in sorted(rows["workload"].dropna().unique()):
        if getattr(WORKLOADS.get(name), "trained", False):
            parts.append(f"{name} (trained)")
            continue
        stages = sorted(int(s) for s in _stage(rows[rows["workload"] == name]).unique())
        fitted = [s for s in stages if s > 0]
        if not fitted:
            parts.append(f"{name} (untrained)")
        else:
            shown = ", ".join(map(str, fitted))
            parts.append(f"{name} (trained: stage{'s' if len(fitted) > 1 else ''} {shown}"
                         + ("; stage 0 untrained)" if 0 in stages else ")"))  # fmt: skip
    return ", ".join(parts)


def _stage(rows: pd.DataFrame) -> pd.Series:
    """The rows' training stage (0 where a results file predates the axis)."""
    return rows["stage"].fillna(0).astype(int) if "stage" in rows else pd.Series(0, index=rows.index)


def _staged(rows: pd.DataFrame, suffix: str = "") -> pd.DataFrame:
    """The rows of workloads with training stages (the trained cnf and latent fields and their initialisations)."""
    from neural_ode.workloads import WORKLOADS

    staged = rows[f"workload{suffix}"].map(lambda name: getattr(WORKLOADS.get(name), "stages", 0) > 0)
    return rows[staged.astype(bool)]


def _by_stage(rows: pd.DataFrame, ratio: pd.Series, stage: pd.Series) -> str:
    """``at rtol 1e-05, cnf: 1.00, 0.93, 0.90, 0.88 at stages 0, 1, 2, 3 (forward NFE 20, 74, 110, 122)``:
    the median ratio per workload and stage at the tightest tolerance (where the trained stages need
    the most evaluations), with each stage's forward NFE there."""
    table = pd.DataFrame({"workload": rows["workload"].to_numpy(), "stage": stage.to_numpy(),
                          "ratio": ratio.to_numpy(), "nfe": rows["nfe_forward"].to_numpy(),
                          "rtol": rows["rtol"].to_numpy()})  # fmt: skip
    table = table[table["rtol"] == table["rtol"].min()]
    parts = []
    for workload, cells in table.groupby("workload", sort=True):
        by = cells.groupby("stage")
        medians, nfe = by["ratio"].median(), by["nfe"].median()
        parts.append(f"{workload}: {', '.join(f'{v:.2f}' for v in medians)} at stages "
                     f"{', '.join(str(s) for s in medians.index)} (forward NFE "
                     f"{', '.join(str(int(n)) for n in nfe)})")  # fmt: skip
    return f"at rtol {table['rtol'].min():g}, " + "; ".join(parts)


def _paired(frame: pd.DataFrame, method_a: str, method_b: str) -> pd.DataFrame:
    """Cells of ``method_a`` beside the cell of ``method_b`` that differs only in the method."""
    keys = [k for k in identity() if k in frame and k != "method"]
    rows = measured(frame)
    a, b = rows[rows["method"] == method_a], rows[rows["method"] == method_b]
    return a.merge(b, on=keys, suffixes=("_a", "_b"))


def _seminorm(frame: pd.DataFrame) -> tuple[str, str, str]:
    """The seminorm's backward NFE over the plain adjoint's, judged on the trained stages of the
    staged fields (cnf, latent) where the frame has them (the paper's trained CNFs and latent
    ODEs), else on every pair; per stage, so the ratio can be followed along the training."""
    pairs = _paired(frame, "adjoint-seminorm", "adjoint")
    pairs = pairs[pairs["adaptive_a"].astype(bool) & (pairs["nfe_backward_b"] > 0)]
    if pairs.empty:
        return "-", "no adaptive adjoint-seminorm cell beside its adjoint cell", NOT_MEASURED
    ratio = pairs["nfe_backward_a"] / pairs["nfe_backward_b"]
    staged = _staged(pairs)
    stage = _stage(staged)
    trained = staged[stage > 0]
    judged = trained if len(trained) else pairs
    judged_ratio = ratio[judged.index]
    ours = (f"median {np.median(judged_ratio):.2f}x the adjoint's backward NFE (best {judged_ratio.min():.2f}x) "
            f"on {'the trained stages' if len(trained) else 'every pair'}")  # fmt: skip
    if len(staged):
        ours += "; by stage " + _by_stage(staged.rename(columns=lambda c: c.removesuffix("_b")),
                                           ratio[staged.index], stage)  # fmt: skip
    others = pairs.drop(index=staged.index)
    if len(others) and len(trained):
        ours += f"; other fields: median {np.median(ratio[others.index]):.2f}x ({_trained(others)})"
    on = f"{len(judged)} cell pairs on {_trained(judged)}" + (f" ({len(pairs)} pairs in all)" if len(trained) else "")
    return ours, on, REPRODUCED if np.median(judged_ratio) <= 0.7 else NOT_REPRODUCED


def _half(frame: pd.DataFrame) -> tuple[str, str, str]:
    """Backward over forward NFE of the plain adjoint, judged on the trained stages of the staged
    fields where the frame has them (else on every cell with its loss on the final state)."""
    rows = measured(frame, "nfe_forward", "nfe_backward")
    rows = rows[rows["adaptive"] & (rows["nfe_forward"] > 0) & (rows["method"] == "adjoint")]
    staged = _staged(rows)
    stage = _stage(staged)
    trained = staged[stage > 0]
    # elsewhere the paper's loss on the final state: more outputs restart the backward solve
    final = rows[rows["outputs"] == 1]
    judged = trained if len(trained) else final
    if judged.empty:
        return "-", "no adaptive adjoint cell with its loss on the final state (outputs = 1)", NOT_MEASURED
    ratio = rows["nfe_backward"] / rows["nfe_forward"]
    judged_ratio = ratio[judged.index]
    inside = HALF_BAND[0] <= np.median(judged_ratio) <= HALF_BAND[1]
    ours = (f"median backward/forward NFE {np.median(judged_ratio):.2f} ({judged_ratio.min():.2f}–"
            f"{judged_ratio.max():.2f}) on {'the trained stages' if len(trained) else 'the cells'}")  # fmt: skip
    if len(staged):
        ours += "; by stage " + _by_stage(staged, ratio[staged.index], stage)
    others = final.drop(index=staged.index, errors="ignore")
    if len(others) and len(trained):
        ours += f"; other fields (outputs = 1): median {np.median(ratio[others.index]):.2f} ({_trained(others)})"
    outputs = ", ".join(f"{w} {int(o)}" for w, o in judged.groupby("workload")["outputs"].max().items())
    on = (f"{len(judged)} adaptive adjoint cells, forward NFE {int(judged['nfe_forward'].min())}–"
          f"{int(judged['nfe_forward'].max())}, on {_trained(judged)}; output times: {outputs}")  # fmt: skip
    return ours, on, REPRODUCED if inside else NOT_REPRODUCED


def _outputs(frame: pd.DataFrame) -> tuple[str, str, str]:
    from neural_ode.reporting.claims.outputs import outputs_lines

    lines = [(line, cells) for line, cells in outputs_lines(frame, "saved_bytes")
             if method_family(line["method"]) == "adjoint"]  # fmt: skip
    if not lines:
        return "-", "no adjoint line with two or more output counts", NOT_MEASURED
    growth = []
    for _line, cells in lines:
        cells = cells.sort_values("outputs")
        first, last = cells.iloc[0], cells.iloc[-1]
        growth.append((last["saved_bytes"] / first["saved_bytes"], int(first["outputs"]), int(last["outputs"])))
    factor, low, high = max(growth)
    among = f" (largest of {len(growth)} lines)" if len(growth) > 1 else ""
    ours = f"adjoint saved bytes x{factor:.1f} from {low} to {high} output times{among}"
    count = f"{len(lines)} adjoint line" + ("s" if len(lines) != 1 else "")
    return ours, count, REPRODUCED if factor > 1.5 else NOT_REPRODUCED


def _joint(_frame: pd.DataFrame) -> tuple[str, str, str]:
    missing = joint.torchode_missing()
    if missing:
        return "-", missing, NOT_MEASURED
    counts = [joint.step_counts(mu) for mu in joint.MU_MAX]
    ratios = ", ".join(f"{c.joint_over_per_sample:.2f}x (mu 1–{c.mu_max:g})" for c in counts)
    widest = counts[-1]
    ours = (f"joint/per-sample accepted steps {ratios}; torchdiffeq's joint solve {widest.torchdiffeq_joint} "
            f"steps, torchode's joint {widest.torchode_joint}, per sample {widest.per_sample_mean:.1f} on average")
    on = (f"Van der Pol, batch {joint.BATCH}, t in [0, {joint.HORIZON:g}], dopri5, "
          f"rtol = atol = {joint.TOLERANCE:g}, float64")  # fmt: skip
    verdict = REPRODUCED if 3.0 <= widest.joint_over_per_sample <= 5.0 else NOT_REPRODUCED
    return ours, on, verdict


#: the SciMLSensitivity benchmark's save points (its spiral: 2-50-2, t in [0, 1.5], 30 save points)
SCIML_OUTPUTS = 30


def _scimlsensitivity(frame: pd.DataFrame) -> tuple[str, str, str]:
    spiral = frame[(frame["workload"] == "spiral") & (frame["outputs"] == SCIML_OUTPUTS)]
    parts, ratios, cells = [], [], 0
    for other, name in (("aca", "checkpointed (aca)"), ("direct", "backpropagation (direct)")):
        pairs = _paired(spiral, "adjoint", other)
        pairs = pairs[pairs["time_total_s_b"] > 0] if len(pairs) else pairs
        if len(pairs):
            ratio = float(np.median(pairs["time_total_s_a"] / pairs["time_total_s_b"]))
            parts.append(f"{ratio:.2f}x the time of {name}")
            ratios.append(ratio)
            cells += len(pairs)
    if not ratios:
        return "-", f"no spiral cells with {SCIML_OUTPUTS} output times of adjoint beside aca or direct", NOT_MEASURED
    ours = "backsolve (adjoint) takes " + ", ".join(parts) + " (medians, forward + backward)"
    on = f"{cells} cell pairs, spiral with {SCIML_OUTPUTS} output times: {_trained(spiral)}"
    return ours, on, REPRODUCED if max(ratios) < 1.0 else NOT_REPRODUCED


def _ott(_frame: pd.DataFrame) -> tuple[str, str, str]:
    from neural_ode.published import solver_dependence as sd

    models = sd.solver_dependence()
    if not models:
        return "-", "no training run finished", NOT_MEASURED
    parts = [
        f"trained at {m.train_steps} step{'s' if m.train_steps > 1 else ''}: {100 * m.accuracy[m.train_steps]:.1f} % "
        f"with it, {100 * m.accuracy['dopri5']:.1f} % with dopri5 ({-m.drop_points:+.1f} points)"
        for m in models
    ]
    critical = sd.critical_steps(models)
    coarse = models[0]
    parts.append(f"no drop from step size 1/{critical} on" if critical else "every model drops")
    on = (f"ODE-Net (width 32) on the digits, euler at {', '.join(str(m.train_steps) for m in models)} steps "
          "over [0, 1], 8 epochs, seed 0, evaluated on the test split")  # fmt: skip
    verdict = REPRODUCED if coarse.drop_points >= 3 * sd.NO_DROP_POINTS and critical else NOT_REPRODUCED
    return "; ".join(parts), on, verdict


PUBLISHED = (
    Published("the seminorm adjoint needs fewer backward evaluations",
              "Kidger, Chen and Lyons (2021), 'Hey, that's not an ODE', ICML", "median 40 % fewer, up to 62 %",
              _seminorm),
    Published("solving a batch jointly takes more steps than per sample",
              "Lienen and Günnemann (2022), torchode, Van der Pol with spread mu", "up to 4x the steps", _joint),
    Published("backward NFE is about half the forward NFE (adaptive solver)", "Chen et al. (2018), Figure 3c",
              "about 0.5", _half),
    Published("adjoint memory grows with the number of output times (O(1) only in the solver's steps)",
              "torchdiffeq issue 259", "grows (1,000 vs 10 output times on CUDA)", _outputs),
    Published("a model trained at a coarse fixed step loses accuracy with finer solvers",
              "Ott et al. (2021), 'ResNet after all?', ICLR", "accuracy drops beyond a critical step size", _ott,
              trains=True),
    Published("backsolve is the fastest adjoint on the spiral neural ODE (2-50-2, 30 save points)",
              "SciMLSensitivity.jl docs, Benchmarks ('a bunch of adjoint choices on neural ODEs')",
              "about 25 % faster than the other adjoints", _scimlsensitivity),
)  # fmt: skip


def published_table(frame: pd.DataFrame, train: bool = True) -> pd.DataFrame:
    """One row per :data:`PUBLISHED` claim, our figure from the prepared ``frame`` beside the published one
    (``train``: False skips the rows that train models)."""
    rows = []
    for entry in PUBLISHED:
        if entry.trains and not train:
            ours, on, verdict = "-", "skipped: --no-training", NOT_MEASURED
        else:
            ours, on, verdict = entry.measure(frame)
        rows.append({"claim": entry.claim, "source": entry.source, "published": entry.published, "ours": ours,
                     "measured on": on, "verdict": verdict})  # fmt: skip
    return pd.DataFrame(rows, columns=COLUMNS)
