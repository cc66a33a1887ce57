"""The Section 3 report: the Table 1 analog, the paper's claims checked, loss curves, Figure 3.

:func:`render_training_report` reads a results folder (:mod:`neural_ode.training.results`) and
writes, beside the result tables:

- ``table1.csv`` (numbers) and ``table1.md`` (formatted): per run, test error, parameters,
  measured peak memory and saved-for-backward bytes, time per epoch, NFE, beside the paper's;
- ``claims.csv``: each claim of the paper's Table 1 and Figure 3 (and the reproduction's), what
  was measured here and whether it holds, by a stated criterion;
- ``loss_curves.png`` and ``figure3.png``;
- ``report.md`` and a self-contained ``report.html`` (figures embedded as base64).
"""

from __future__ import annotations

import base64
import datetime
import math
from pathlib import Path

import jinja2
import pandas as pd

from neural_ode.training.figures import plot_figure3, plot_loss_curves
from neural_ode.training.results import TABLES, TrainingResults, load_results
from neural_ode.training.table1 import PAPER_TABLE1

MIB = 2**20
#: test errors "match" when they differ by at most this many standard errors of the difference
MATCH_STANDARD_ERRORS = 2.0
#: backward/forward NFE ratios up to this count as "about half" (the paper's Figure 3c)
HALF_RATIO_MAX = 0.6

HOLDS, FAILS, INCONCLUSIVE, NOT_MEASURED = "holds", "does not hold", "inconclusive", "not measured"
VERDICTS = (HOLDS, FAILS, INCONCLUSIVE, NOT_MEASURED)


def binomial_se(error: float, images: int) -> float:
    """Standard error of a test error (fraction) measured on ``images`` images: sqrt(p(1-p)/n)."""
    return math.sqrt(error * (1 - error) / images) if images else float("nan")


def difference_se(error_a: float, images_a: int, error_b: float, images_b: int) -> float:
    """Standard error of the difference of two test errors (fractions), pooled (two-proportion test)."""
    pooled = (error_a * images_a + error_b * images_b) / (images_a + images_b)
    return math.sqrt(pooled * (1 - pooled) * (1 / images_a + 1 / images_b))


def _last(frame: pd.DataFrame, column: str):
    values = frame[column].dropna() if column in frame else pd.Series(dtype=float)
    return values.iloc[-1] if len(values) else None


def table1_frame(results: TrainingResults) -> pd.DataFrame:
    """One row per run: measured figures (numbers, units in the column names) beside the paper's."""
    rows = []
    for run in results.runs.itertuples():
        epochs = results.epochs[results.epochs["run"] == run.run]
        paper = PAPER_TABLE1.get(run.config_model)
        peak = _last(epochs, "cuda_peak_bytes")
        peak = _last(epochs, "cpu_peak_bytes") if peak is None else peak
        saved = _last(epochs, "saved_bytes")
        error = _last(epochs, "test_error")
        images = _last(epochs, "test_images")
        ode = pd.notna(run.config_method)
        rows.append(
            {
                "run": run.run,
                "model": run.label,
                "status": run.status,
                "epochs": len(epochs),
                "test_error_pct": None if error is None else 100 * error,
                "test_error_se_pct": None if error is None or not images else 100 * binomial_se(error, int(images)),
                "test_images": images,
                "params": run.params,
                "peak_memory_mib": None if peak is None else peak / MIB,
                "saved_for_backward_mib": None if saved is None else saved / MIB,
                "time_per_epoch_s": epochs["time_epoch_s"].median() if len(epochs) else None,
                "nfe_forward": _last(epochs, "nfe_forward") if ode else None,
                "nfe_backward": _last(epochs, "nfe_backward") if ode else None,
                "paper_test_error_pct": paper.test_error_pct if paper else None,
                "paper_params": paper.params if paper else None,
                "paper_memory": paper.memory if paper else None,
                "paper_time": paper.time if paper else None,
            }
        )
    return pd.DataFrame(rows)


def _fmt(value, pattern: str, missing: str = "—") -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return missing
    return pattern.format(value)


