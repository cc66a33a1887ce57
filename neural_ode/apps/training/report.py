"""The Section 3 report: the Table 1 analog, the paper's claims checked, loss curves, Figure 3.

:func:`render_training_report` reads a results folder (:mod:`neural_ode.apps.training.results`) and
writes, beside the result tables:

- ``table1.csv`` (numbers) and ``table1.md`` (formatted): per run, test error, parameters,
  measured peak memory and saved-for-backward bytes (MB = 10^6 bytes), time per epoch, NFE,
  beside the paper's;
- ``claims.csv``: each claim of the paper's Table 1 and Figure 3 (and the reproduction's), what
  was measured here and whether it holds, by a stated criterion (:mod:`neural_ode.apps.training.claims`);
- ``loss_curves.png`` and ``figure3.png`` (:mod:`neural_ode.apps.training.curves`);
- ``report.md`` and a self-contained ``report.html``, rendered through the project's one report
  layer (:mod:`neural_ode.reporting.page.render`, templates ``training.md.j2`` / ``training.html.j2``).
"""

from __future__ import annotations

import datetime
from pathlib import Path

import pandas as pd

from neural_ode.apps.training.claims import claims_frame
from neural_ode.apps.training.curves import plot_figure3, plot_loss_curves
from neural_ode.apps.training.results import TABLES, TrainingResults, load_results
from neural_ode.apps.training.table1 import table1_display, table1_frame
from neural_ode.reporting import markdown_table, render_pair
from neural_ode.storage import write_file, write_table

#: the run columns shown in the report's last table
RUN_COLUMNS = ("run", "label", "status", "error", "failed_epoch", "epochs_completed", "params", "wall_s")


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
    write_table(table, out_dir / "table1.csv")
    display = table1_display(table)
    write_file(out_dir / "table1.md", markdown_table(display) + "\n")
    claims = claims_frame(results)
    write_table(claims, out_dir / "claims.csv")
    runs = results.runs[[c for c in RUN_COLUMNS if c in results.runs]]
    context = {
        "title": title,
        "generated": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "setup": _setup_lines(results),
        "table_notes": TABLE_NOTES,
        "claims_rows": claims.to_dict("records"),
        "figure3_caption": FIGURE3_CAPTION,
        "tables_read": ", ".join(f"{name}.csv" for name in TABLES),
    }
    figures = {
        "loss_curves": plot_loss_curves(results, out_dir / "loss_curves.png"),
        "figure3": plot_figure3(results, out_dir / "figure3.png"),
    }
    tables = {"table1": display, "runs": runs}
    return render_pair("training", context, tables, figures, out_dir)
