"""``latent``: the Neural ODE paper's latent ODE on irregularly sampled spirals (torchdiffeq's ``latent_ode.py``).

Data: ``batch`` 2-D spirals (clockwise or not, random phase, radius growing with time) observed
with noise at ``outputs`` irregular times in (0, horizon] shared by the batch (sorted uniform
draws, scaled so that the last is at the horizon), all generated deterministically from the seed.
On a fixed grid each observation time off the ``steps`` equal steps adds one step.

Model (as in the paper, section 5.1): a GRU encoder reads the observations backwards in time
(each step sees the observation and the time gap to the next one) and gives q(z0) = N(mean,
exp(logvar)); z0 = mean + exp(logvar / 2) eps with eps drawn once from the seed; the latent
state (``dim`` = 4) follows the ODE dz/dt = f(z), f an ELU MLP (``width`` 20, ``layers`` hidden
layers); a decoder MLP maps z(t_k) to the observation space at each observation time. Loss: the
negative ELBO per spiral, averaged over the batch: the Gaussian negative log-likelihood of the
observations (noise std 0.1), summed over observation times, plus KL(q(z0) || N(0, I)).

The encoder and decoder are trained with the field: their gradients are measured too (the
adjoint methods reach the encoder through dL/dz0).

Training stages (the ``stage`` axis): stage 0 is the model initialised from the seed; stages 1..3
are snapshots of encoder, field and decoder after 1/3, 2/3 and all of a fit (:data:`SCHEDULE`:
1500 Adam steps at 1e-2, each on a fresh batch of 64 spirals at 20 fresh observation times, direct
backpropagation through an rk4 grid of 20 steps over [0, 1], seed 0, one thread; about a minute
for a 50 x 2 field), fitted once per size and cached (:mod:`neural_ode.workloads.stages`). The
default 20 x 1 field stayed below 100 forward NFE at rtol 1e-5 in trials (74 after 1500 steps on
one fixed batch); a 50 x 2 one (the ``validation`` preset's) needs about 20, 128, 116 and 110 at
stages 0..3 (measured when fitted, written beside the cached fit).
"""

from __future__ import annotations

import math

import torch
from torch import nn

from neural_ode.workloads.base import Problem, Workload
from neural_ode.workloads.mlp import tanh_mlp
from neural_ode.workloads.stages import Schedule, fit_stages, load_stage

OBS_DIM = 2
ENCODER_HIDDEN = 25
DECODER_HIDDEN = 20
NOISE_STD = 0.1
#: the staged fit (``stage`` 1..3): encoder, field and decoder trained together by Adam at 1e-2 on
#: a fresh batch of spirals at fresh observation times each iteration (the negative ELBO), direct
#: backpropagation through an rk4 grid of 20 steps over [0, 1]
SCHEDULE = Schedule(iterations=1500, stages=3, lr=1e-2, grid_steps=20)
FIT_BATCH = 64
FIT_OUTPUTS = 20
FIT_DATA_SEED = 1  # the training batches are drawn apart from the cells' data (seed 0 and up)
FIT_VERSION = 1


def observation_times(count: int, horizon: float, generator: torch.Generator) -> torch.Tensor:
    """``count`` distinct irregular times in (0, horizon], sorted, the last at ``horizon`` (float64).

    Sorted uniform draws scaled so the last observation is at the horizon: the solve spans the
    whole [0, horizon] (the depth axis keeps its meaning) and the other times are irregular.
    """
    draws = torch.sort(1.0 - torch.rand(count, generator=generator, dtype=torch.float64)).values  # in (0, 1]
    times = draws / draws[-1] * horizon
    times[-1] = horizon
    return times


def spirals(times: torch.Tensor, horizon: float, batch: int, generator: torch.Generator) -> torch.Tensor:
    """Noisy 2-D spirals at ``times``: shape ``(len(times), batch, 2)``, float32."""
    s = (times / horizon).float()[:, None]  # (N, 1) in (0, 1]
    direction = torch.where(torch.rand(batch, generator=generator) < 0.5, -1.0, 1.0)[None, :]
    phase = torch.rand(batch, generator=generator)[None, :] * 2 * math.pi
    theta = phase + direction * 3 * math.pi * s
    radius = 0.5 + 1.5 * s
    clean = torch.stack([radius * torch.cos(theta), radius * torch.sin(theta)], dim=-1)
    return clean + NOISE_STD * torch.randn(clean.shape, generator=generator)


class LatentField(nn.Module):
    """dz/dt = f(z): an ELU MLP on the latent state."""

    def __init__(self, latent: int, width: int, layers: int = 1):
        super().__init__()
        self.net = tanh_mlp(latent, width, latent, layers, activation=nn.ELU)

    def forward(self, t, z):
        return self.net(z)


class Encoder(nn.Module):
    """A GRU run backwards over (observation, time gap) pairs; q(z0)'s mean and log-variance."""

    def __init__(self, latent: int, hidden: int = ENCODER_HIDDEN):
        super().__init__()
        self.cell = nn.GRUCell(OBS_DIM + 1, hidden)
        self.out = nn.Linear(hidden, 2 * latent)
        self.hidden = hidden

    def forward(self, observations: torch.Tensor, times: torch.Tensor):
        gaps = torch.diff(times, prepend=times[:1] * 0)  # time from the previous observation (from 0 first)
        h = observations.new_zeros(observations.shape[1], self.hidden)
        for k in reversed(range(len(times))):
            gap = gaps[k].expand(observations.shape[1], 1).to(observations.dtype)
            h = self.cell(torch.cat([observations[k], gap], dim=1), h)
        mean, logvar = self.out(h).chunk(2, dim=1)
        return mean, logvar


