"""``spiral``: the trained field of torchdiffeq's ``ode_demo.py``, so adaptive solvers have work to do.

torchdiffeq's demo learns the cubic spiral dy/dt = (y**3) A, A = [[-0.1, 2], [-2, -0.1]], from
y(0) = (2, 0) over t in [0, 25] (1000 points), with the field f(t, y) = W2 tanh(W1 y**3 + b1) + b2
(2 -> 50 -> 2). A randomly initialised field is nearly linear and dopri5 crosses it in a few
steps; the fitted one has the spiral's dynamics, so an adaptive solve at 1e-5 takes tens to
hundreds of steps, as in real training.

The fit is done once per field size, deterministically (seed 0, the demo's RMSprop at 1e-3 on
random 10-point segments of the spiral, batch 20, backpropagating through an rk4 step per data
interval), in float64 on the CPU, and cached on disk next to the references
(``$NEURAL_ODE_BENCH_CACHE``). Time is rescaled so that ``horizon`` 1 is the demo's whole
interval [0, 25]: the field is 25 f. The batch is ``batch`` points on the true spiral (at evenly
spaced times of its first half), the loss the squared distance from the true spiral at the
output times (one output: the final state).
"""

from __future__ import annotations

import functools

import torch
from torch import nn

from neural_ode.workloads.base import Problem, Workload
from neural_ode.workloads.cache import disk_cached, fitting
from neural_ode.workloads.mlp import tanh_mlp

#: the demo's spiral: dy/dt = (y**3) @ TRUE_A from TRUE_Y0 over [0, DEMO_T1]
TRUE_A = ((-0.1, 2.0), (-2.0, -0.1))
TRUE_Y0 = (2.0, 0.0)
DEMO_T1 = 25.0
DEMO_POINTS = 1000
#: the fit: the demo's optimiser and segment batches, fewer iterations (the cached fit is reused)
FIT_ITERATIONS = 200
FIT_BATCH = 20
FIT_SEGMENT = 10
FIT_VERSION = 2


class SpiralField(nn.Module):
    """The demo's ODEFunc on rescaled time: ``scale * net(y**3)``, net 2 -> width (x layers) -> 2, tanh."""

    def __init__(self, width: int = 50, layers: int = 1, scale: float = DEMO_T1):
        super().__init__()
        self.net = tanh_mlp(2, width, 2, layers)
        self.scale = scale

    def forward(self, t, y):
        return self.scale * self.net(y**3)


def true_spiral(times: torch.Tensor, y0: torch.Tensor | None = None) -> torch.Tensor:
    """The demo's true trajectory at ``times`` (demo time units), float64, solved as the demo does
    (dopri5 at torchdiffeq's default rtol 1e-7, atol 1e-9)."""
    import torchdiffeq

    a = torch.tensor(TRUE_A, dtype=torch.float64)
    y0 = torch.tensor([TRUE_Y0], dtype=torch.float64) if y0 is None else y0
    return torchdiffeq.odeint(lambda t, y: (y**3) @ a, y0, times.double(), rtol=1e-7, atol=1e-9)


@functools.cache
def demo_data() -> tuple[torch.Tensor, torch.Tensor]:
    """The demo's data: times (demo units) and the true spiral there, float64, ``(points, 2)``;
    the solve (about 0.7 s) is cached on disk."""
    t = torch.linspace(0.0, DEMO_T1, DEMO_POINTS, dtype=torch.float64)
    key = f"spiral-data-{DEMO_T1}-{DEMO_POINTS}-torch{torch.__version__}"
    return t, disk_cached("spiral-data", key, lambda: true_spiral(t)[:, 0])


@functools.lru_cache(maxsize=8)
def _target(starts: tuple[float, ...], times: tuple[float, ...]) -> torch.Tensor:
    """The true spiral continued from each start time (demo units) at each output time, float64,
    shape ``(outputs, batch, 2)``; cached, since a cell builds its problem more than once."""

    def solve() -> torch.Tensor:
        wanted = torch.tensor(starts, dtype=torch.float64)[:, None] + torch.tensor(times, dtype=torch.float64)
        unique, where = torch.unique(wanted.reshape(-1), sorted=True, return_inverse=True)
        along = true_spiral(torch.cat([torch.zeros(1, dtype=torch.float64), unique]))[1:, 0]  # (unique, 2)
        return along[where].reshape(len(starts), len(times), 2).transpose(0, 1).contiguous()

    key = f"spiral-target-{starts!r}-{times!r}-torch{torch.__version__}"
    return disk_cached("spiral-target", key, solve)