def table1_display(table: pd.DataFrame) -> pd.DataFrame:
    """The Table 1 analog formatted for reading (strings, units in the headers)."""
    return pd.DataFrame(
        {
            "Model": table["model"],
            "Status": table["status"],
            "Test error (± s.e.)": [
                "—" if _fmt(e, "") == "—" else f"{e:.2f}%" + _fmt(se, " ± {:.2f}", "")
                for e, se in zip(table["test_error_pct"], table["test_error_se_pct"], strict=True)
            ],
            "Params": [_fmt(v, "{:,.0f}") for v in table["params"]],
            "Peak memory (MiB)": [_fmt(v, "{:.1f}") for v in table["peak_memory_mib"]],
            "Saved for backward (MiB)": [_fmt(v, "{:.1f}") for v in table["saved_for_backward_mib"]],
            "Time / epoch (s)": [_fmt(v, "{:.1f}") for v in table["time_per_epoch_s"]],
            "NFE fwd / bwd": [
                "—" if _fmt(f, "") == "—" else f"{f:.1f} / {b:.1f}"
                for f, b in zip(table["nfe_forward"], table["nfe_backward"], strict=True)
            ],
            "Paper: test error": [_fmt(v, "{:.2f}%") for v in table["paper_test_error_pct"]],
            "Paper: params": [_fmt(v / 1e6 if v else v, "{:.2f} M") for v in table["paper_params"]],
            "Paper: memory": [_fmt(v, "{}") for v in table["paper_memory"]],
            "Paper: time": [_fmt(v, "{}") for v in table["paper_time"]],
        }
    )


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


def claims_frame(results: TrainingResults) -> pd.DataFrame:
    """The paper's (and the reproduction's) claims, each with what was measured and a verdict."""
    table = table1_frame(results).set_index("run")
    runs = results.runs
    resnet6, resnet1 = _find_run(runs, "resnet6"), _find_run(runs, "resnet1")
    rknet, mlp = _find_run(runs, "rknet"), _find_run(runs, "mlp")
    odenet = _find_run(runs, "odenet", "dopri5", "adjoint") or _find_run(runs, "odenet")
    adams = _find_run(runs, "odenet", "implicit_adams")
    claims = []

    def add(claim: str, paper: str, measured: str, verdict: str) -> None:
        claims.append({"claim": claim, "paper": paper, "measured": measured, "verdict": verdict})

    def value(run, column):
        if run is None or run not in table.index:
            return None
        v = table.loc[run, column]
        return None if v is None or (isinstance(v, float) and math.isnan(v)) else v

    def error_difference(a, b):
        """(difference in points, its standard error in points, text), or None when not measured."""
        ea, eb = value(a, "test_error_pct"), value(b, "test_error_pct")
        na, nb = value(a, "test_images"), value(b, "test_images")
        if None in (ea, eb, na, nb):
            return None
        se = 100 * difference_se(ea / 100, int(na), eb / 100, int(nb))
        text = (
            f"{table.loc[a, 'model']} {ea:.2f}% vs {table.loc[b, 'model']} {eb:.2f}%: "
            f"{ea - eb:+.2f} ± {se:.2f} points ({int(na)} and {int(nb)} test images)"
        )
        return ea - eb, se, text

    def compare_errors(claim, paper, a, b):
        found = error_difference(a, b)
        if found is None:
            return add(claim, paper, "a run is missing or has no finished epoch", NOT_MEASURED)
        difference, se, text = found
        add(claim, paper, text, HOLDS if abs(difference) <= MATCH_STANDARD_ERRORS * se else FAILS)

    def worse(claim, paper, a, b):
        found = error_difference(a, b)
        if found is None:
            return add(claim, paper, "a run is missing or has no finished epoch", NOT_MEASURED)
        difference, se, text = found
        bound = MATCH_STANDARD_ERRORS * se
        add(claim, paper, text, HOLDS if difference > bound else FAILS if difference < -bound else INCONCLUSIVE)

    criterion = f"(within {MATCH_STANDARD_ERRORS:g} standard errors)"
    compare_errors(f"ODE-Net matches ResNet's test error {criterion}", "0.42% vs 0.41%", odenet, resnet6)
    compare_errors(f"RK-Net matches ODE-Net's test error {criterion}", "0.47% vs 0.42%", rknet, odenet)
    compare_errors(
        f"ResNet with 1 block matches ODE-Net, as in the reproduction {criterion}",
        "similar (reproduction)",
        resnet1,
        odenet,
    )
    worse(
        f"The 1-layer MLP errs more than ResNet (by over {MATCH_STANDARD_ERRORS:g} standard errors)",
        "1.60% vs 0.41%",
        mlp,
        resnet6,
    )
    p_ode, p_res = value(odenet, "params"), value(resnet6, "params")
    if p_ode and p_res:
        ratio = p_ode / p_res
        add(
            "ODE-Net needs fewer parameters than ResNet (under half)",
            "0.22 M vs 0.60 M (0.37x)",
            f"{p_ode:,.0f} vs {p_res:,.0f} ({ratio:.2f}x)",
            HOLDS if ratio < 0.5 else FAILS,
        )
    _memory_claims(add, value, table, odenet, rknet, resnet6, resnet1)
    _nfe_claims(add, results, odenet, table)
    claim = f"With Adam, implicit_adams trains as well as dopri5, as in the reproduction {criterion}"
    paper = "unstable with the first optimiser; stable with Adam + adaptive lr"
    status = runs.set_index("run")["status"].get(adams) if adams is not None else None
    if status is not None and status != "ok":
        add(claim, paper, f"diverged: {status}", FAILS)
    else:
        compare_errors(claim, paper, adams, odenet)
    sgd = _find_run(runs, "odenet", "implicit_adams", optimizer="sgd")
    if sgd is not None:
        claim = (
            "With SGD, implicit_adams trains worse than with Adam or diverges, as in the reproduction "
            f"(worse by over {MATCH_STANDARD_ERRORS:g} standard errors)"
        )
        status = runs.set_index("run")["status"].get(sgd)
        if status != "ok":
            add(claim, paper, f"{table.loc[sgd, 'model']} diverged: {status}", HOLDS)
        else:
            worse(claim, paper, sgd, adams)
    return pd.DataFrame(claims, columns=["claim", "paper", "measured", "verdict"])