class LatentProblem(Problem):
    """A latent-ODE problem: the initial state is the encoder's sample, the loss the negative ELBO."""

    def __init__(self, field, encoder, decoder, observations, times, eps):
        super().__init__(field=field, y0=eps, times=times, modules=(encoder, decoder))
        self.encoder, self.decoder = encoder, decoder
        self.observations, self.eps = observations, eps
        self.kl = None

    def initial_state(self) -> torch.Tensor:
        """z0 = mean + exp(logvar / 2) eps from the encoder; KL(q(z0) || N(0, I)) is kept for the loss."""
        mean, logvar = self.encoder(self.observations, self.times)
        self.kl = 0.5 * (mean.pow(2) + logvar.exp() - 1 - logvar).sum(dim=1)
        return mean + (0.5 * logvar).exp() * self.eps

    def loss(self, trajectory: torch.Tensor) -> torch.Tensor:
        """Negative ELBO per spiral, batch mean: Gaussian NLL over observation times + KL."""
        predicted = self.decoder(trajectory)
        nll = 0.5 * ((predicted - self.observations) / NOISE_STD).pow(2) + math.log(NOISE_STD * math.sqrt(2 * math.pi))
        kl = self.kl if self.kl is not None else torch.zeros(())
        return (nll.sum(dim=(0, 2)) + kl).mean()


class LatentWorkload(Workload):
    name = "latent"
    description = (
        "latent ODE (paper sec. 5.1): GRU encoder backwards over noisy 2-D spirals at --outputs irregular times "
        "(20), latent dim 4, ELU field width 20, decoder, negative ELBO; batch 64; --stage 1..3: fitted (cached)"
    )
    defaults = {"batch": 64, "width": 20, "dim": 4, "layers": 1, "outputs": 20}
    stages = SCHEDULE.stages

    def parameters_key(self, width: int, layers: int, stage: int = 0) -> str:
        return f"latent-fit-v{FIT_VERSION}-{SCHEDULE.key()}-b{FIT_BATCH}-o{FIT_OUTPUTS}-stage{stage}" if stage else ""

    def prepare(self, config, progress: bool = True) -> None:
        if config.stage:
            fitted(config, progress)

    def build(self, config, dtype: torch.dtype | None = None, device: str | None = None) -> Problem:
        """The problem of ``config``: encoder, field and decoder initialised from the seed, or at
        ``stage`` > 0 the staged fit's snapshot of all three (fitted once, cached)."""
        problem = self._untrained(config, dtype, device)
        if config.stage:
            load_stage(problem, fitted(config)["states"][config.stage])
        return problem

    def _untrained(self, config, dtype: torch.dtype | None = None, device: str | None = None) -> Problem:
        dtype = dtype or getattr(torch, config.dtype)
        device = device or config.device
        generator = torch.Generator().manual_seed(config.seed)
        times = observation_times(config.outputs, config.horizon, generator)
        observations = spirals(times, config.horizon, config.batch, generator)
        eps = torch.randn(config.batch, config.dim, generator=generator)
        torch.manual_seed(config.seed)
        field = LatentField(config.dim, config.width, config.layers)
        encoder = Encoder(config.dim)
        decoder = nn.Sequential(nn.Linear(config.dim, DECODER_HIDDEN), nn.ReLU(), nn.Linear(DECODER_HIDDEN, OBS_DIM))
        for module in (field, encoder, decoder):
            module.to(dtype=dtype, device=device)
        return LatentProblem(
            field,
            encoder,
            decoder,
            observations.to(dtype=dtype, device=device),
            times.to(dtype=dtype, device=device),
            eps.to(dtype=dtype, device=device),
        )


def fit_key(dim: int, width: int, layers: int) -> str:
    """What identifies the staged fit of a latent ODE with a ``dim`` latent state and a ``width`` x ``layers`` field."""
    return (f"latent-fit-v{FIT_VERSION}-d{dim}-w{width}-l{layers}-{SCHEDULE.key()}-b{FIT_BATCH}-o{FIT_OUTPUTS}"
            f"-torch{torch.__version__}")  # fmt: skip


def fitted(config, progress: bool = True) -> dict:
    """The stages of the latent ODE fitted to spirals (see :func:`neural_ode.workloads.stages.fit_stages`):
    fitted once, deterministically, and cached, for ``config``'s dim, width and layers."""
    import torchdiffeq

    dim, width, layers = config.dim, config.width, config.layers
    cell = type(config)  # the cell config's class: the workloads sit below neural_ode.config

    def problem():
        stage_zero = cell(workload="latent", solver="dopri5", dim=dim, width=width, layers=layers)
        return LatentWorkload()._untrained(stage_zero), stage_zero

    generator = torch.Generator().manual_seed(FIT_DATA_SEED)

    def loss(problem: LatentProblem, iteration: int) -> torch.Tensor:
        times = observation_times(FIT_OUTPUTS, 1.0, generator)
        problem.observations = spirals(times, 1.0, FIT_BATCH, generator)
        problem.eps = torch.randn(FIT_BATCH, dim, generator=generator)
        problem.times = times.float()
        z0 = problem.initial_state()
        solve = torch.cat([torch.zeros(1), problem.times])  # the first observation is after t = 0
        step = {"step_size": 1 / SCHEDULE.grid_steps}
        trajectory = torchdiffeq.odeint(problem.field, z0, solve, method="rk4", options=step)
        return problem.loss(trajectory[1:])

    return fit_stages("latent", fit_key(dim, width, layers), problem, loss, SCHEDULE, progress)
