"""Result files of training runs: what the report reads, so it never re-runs anything.

A results folder holds four CSV tables, one row per:

- ``runs.csv``: run (config, status, error, parameters, wall time, provenance);
- ``epochs.csv``: epoch of a run (:class:`neural_ode.apps.training.train.EpochRecord`);
- ``iterations.csv``: training iteration (:class:`neural_ode.apps.training.train.IterationRecord`);
- ``tolerance.csv``: tolerance of a trained ODE-Net's test-set sweep (Figure 3a).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from neural_ode.apps.training.tolerance import ToleranceRecord
from neural_ode.apps.training.train import EpochRecord, IterationRecord, TrainResult
from neural_ode.storage import write_table

TABLES = ("runs", "epochs", "iterations", "tolerance")
_COLUMNS = {
    "epochs": [f.name for f in dataclasses.fields(EpochRecord)],
    "iterations": [f.name for f in dataclasses.fields(IterationRecord)],
    "tolerance": [f.name for f in dataclasses.fields(ToleranceRecord)],
}


@dataclass(frozen=True)
class TrainingResults:
    """The four tables of a results folder (see the module docstring)."""

    runs: pd.DataFrame
    epochs: pd.DataFrame
    iterations: pd.DataFrame
    tolerance: pd.DataFrame


def results_frames(results: list[TrainResult], sweeps: list | None = None) -> TrainingResults:
    """The tables of ``results`` and their tolerance-sweep records."""

    def frame(rows, name):
        return pd.DataFrame([dataclasses.asdict(row) for row in rows], columns=_COLUMNS[name])

    return TrainingResults(
        runs=pd.DataFrame([result.summary() for result in results]),
        epochs=frame([e for r in results for e in r.epochs], "epochs"),
        iterations=frame([i for r in results for i in r.iterations], "iterations"),
        tolerance=frame(list(sweeps or []), "tolerance"),
    )


def save_results(results: list[TrainResult], out_dir: str | Path, sweeps: list | None = None) -> Path:
    """Write the four tables of ``results`` into ``out_dir`` (created); returns ``out_dir``."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    frames = results_frames(results, sweeps)
    for name in TABLES:
        write_table(getattr(frames, name), out_dir / f"{name}.csv")
    return out_dir


def load_results(out_dir: str | Path) -> TrainingResults:
    """The four tables of the results folder ``out_dir`` (a missing tolerance table reads as empty)."""
    out_dir = Path(out_dir)
    frames = {}
    for name in TABLES:
        path = out_dir / f"{name}.csv"
        if not path.exists():
            if name == "runs":
                raise FileNotFoundError(f"{out_dir}: no runs.csv; not a training results folder")
            frames[name] = pd.DataFrame(columns=_COLUMNS[name])
            continue
        try:
            frames[name] = pd.read_csv(path)
        except pd.errors.EmptyDataError:
            frames[name] = pd.DataFrame(columns=_COLUMNS.get(name))
    return TrainingResults(**frames)
