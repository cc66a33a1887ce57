"""Figure 3a/3b of the paper: a trained ODE-Net evaluated over a sweep of tolerances.

For each tolerance (rtol = atol) of the ODE block's adaptive solver: the forward NFE, the
forward wall time, the test error, and the numerical error of the block's output against a
float64 dopri5 solve at a much tighter tolerance.
"""

from __future__ import annotations

import copy
import statistics
import time
from dataclasses import dataclass

import torch
import torchdiffeq

from neural_ode import synchronizer
from neural_ode.apps.training.train import EVAL_BATCH, TrainResult
from neural_ode.data import Dataset

#: tolerances (rtol = atol) of the Figure 3a sweep
SWEEP_TOLERANCES = (1e-1, 1e-2, 1e-3, 1e-4, 1e-5)
#: tolerance of the float64 dopri5 solve the sweep's numerical error is measured against
REFERENCE_TOLERANCE = 1e-7
#: test images the sweep uses at most (the float64 reference solve is the expensive part): one
#: evaluation batch, the whole digits test set
SWEEP_LIMIT = EVAL_BATCH


@dataclass(frozen=True)
class ToleranceRecord:
    """The trained ODE-Net evaluated on the test set at one tolerance (Figure 3a, 3b).

    Attributes:
        tolerance: rtol = atol of the forward solve.
        test_error: fraction of the (sub)set misclassified.
        nfe_forward: mean forward NFE per batch of up to 500 images.
        time_forward_s: median wall time of a batch's forward pass.
        numerical_error: relative L2 error of the ODE block's output against a float64
            dopri5 solve at ``reference_tolerance``.
        images: test images evaluated.
    """

    run: str
    tolerance: float
    test_error: float
    nfe_forward: float
    time_forward_s: float
    numerical_error: float
    reference_tolerance: float
    images: int


def tolerance_sweep(
    result: TrainResult,
    data: Dataset,
    tolerances=SWEEP_TOLERANCES,
    *,
    reference_tolerance: float = REFERENCE_TOLERANCE,
    limit: int = SWEEP_LIMIT,
) -> list[ToleranceRecord]:
    """Forward NFE, time, test error and numerical error of a trained ODE-Net at each tolerance.

    Only for runs whose ODE block has an adaptive solver and that finished; [] otherwise. Uses
    the first ``limit`` test images. The block's own tolerance is restored afterwards.
    """
    model = result.model
    block = getattr(model, "ode_block", None)
    if block is None or result.status != "ok" or block.rtol is None or block.steps is not None:
        return []
    device = torch.device(result.config.device)
    sync = synchronizer(device)
    images, labels = data.test_images[:limit], data.test_labels[:limit]
    model.eval()
    with torch.no_grad():
        reference = _reference_outputs(model, images, reference_tolerance, device)
    records = []
    saved = (block.rtol, block.atol)
    try:
        for tolerance in tolerances:
            block.rtol = block.atol = tolerance
            wrong, nfe, times, outputs = 0, [], [], []
            with torch.no_grad():
                for start in range(0, len(labels), EVAL_BATCH):
                    x = images[start : start + EVAL_BATCH].to(device)
                    y = labels[start : start + EVAL_BATCH].to(device)
                    features = model.features(x)
                    before = block.nfe
                    sync()
                    t0 = time.perf_counter()
                    state = block(features)
                    sync()
                    times.append(time.perf_counter() - t0)
                    nfe.append(block.nfe - before)
                    outputs.append(state.double().cpu())
                    wrong += int((model.head(state).argmax(dim=1) != y).sum())
            output = torch.cat(outputs)
            records.append(
                ToleranceRecord(
                    run=result.config.name,
                    tolerance=tolerance,
                    test_error=wrong / len(labels),
                    nfe_forward=statistics.fmean(nfe),
                    time_forward_s=statistics.median(times),
                    numerical_error=float((output - reference).norm() / reference.norm()),
                    reference_tolerance=reference_tolerance,
                    images=len(labels),
                )
            )
    finally:
        block.rtol, block.atol = saved
    return records


def _reference_outputs(model, images, tolerance, device) -> torch.Tensor:
    """The ODE block's outputs on ``images`` in float64 with dopri5 at ``tolerance`` (CPU tensor)."""
    reference_model = copy.deepcopy(model).double()
    block = reference_model.ode_block
    block.counter.deadline = None
    outputs = []
    for start in range(0, len(images), EVAL_BATCH):
        x = images[start : start + EVAL_BATCH].to(device=device, dtype=torch.float64)
        features = reference_model.features(x)
        t = torch.tensor([0.0, 1.0], dtype=torch.float64, device=device)
        solution = torchdiffeq.odeint(
            block.counter.field,
            features,
            t,
            method="dopri5",
            rtol=tolerance,
            atol=tolerance,
            options={"max_num_steps": 100_000},
        )
        outputs.append(solution[-1].cpu())
    return torch.cat(outputs)