def _memory_claims(add, value, table, odenet, rknet, resnet6, resnet1) -> None:
    s_ode, s_rk = value(odenet, "saved_for_backward_mib"), value(rknet, "saved_for_backward_mib")
    if s_ode is None or s_rk is None:
        add("ODE-Net stores less for backward than RK-Net", "O(1) vs O(L̃)", "a run has no memory probe", NOT_MEASURED)
    else:
        nfe_rk = value(rknet, "nfe_forward") or float("nan")
        add(
            "ODE-Net stores less for backward than RK-Net",
            "O(1) vs O(L̃)",
            f"{s_ode:.1f} MiB vs {s_rk:.1f} MiB (RK-Net: {nfe_rk:.0f} evaluations stored)",
            HOLDS if s_ode < s_rk else FAILS,
        )
    m_ode, m_rk = value(odenet, "peak_memory_mib"), value(rknet, "peak_memory_mib")
    if m_ode is not None and m_rk is not None:
        measured = f"{m_ode:.1f} MiB vs {m_rk:.1f} MiB"
        nfe_rk = value(rknet, "nfe_forward")
        if s_ode is not None and s_rk is not None and nfe_rk and s_rk > s_ode:
            # RK-Net stores each evaluation: the peak grows by about this much per evaluation
            per_eval = (s_rk - s_ode) / nfe_rk
            break_even = nfe_rk + (m_ode - m_rk) / per_eval
            measured += (
                f"; RK-Net stores {per_eval:.2f} MiB per evaluation, so direct backpropagation would reach "
                f"ODE-Net's peak at about {break_even:.0f} evaluations"
            )
        add("ODE-Net's peak memory is below RK-Net's", "O(1) vs O(L̃)", measured, HOLDS if m_ode < m_rk else FAILS)
    s6, s1 = value(resnet6, "saved_for_backward_mib"), value(resnet1, "saved_for_backward_mib")
    if s6 is not None and s1 is not None:
        per_block = (s6 - s1) / 5
        add(
            "ResNet's memory grows with its depth",
            "O(L)",
            f"6 blocks {s6:.1f} MiB vs 1 block {s1:.1f} MiB saved: +{per_block:.2f} MiB per block",
            HOLDS if per_block > 0 else FAILS,
        )


