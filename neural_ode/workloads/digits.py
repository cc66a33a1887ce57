"""``digits``: the paper's ODE-Net block as trained on real images, with the classifier's own loss.

The conv workload's block (:class:`neural_ode.workloads.conv.ODEBlockField`) is measured there
with random parameters on random feature maps. Here it is the body of the paper's MNIST
classifier (stem -> ODE block -> head, :mod:`neural_ode.apps.training.models`) fitted once to
scikit-learn's 8x8 handwritten digits, which ship with scikit-learn (no download): the state is
the stem's 4x4 feature maps (``width`` channels) of test digits, the loss the head's
cross-entropy against their labels, summed over the output times (one output: the classifier's
own loss). The head's parameters are measured with the field's.

The fit is done once per ``width`` x ``layers``, deterministically: seed 0, Adam at 1e-3 on
batches of :data:`FIT_BATCH` training digits for :data:`FIT_ITERATIONS` iterations (six epochs),
backpropagating directly through an rk4 grid of :data:`FIT_STEPS` steps over [0, 1] (RK-Net, the
paper's direct method), float32, one thread; about 40 s of one core for the default block, after
which the fitted classifier classifies about 95 % of the held-out digits. It is cached next to the
references (``$NEURAL_ODE_BENCH_CACHE``), with its test accuracy.
"""

from __future__ import annotations

import torch
from torch import nn

from neural_ode.fields.odenet import head, stem
from neural_ode.workloads.base import Problem
from neural_ode.workloads.cache import disk_cached, fitting
from neural_ode.workloads.conv import ConvWorkload, ODEBlockField

#: the fit: Adam's learning rate, batch, iterations, rk4 steps over [0, 1]
FIT_LR = 1e-3
FIT_BATCH = 64
FIT_ITERATIONS = 138
FIT_STEPS = 4
FIT_VERSION = 1
#: the digits are 8x8; the training stem for small images makes 4x4 feature maps of them
SIDE = 8


class DigitsClassifier(nn.Module):
    """stem -> ODE block over [0, 1] (an rk4 grid while fitting) -> head, as the paper's MNIST model."""

    def __init__(self, width: int, layers: int, classes: int = 10):
        super().__init__()

        self.stem = stem(SIDE, width)
        self.field = ODEBlockField(width, layers)
        self.head = head(width, classes)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        import torchdiffeq

        times = torch.tensor([0.0, 1.0], dtype=images.dtype)
        h = torchdiffeq.odeint(self.field, self.stem(images), times, method="rk4", options={"step_size": 1 / FIT_STEPS})
        return self.head(h[-1])


def _fit(width: int, layers: int) -> dict:
    from neural_ode.data.images import load_digits

    data = load_digits(seed=0)
    generator = torch.Generator().manual_seed(0)
    with fitting():
        model = DigitsClassifier(width, layers)
        optimiser = torch.optim.Adam(model.parameters(), lr=FIT_LR)
        order = torch.randperm(len(data.train_images), generator=generator)
        for iteration in range(FIT_ITERATIONS):
            start = (iteration * FIT_BATCH) % len(order)
            if start + FIT_BATCH > len(order):  # a new epoch: a new order
                order = torch.randperm(len(data.train_images), generator=generator)
                start = 0
            batch = order[start : start + FIT_BATCH]
            loss = nn.functional.cross_entropy(model(data.train_images[batch]), data.train_labels[batch])
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
        with torch.no_grad():
            accuracy = (model(data.test_images).argmax(1) == data.test_labels).double().mean()
    state = {name: value.detach().clone() for name, value in model.state_dict().items()}
    return {"state": state, "test_accuracy": accuracy.reshape(1)}


def fit_key(width: int, layers: int) -> str:
    """What identifies the fitted classifier of a ``width`` x ``layers`` block."""
    return f"digits-fit-v{FIT_VERSION}-w{width}-l{layers}-it{FIT_ITERATIONS}-torch{torch.__version__}"


def fitted(width: int, layers: int) -> tuple[DigitsClassifier, float]:
    """The fitted float32 classifier of a ``width`` x ``layers`` block (fitted once, cached on
    disk) and its accuracy on the held-out digits (a fraction)."""
    stored = disk_cached("digits", fit_key(width, layers), lambda: _fit(width, layers))
    model = DigitsClassifier(width, layers)
    model.load_state_dict(stored["state"])
    return model, float(stored["test_accuracy"][0])


class DigitsWorkload(ConvWorkload):
    name = "digits"
    description = (
        "the ODE-Net block of a digit classifier fitted once to scikit-learn's 8x8 digits (~95 % test accuracy) "
        "and cached; the state the stem's 4x4 maps of test digits, the loss the head's cross-entropy; batch 32"
    )
    defaults = {"batch": 32, "width": 64, "dim": 4, "layers": 2, "outputs": 1}
    trained = True  # fitted once to the digits

    def parameters_key(self, width: int, layers: int, stage: int = 0) -> str:
        return fit_key(width, layers)

    def build(self, config, dtype: torch.dtype | None = None, device: str | None = None) -> Problem:
        from neural_ode.data.images import load_digits

        dtype = dtype or getattr(torch, config.dtype)
        device = device or config.device
        model, _accuracy = fitted(config.width, config.layers)
        data = load_digits(seed=0)
        generator = torch.Generator().manual_seed(config.seed)
        chosen = torch.randint(0, len(data.test_images), (config.batch,), generator=generator)
        with torch.no_grad():  # the stem's features in float32 whatever the dtype: a float64 reference starts there too
            y0 = model.stem(data.test_images[chosen])
        labels = data.test_labels[chosen].to(device)
        field = model.field.to(dtype=dtype, device=device)
        classify = model.head.to(dtype=dtype, device=device)

        def loss(trajectory: torch.Tensor) -> torch.Tensor:
            """Cross-entropy of the head's logits at each output time, summed over output times."""
            logits = classify(trajectory.flatten(0, 1)).reshape(len(trajectory), len(labels), -1)
            return sum(nn.functional.cross_entropy(step, labels) for step in logits)

        return Problem(field=field, y0=y0.to(dtype=dtype, device=device), loss_fn=loss, modules=(classify,))
