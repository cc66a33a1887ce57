"""The solver registry: every ODE solver this suite can differentiate through (torchdiffeq's, and tsit5 of torchode).

A solver is data: its torchdiffeq name, whether it adapts its step size (then depth is the
integration horizon and rtol/atol apply) or walks a fixed grid (then depth is the number of
steps), and how many vector-field evaluations one fixed-grid step costs when that is known.
Adding a solver is one entry in ``SOLVERS``.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class SolverSpec:
    """One ODE solver as torchdiffeq names it.

    Attributes:
        name: the ``method=`` string passed to torchdiffeq.
        adaptive: True for error-controlled step sizes (rtol/atol apply, depth = horizon).
        order: the order of accuracy of the method.
        evals_per_step: vector-field evaluations per fixed-grid step, None where it varies
            (adaptive solvers, implicit correctors).
        description: one line for ``neural-ode-bench list``.
        torchdiffeq: False for a solver torchdiffeq does not implement (then only the methods
            that list it in ``supported_solvers`` take it; ``tsit5``: torchode's).
    """

    name: str
    adaptive: bool
    order: int
    evals_per_step: int | None
    description: str
    torchdiffeq: bool = True


SOLVERS: dict[str, SolverSpec] = {
    spec.name: spec
    for spec in (
        SolverSpec("euler", False, 1, 1, "explicit Euler, 1 evaluation per step (ResNet analogue)"),
        SolverSpec("midpoint", False, 2, 2, "explicit midpoint, 2 evaluations per step"),
        SolverSpec("heun2", False, 2, 2, "Heun's second-order method, 2 evaluations per step"),
        SolverSpec("heun3", False, 3, 3, "Heun's third-order method, 3 evaluations per step"),
        SolverSpec("rk4", False, 4, 4, "classical Runge-Kutta (3/8 rule), 4 evaluations per step"),
        SolverSpec("explicit_adams", False, 4, None, "Adams-Bashforth multistep, fixed grid"),
        SolverSpec("implicit_adams", False, 4, None, "Adams-Bashforth-Moulton predictor-corrector"),
        SolverSpec("dopri5", True, 5, None, "Dormand-Prince 5(4), adaptive (the paper's solver)"),
        SolverSpec("dopri8", True, 8, None, "Dormand-Prince 8(5,3), adaptive"),
        SolverSpec("bosh3", True, 3, None, "Bogacki-Shampine 3(2), adaptive"),
        SolverSpec("fehlberg2", True, 2, None, "Runge-Kutta-Fehlberg 2(1), adaptive"),
        SolverSpec("adaptive_heun", True, 2, None, "Heun-Euler 2(1), adaptive"),
        SolverSpec("tsit5", True, 5, None, "Tsitouras 5(4), adaptive (torchode methods only)", torchdiffeq=False),
    )
}

FIXED_SOLVERS = [name for name, spec in SOLVERS.items() if not spec.adaptive]
ADAPTIVE_SOLVERS = [name for name, spec in SOLVERS.items() if spec.adaptive]
TORCHDIFFEQ_SOLVERS = [name for name, spec in SOLVERS.items() if spec.torchdiffeq]
