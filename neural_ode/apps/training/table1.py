"""The ``table1`` preset: the models of the paper's Table 1 (and the reproduction's), and the paper's figures.

The paper (Chen et al. 2018, Table 1, MNIST) compares a 1-layer MLP, a ResNet of six residual
blocks, RK-Net (an ODE block backpropagated through a Runge-Kutta integrator) and ODE-Net (the
same block trained by the adjoint). The reproduction adds a ResNet of one block (the control:
an ODE-Net is one block too) and trains ODE-Net with both dopri5 and implicit_adams.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import pandas as pd

from neural_ode.apps.training.results import TrainingResults
from neural_ode.apps.training.run_config import TrainConfig
from neural_ode.apps.training.stats import binomial_se
from neural_ode.units import MB, MISSING


@dataclass(frozen=True)
class PaperRow:
    """One row of the paper's Table 1 (MNIST). Test error in percent."""

    model: str
    test_error_pct: float
    params: float
    memory: str
    time: str


#: the paper's Table 1, by model name; resnet1 is the reproduction's and has no paper row
PAPER_TABLE1: dict[str, PaperRow] = {
    "mlp": PaperRow("1-Layer MLP", 1.60, 0.24e6, "-", "-"),
    "resnet6": PaperRow("ResNet", 0.41, 0.60e6, "O(L)", "O(L)"),
    "rknet": PaperRow("RK-Net", 0.47, 0.22e6, "O(L̃)", "O(L̃)"),
    "odenet": PaperRow("ODE-Net", 0.42, 0.22e6, "O(1)", "O(L̃)"),
}

#: defaults of the preset, sized so that it trains in about 10 minutes on 2 CPU cores on the digits
#: (1437 training images: 23 iterations an epoch, 230 Adam steps a run)
TABLE1_DEFAULTS = {"epochs": 10, "batch": 64, "width": 64, "lr": 3e-3}
#: grid steps of the implicit_adams ODE-Net: torchdiffeq starts Adams with RK4 steps, so a few more
IMPLICIT_ADAMS_STEPS = 8
#: learning rate of the SGD run (the paper's: SGD with momentum 0.9 from 0.1)
SGD_LR = 0.1


def table1_configs(**overrides) -> list[TrainConfig]:
    """The runs of the ``table1`` preset; ``overrides`` (epochs, data, width, ...) apply to all.

    Every run trains with Adam, but one: implicit_adams with the paper's SGD (momentum 0.9,
    learning rate :data:`SGD_LR` whatever ``lr`` says), the optimiser the reproduction found
    unstable with it.
    """
    common = {**TABLE1_DEFAULTS, **overrides}
    sgd = {**common, "optimizer": "sgd", "lr": SGD_LR}
    return [
        TrainConfig(model="resnet6", **common),
        TrainConfig(model="resnet1", **common),
        TrainConfig(model="rknet", **common),
        TrainConfig(model="odenet", solver="dopri5", **common),
        TrainConfig(model="odenet", solver="implicit_adams", steps=IMPLICIT_ADAMS_STEPS, **common),
        TrainConfig(model="odenet", solver="implicit_adams", steps=IMPLICIT_ADAMS_STEPS, **sgd),
        TrainConfig(model="mlp", **common),
    ]


#: the presets of ``neural-ode-bench train --preset``
PRESETS = {"table1": table1_configs}


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
                "peak_memory_mb": None if peak is None else peak / MB,
                "saved_for_backward_mb": None if saved is None else saved / MB,
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


def _fmt(value, pattern: str, missing: str = MISSING) -> str:
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
                MISSING if _fmt(e, "") == MISSING else f"{e:.2f}%" + _fmt(se, " ± {:.2f}", "")
                for e, se in zip(table["test_error_pct"], table["test_error_se_pct"], strict=True)
            ],
            "Params": [_fmt(v, "{:,.0f}") for v in table["params"]],
            "Peak memory (MB)": [_fmt(v, "{:.1f}") for v in table["peak_memory_mb"]],
            "Saved for backward (MB)": [_fmt(v, "{:.1f}") for v in table["saved_for_backward_mb"]],
            "Time / epoch (s)": [_fmt(v, "{:.1f}") for v in table["time_per_epoch_s"]],
            "NFE fwd / bwd": [
                MISSING if _fmt(f, "") == MISSING else f"{f:.1f} / {b:.1f}"
                for f, b in zip(table["nfe_forward"], table["nfe_backward"], strict=True)
            ],
            "Paper: test error": [_fmt(v, "{:.2f}%") for v in table["paper_test_error_pct"]],
            "Paper: params": [_fmt(v / 1e6 if v else v, "{:.2f} M") for v in table["paper_params"]],
            "Paper: memory": [_fmt(v, "{}") for v in table["paper_memory"]],
            "Paper: time": [_fmt(v, "{}") for v in table["paper_time"]],
        }
    )
