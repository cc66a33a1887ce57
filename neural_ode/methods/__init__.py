"""The gradient-method registry: how the gradient of the loss reaches the parameters.

A gradient method is an object with one job: solve the ODE so that ``loss.backward()``
afterwards delivers dL/dtheta its own way (backpropagation through the solver, an adjoint
solve, checkpointing, ...). Adding one is a :class:`GradientMethod` subclass and one entry in
``METHODS``; every front end and the report pick it up.
"""

from __future__ import annotations

from neural_ode.methods.aca import ACAMethod
from neural_ode.methods.base import GradientMethod
from neural_ode.methods.checkpoint import CheckpointMethod
from neural_ode.methods.lean_direct import LeanDirectMethod
from neural_ode.methods.own_adjoint import OwnAdjointMethod
from neural_ode.methods.torchdiffeq_methods import AdjointMethod, DirectMethod, SeminormAdjointMethod
from neural_ode.methods.torchode_methods import (
    TorchodeAutoDiffMethod,
    TorchodeBacksolveMethod,
    TorchodeJointBacksolveMethod,
)

METHODS: dict[str, GradientMethod] = {
    m.name: m
    for m in (
        DirectMethod(),
        AdjointMethod(),
        SeminormAdjointMethod(),
        OwnAdjointMethod(),
        CheckpointMethod(),
        ACAMethod(),
        LeanDirectMethod(),
        TorchodeAutoDiffMethod(),
        TorchodeBacksolveMethod(),
        TorchodeJointBacksolveMethod(),
    )
}
"""torchdiffeq's routes (``direct``: odeint, ``adjoint``/``adjoint-seminorm``: odeint_adjoint) and the
project's own on its lean core (``own-adjoint``, ``checkpoint``, ``aca``, ``lean-direct``;
``neural_ode.integrators``) and
torchode's (``torchode``, ``torchode-backsolve``, ``torchode-joint-backsolve``; an optional extra)."""


def available_methods() -> list[str]:
    """The names of the methods that can run here (an optional library's only when it is installed)."""
    return [name for name, method in METHODS.items() if method.unavailable() is None]