def _nfe_claims(add, results: TrainingResults, odenet, table) -> None:
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
            HOLDS if nfe_up and err_down else FAILS,
        )
        rho = sweep["nfe_forward"].corr(sweep["time_forward_s"], method="spearman")
        add(
            "Forward wall time grows with forward NFE (Fig. 3b)",
            "time proportional to NFE",
            f"Spearman rho {rho:.2f} over the tolerance sweep; "
            + ", ".join(f"{n:.0f} NFE {1000 * t:.0f} ms" for n, t in zip(sweep["nfe_forward"], sweep["time_forward_s"]))
            if not math.isnan(rho)
            else "NFE did not vary",
            HOLDS if rho > 0.5 else FAILS,
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
            HOLDS if ratio <= HALF_RATIO_MAX else FAILS,
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
            HOLDS if last > first else FAILS,
        )


def _image_data_uri(path: Path) -> str:
    return "data:image/png;base64," + base64.b64encode(path.read_bytes()).decode("ascii")


_HTML = jinja2.Template(
    """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{{ title }}</title>
<style>
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1200px; color: #222; }
table { border-collapse: collapse; margin: 1em 0; font-size: 0.9em; }
th, td { border: 1px solid #ccc; padding: 4px 8px; text-align: right; }
th { background: #f0f0f0; } td:first-child, th:first-child { text-align: left; }
.claims td { text-align: left; } .holds { color: #176b2c; } .fails { color: #a11; }
img { max-width: 100%; } code { background: #f4f4f4; padding: 0 3px; }
</style></head><body>
<h1>{{ title }}</h1>
{% for line in setup %}<p>{{ line }}</p>{% endfor %}
<h2>Table 1, measured beside the paper's</h2>
{{ table_html }}
{% for note in table_notes %}<p><small>{{ note }}</small></p>{% endfor %}
<h2>The claims, checked</h2>
<table class="claims"><tr><th>claim</th><th>paper</th><th>measured here</th><th>verdict</th></tr>
{% for c in claims %}<tr><td>{{ c.claim }}</td><td>{{ c.paper }}</td><td>{{ c.measured }}</td>
<td class="{{ 'holds' if c.verdict == 'holds' else 'fails' }}">{{ c.verdict }}</td></tr>
{% endfor %}</table>
<h2>Loss curves</h2><img alt="loss curves" src="{{ loss_png }}">
<h2>Figure 3</h2><p>{{ figure3_caption }}</p><img alt="Figure 3" src="{{ figure3_png }}">
<h2>Runs</h2>
{{ runs_html }}
</body></html>
"""
)


def _setup_lines(results: TrainingResults) -> list[str]:
    runs = results.runs
    if runs.empty:
        return ["No run recorded."]
    first = runs.iloc[0]
    tol = runs["config_rtol"].dropna().iloc[0] if runs["config_rtol"].notna().any() else "—"
    optimisers = []
    for name, group in runs.groupby(runs.get("config_optimizer", pd.Series("adam", index=runs.index)), sort=False):
        rates = ", ".join(f"{lr:g}" for lr in sorted(group["config_lr"].unique()))
        label = "Adam" if name == "adam" else "SGD with momentum 0.9"
        which = "" if len(group) == len(runs) else f" ({', '.join(group['run'])})"
        optimisers.append(f"{label} from learning rate {rates}{which}")
    data = (
        f"Data: {first['config_data']}. Convolutional width {first['config_width']} channels, batch "
        f"{first['config_batch']}, {first['config_epochs']} epochs, seed {first['config_seed']}. Optimiser: "
        f"{'; '.join(optimisers)}; the learning rate is cosine-annealed to 0 over the run, per iteration."
    )
    solvers = (
        f"ODE blocks integrate t in [0, 1]; adaptive solvers and implicit_adams at rtol = atol = {tol}; "
        "RK-Net backpropagates directly through RK4 on a fixed grid, ODE-Net trains by the adjoint."
    )
    machine = (
        f"Device {first['config_device']} ({first.get('device_name', '?')}), {first.get('threads', '?')} torch "
        f"thread(s); torch {first.get('torch_version', '?')}, torchdiffeq {first.get('torchdiffeq_version', '?')}, "
        f"commit {str(first.get('git_commit', '?'))[:10]}; "
        f"total training wall time {runs['wall_s'].sum() / 60:.1f} min."
    )
    return [data, solvers, machine]


