"""Solver dependence of trained models (Ott et al. 2021, "ResNet after all?"), on the digits.

Ott, Katiyar, Hennig, Tiemann (ICLR 2021): a Neural ODE trained with a coarse fixed step learns a
model that works only with that solver (a ResNet in disguise); evaluated with finer steps or an
adaptive solver its accuracy drops. Below a critical step size the trained model is a proper ODE
and its accuracy does not depend on the solver.

:func:`solver_dependence` trains the paper's ODE-Net (the ``train`` command's ``odenet``: stem, ODE
block, head) on scikit-learn's digits with euler at each of :data:`TRAIN_STEPS` steps over t in
[0, 1], then evaluates each trained model's test accuracy at every step count of
:data:`EVAL_STEPS` and with dopri5 at rtol = atol = 1e-5. One thread, seeded: about 25 s on a CPU core.
"""

from __future__ import annotations

from dataclasses import dataclass

#: euler steps over [0, 1] the models are trained with (step sizes 1, 1/2, 1/4, 1/8)
TRAIN_STEPS = (1, 2, 4, 8)
#: euler steps each trained model is evaluated with
EVAL_STEPS = (1, 2, 4, 8, 32)
#: a drop from the training solver's accuracy to dopri5's below this (points of accuracy) is "no drop"
NO_DROP_POINTS = 1.0


@dataclass(frozen=True)
class Trained:
    """One model trained at ``train_steps`` euler steps: test accuracy (fraction) per evaluation."""

    train_steps: int
    accuracy: dict  # euler steps (int) or "dopri5" -> test accuracy

    @property
    def drop_points(self) -> float:
        """Accuracy lost, in points, from the training solver to dopri5 at 1e-5."""
        return 100 * (self.accuracy[self.train_steps] - self.accuracy["dopri5"])


def solver_dependence(epochs: int = 8, width: int = 32, seed: int = 0, train_steps=TRAIN_STEPS,
                      train_limit: int | None = None) -> list[Trained]:  # fmt: skip
    """Train one ODE-Net per step count of ``train_steps`` and evaluate each at every solver."""
    import torch

    from neural_ode.apps.training.run_config import TrainConfig
    from neural_ode.apps.training.train import evaluate, train
    from neural_ode.data import load_data

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        data = load_data("digits", seed)
        out = []
        for steps in train_steps:
            config = TrainConfig(model="odenet", method="direct", solver="euler", steps=steps, epochs=epochs,
                                 width=width, seed=seed, train_limit=train_limit, memory_probe=False)  # fmt: skip
            result = train(config, data)
            if result.status != "ok":
                continue
            model, block = result.model, result.model.ode_block
            accuracy = {}
            for evaluation in sorted({*EVAL_STEPS, steps}):
                block.steps = evaluation
                accuracy[evaluation] = 1 - evaluate(model, data.test_images, data.test_labels, "cpu")[0]
            block.solver, block.steps, block.rtol, block.atol = "dopri5", None, 1e-5, 1e-5
            accuracy["dopri5"] = 1 - evaluate(model, data.test_images, data.test_labels, "cpu")[0]
            out.append(Trained(steps, accuracy))
        return out
    finally:
        torch.set_num_threads(threads)


def critical_steps(models: list[Trained]) -> int | None:
    """The fewest training steps (largest step size) whose model loses under :data:`NO_DROP_POINTS`
    points with dopri5; None when every model loses more."""
    fine = [m.train_steps for m in models if m.drop_points < NO_DROP_POINTS]
    return min(fine) if fine else None
