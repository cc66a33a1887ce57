"""The ``table1`` preset: the models of the paper's Table 1 (and the reproduction's), and the paper's figures.

The paper (Chen et al. 2018, Table 1, MNIST) compares a 1-layer MLP, a ResNet of six residual
blocks, RK-Net (an ODE block backpropagated through a Runge-Kutta integrator) and ODE-Net (the
same block trained by the adjoint). The reproduction adds a ResNet of one block (the control:
an ODE-Net is one block too) and trains ODE-Net with both dopri5 and implicit_adams.
"""

from __future__ import annotations

from dataclasses import dataclass

from neural_ode.training.run_config import TrainConfig


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
