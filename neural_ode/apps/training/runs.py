"""Training several runs one after another, saving as it goes, then rendering the report."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path

from tqdm import tqdm

from neural_ode.apps.training.report import render_training_report
from neural_ode.apps.training.results import save_results
from neural_ode.apps.training.run_config import TrainConfig
from neural_ode.apps.training.tolerance import tolerance_sweep
from neural_ode.apps.training.train import EpochRecord, TrainResult, train
from neural_ode.data import Dataset, load_data


def run_all(
    configs: Sequence[TrainConfig],
    out_dir: str | Path,
    *,
    data: Dataset | None = None,
    sweep: bool = True,
    report: bool = True,
    show_progress: bool = True,
) -> list[TrainResult]:
    """Train each config, save the result tables after each run, then render the report.

    A run that diverges or fails is recorded with its status and the next one starts (see
    :func:`neural_ode.apps.training.train.train`). Runs whose ODE block has an adaptive solver get
    the tolerance sweep of Figure 3a after training (``sweep``). Data is loaded once per spec
    unless ``data`` is given.

    Returns:
        the results, in the order of ``configs``.
    """
    out_dir = Path(out_dir)
    loaded: dict[tuple, Dataset] = {}
    results, sweeps = [], []
    for config in configs:
        key = (config.data, config.seed)
        if data is not None:
            dataset = data
        else:
            if key not in loaded:
                loaded[key] = load_data(config.data, config.seed)
            dataset = loaded[key]
        bar = tqdm(
            total=config.epochs, desc=config.name, unit="epoch", file=sys.stderr, disable=not show_progress, leave=True
        )

        def progress(record: EpochRecord, bar=bar) -> None:
            bar.set_postfix(
                loss=f"{record.train_loss:.3f}",
                test_err=f"{100 * record.test_error:.2f}%",
                nfe=f"{record.nfe_forward:.0f}/{record.nfe_backward:.0f}",
            )
            bar.update(1)

        result = train(config, dataset, progress=progress)
        bar.close()
        if result.status != "ok":
            tqdm.write(
                f"{config.name}: {result.status} in epoch {result.failed_epoch}: {result.error}", file=sys.stderr
            )
        results.append(result)
        if sweep:
            sweeps.extend(tolerance_sweep(result, dataset.subset(config.train_limit, config.test_limit)))
        save_results(results, out_dir, sweeps)
    if report:
        render_training_report(out_dir)
    return results