TABLE_NOTES = [
    (
        "Test error: after the last finished epoch. Peak memory: peak live tensor bytes of one forward+backward on a "
        "training batch, measured in a separate run after the last probed epoch "
        "(CPU: torch profiler allocation events; "
        "CUDA: allocator statistics). Saved for backward: bytes autograd holds after the forward pass (saved-tensor "
        "hooks). Time / epoch: median wall time of an epoch's training iterations. NFE: mean ODE-block evaluations per "
        "training iteration in the last epoch."
    ),
    (
        "The paper's figures are for MNIST (60,000 28x28 images) and give memory and time only as O(·): "
        "L is the number of layers, L̃ the number of function evaluations."
    ),
]


FIGURE3_CAPTION = (
    "(a) forward NFE against numerical error over a tolerance sweep of the trained ODE-Net; (b) forward wall time "
    "against forward NFE per training iteration (when the batch size does not divide the training set, each epoch's "
    "last, smaller batch forms a faster cluster); (c) backward against forward NFE per iteration of adjoint runs, "
    "with the paper's ½ line; (d) NFE over training."
)


def render_training_report(out_dir: str | Path, title: str = "Section 3 reproduction: Table 1 and Figure 3") -> Path:
    """Render the report of the results folder ``out_dir`` into it; returns the ``report.html`` path."""
    out_dir = Path(out_dir)
    results = load_results(out_dir)
    table = table1_frame(results)
    table.to_csv(out_dir / "table1.csv", index=False)
    display = table1_display(table)
    (out_dir / "table1.md").write_text(display.to_markdown(index=False) + "\n")
    claims = claims_frame(results)
    claims.to_csv(out_dir / "claims.csv", index=False)
    loss_png = plot_loss_curves(results, out_dir / "loss_curves.png")
    figure3_png = plot_figure3(results, out_dir / "figure3.png")
    runs_view = results.runs[
        [
            c
            for c in ("run", "label", "status", "error", "failed_epoch", "epochs_completed", "params", "wall_s")
            if c in results.runs
        ]
    ]
    setup = _setup_lines(results)
    generated = datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")
    markdown = [
        f"# {title}",
        "",
        *[f"{line}\n" for line in setup],
        "## Table 1, measured beside the paper's",
        "",
        display.to_markdown(index=False),
        "",
        *[f"{note}\n" for note in TABLE_NOTES],
        "## The claims, checked",
        "",
        claims.to_markdown(index=False),
        "",
        "## Loss curves",
        "",
        f"![loss curves]({loss_png.name})",
        "",
        "## Figure 3",
        "",
        FIGURE3_CAPTION,
        "",
        f"![Figure 3]({figure3_png.name})",
        "",
        "## Runs",
        "",
        runs_view.astype(object)
        .where(runs_view.notna(), None)
        .to_markdown(index=False, missingval="—", floatfmt=".1f"),
        "",
        f"Generated {generated} from the result tables in this folder ({', '.join(f'{t}.csv' for t in TABLES)}).",
        "",
    ]
    (out_dir / "report.md").write_text("\n".join(markdown))
    html = _HTML.render(
        title=title,
        setup=setup,
        table_html=display.to_html(index=False, border=0),
        table_notes=TABLE_NOTES,
        claims=claims.to_dict("records"),
        loss_png=_image_data_uri(loss_png),
        figure3_png=_image_data_uri(figure3_png),
        figure3_caption=FIGURE3_CAPTION,
        runs_html=runs_view.to_html(index=False, border=0, na_rep="—", float_format="{:.1f}".format),
    )
    path = out_dir / "report.html"
    path.write_text(html)
    return path