def fit_key(width: int, layers: int) -> str:
    """What identifies the fitted parameters of a ``width`` x ``layers`` spiral field."""
    return f"spiral-fit-v{FIT_VERSION}-w{width}-l{layers}-it{FIT_ITERATIONS}-torch{torch.__version__}"


def fit_state(width: int, layers: int) -> dict:
    """The fitted parameters of a ``width`` x ``layers`` spiral field (computed once, cached on disk)."""
    return disk_cached("spiral", fit_key(width, layers), lambda: _fit(width, layers))


def _fit(width: int, layers: int) -> dict:
    """The demo's training loop (RMSprop 1e-3, random segments), deterministic, float64, one thread."""
    generator = torch.Generator().manual_seed(0)
    with fitting():
        field = SpiralField(width, layers, scale=1.0).double()
        t, y = demo_data()
        dt = float(t[1] - t[0])
        optimiser = torch.optim.RMSprop(field.parameters(), lr=1e-3)
        for _ in range(FIT_ITERATIONS):
            starts = torch.randint(0, DEMO_POINTS - FIT_SEGMENT, (FIT_BATCH,), generator=generator)
            state = y[starts]
            loss = 0.0
            for k in range(1, FIT_SEGMENT):  # one rk4 step per data interval (the data's own grid)
                k1 = field(None, state)
                k2 = field(None, state + dt / 2 * k1)
                k3 = field(None, state + dt / 2 * k2)
                k4 = field(None, state + dt * k3)
                state = state + dt / 6 * (k1 + 2 * k2 + 2 * k3 + k4)
                loss = loss + (state - y[starts + k]).abs().mean()
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
    return {name: value.detach().clone() for name, value in field.net.state_dict().items()}


class SpiralWorkload(Workload):
    name = "spiral"
    description = (
        "torchdiffeq ode_demo's field (y**3 -> 50 tanh -> 2) fitted once to its cubic spiral and cached; "
        "horizon 1 = the demo's [0, 25]; batch 16"
    )
    defaults = {"batch": 16, "width": 50, "dim": 2, "layers": 1, "outputs": 1}
    trained = True  # fitted once to ode_demo's spiral

    def parameters_key(self, width: int, layers: int, stage: int = 0) -> str:
        return fit_key(width, layers)

    def build(self, config, dtype: torch.dtype | None = None, device: str | None = None) -> Problem:
        dtype = dtype or getattr(torch, config.dtype)
        device = device or config.device
        field = SpiralField(config.width, config.layers)
        field.net.load_state_dict(fit_state(config.width, config.layers))
        field = field.to(dtype=dtype, device=device)
        generator = torch.Generator().manual_seed(config.seed)
        t_data, y = demo_data()
        starts = torch.randint(0, DEMO_POINTS // 2, (config.batch,), generator=generator)
        y0 = y[starts]
        problem = Problem(field=field, y0=y0.to(dtype=dtype, device=device))
        # the loss: squared distance from the true spiral continued from each start, at the output times;
        # the system is autonomous, so that is the one true trajectory at the start's time plus t
        times = problem.output_times(config, torch.float64, "cpu") * DEMO_T1
        target = _target(tuple(t_data[starts].tolist()), tuple(times.tolist()))  # (outputs, batch, 2)
        problem.target = target.to(dtype=dtype, device=device, copy=True)
        problem.loss_fn = problem_target_loss(problem.target)
        return problem


def problem_target_loss(target: torch.Tensor):
    """Sum over output times of the mean squared distance from ``target[k]`` (the true spiral)."""

    def loss(trajectory: torch.Tensor) -> torch.Tensor:
        if len(trajectory) == 1:
            return (trajectory[0] - target[0]).pow(2).mean()
        return (trajectory - target).pow(2).flatten(1).mean(1).sum()

    return loss
