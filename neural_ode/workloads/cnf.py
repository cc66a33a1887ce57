"""``cnf`` / ``cnf-hutchinson``: a continuous normalizing flow in the FFJORD style.

The state is ``[z, delta]`` (shape ``(batch, dim + 1)``): the sample z and the running change of
its log-density, d delta/dt = -tr(df/dz). Integrated from data x at t = 0 to the base at t = T,
log p(x) = log N(z(T); 0, I) - delta(T). The loss is the negative log-likelihood, averaged over
the batch, of samples from a 2-D toy density (two moons, drawn from the seed); with ``dim`` > 2
the other coordinates are standard normal. With several output times the NLL of the flow stopped
at each of them is summed.

The divergence: ``cnf`` computes it exactly, one vector-Jacobian product per dimension (what a
small dimension affords); ``cnf-hutchinson`` estimates it as e^T (df/dz) e with one Rademacher
vector e per sample, drawn once per problem from the seed and held fixed through the solve (as
FFJORD does), so one product per evaluation whatever the dimension. The field is FFJORD's
concat-time MLP: [z, t] -> width (tanh, ``layers`` hidden layers) -> dim.

Training stages (the ``stage`` axis): stage 0 is the field initialised from the seed; stages 1..3
are snapshots after 1/3, 2/3 and all of a fit to two moons (:data:`SCHEDULE`: 600 Adam steps at
1e-2 on fresh batches of 256 samples, direct backpropagation through an rk4 grid of 8 steps over
[0, 1], seed 0, one thread; about half a minute), fitted once per size and cached
(:mod:`neural_ode.workloads.stages`). The default field (dim 2, 64 x 2) then needs about 20, 74,
110 and 122 forward evaluations of dopri5 at rtol = atol = 1e-5 (measured when fitted, written
beside the cached fit).
"""

from __future__ import annotations

import math

import torch
from torch import nn

from neural_ode.workloads.base import Problem, Workload
from neural_ode.workloads.stages import Schedule, fit_stages, load_stage

#: the staged fit (``stage`` 1..3): Adam at 1e-2 on fresh two-moons batches, direct backpropagation
#: through an rk4 grid of 8 steps over [0, 1]; shared by ``cnf`` and ``cnf-hutchinson`` (trained
#: with the exact divergence, the same field)
SCHEDULE = Schedule(iterations=600, stages=3, lr=1e-2, grid_steps=8)
FIT_BATCH = 256
FIT_DATA_SEED = 1  # the training batches are drawn apart from the cells' samples (seed 0 and up)
FIT_VERSION = 1


class CNFField(nn.Module):
    """f(t, [z, delta]) = [g(t, z), -div_z g(t, z)], g a concat-time tanh MLP."""

    def __init__(self, dim: int, width: int, layers: int = 1, divergence: str = "exact"):
        super().__init__()
        modules: list[nn.Module] = [nn.Linear(dim + 1, width), nn.Tanh()]
        for _ in range(layers - 1):
            modules += [nn.Linear(width, width), nn.Tanh()]
        modules.append(nn.Linear(width, dim))
        self.net = nn.Sequential(*modules)
        self.dim = dim
        self.divergence = divergence
        self.register_buffer("noise", None)

    def dynamics(self, t, z):
        """g(t, z): the flow's velocity."""
        tt = torch.ones_like(z[:, :1]) * t
        return self.net(torch.cat([z, tt], dim=1))

    def forward(self, t, state):
        with torch.enable_grad():
            z = state[:, : self.dim]
            if not z.requires_grad:
                z = z.detach().requires_grad_(True)
            dz = self.dynamics(t, z)
            if self.divergence == "exact":
                div = exact_divergence(dz, z)
            else:
                div = hutchinson_divergence(dz, z, self.noise)
        return torch.cat([dz, -div[:, None]], dim=1)


def exact_divergence(dz: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
    """tr(d dz / dz) per sample, one vector-Jacobian product per dimension (differentiable)."""
    div = torch.zeros_like(dz[:, 0])
    for i in range(dz.shape[1]):
        div = div + torch.autograd.grad(dz[:, i].sum(), z, create_graph=True)[0][:, i]
    return div


def hutchinson_divergence(dz: torch.Tensor, z: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
    """e^T (d dz / dz) e per sample: an unbiased estimate of the trace, one vector-Jacobian product."""
    e_jacobian = torch.autograd.grad(dz, z, noise, create_graph=True)[0]
    return (e_jacobian * noise).sum(dim=1)


def two_moons(count: int, generator: torch.Generator, noise: float = 0.1) -> torch.Tensor:
    """``count`` points of the two-moons density (scikit-learn's shape, centred and scaled), float32."""
    upper = torch.rand(count, generator=generator) < 0.5
    angle = torch.rand(count, generator=generator) * math.pi
    x = torch.where(upper, torch.cos(angle), 1 - torch.cos(angle))
    y = torch.where(upper, torch.sin(angle), 0.5 - torch.sin(angle))
    points = torch.stack([x - 0.5, y - 0.25], dim=1) * 2
    return points + noise * torch.randn(count, 2, generator=generator)


def cnf_nll(trajectory: torch.Tensor, dim: int) -> torch.Tensor:
    """Sum over output times of the batch-mean negative log-likelihood, -log N(z) + delta."""
    z, delta = trajectory[..., :dim], trajectory[..., dim]
    log_base = -0.5 * z.pow(2).sum(-1) - 0.5 * dim * math.log(2 * math.pi)
    return -(log_base - delta).mean(-1).sum()


class CNFWorkload(Workload):
    defaults = {"batch": 256, "width": 64, "dim": 2, "layers": 2, "outputs": 1}

    def __init__(self, divergence: str = "exact"):
        if divergence not in ("exact", "hutchinson"):
            raise ValueError(f"divergence must be 'exact' or 'hutchinson', got {divergence!r}")
        self.divergence = divergence
        self.name = "cnf" if divergence == "exact" else "cnf-hutchinson"
        kind = (
            "exact divergence (dim vector-Jacobian products per evaluation)"
            if divergence == "exact"
            else "Hutchinson divergence estimate (one Rademacher probe, fixed per solve)"
        )
        self.description = (
            f"FFJORD-style continuous normalizing flow, {kind}; NLL of two-moons samples; "
            "dim 2, concat-time tanh MLP 64x2, batch 256; --stage 1..3: fitted to two moons (cached)"
        )

    stages = SCHEDULE.stages

    def parameters_key(self, width: int, layers: int, stage: int = 0) -> str:
        return f"cnf-fit-v{FIT_VERSION}-{SCHEDULE.key()}-b{FIT_BATCH}-stage{stage}" if stage else ""

    def prepare(self, config, progress: bool = True) -> None:
        if config.stage:
            fitted(config, progress)

    def build(self, config, dtype: torch.dtype | None = None, device: str | None = None) -> Problem:
        """The problem of ``config``: the field initialised from the seed, or at ``stage`` > 0 the
        staged fit's snapshot (fitted once, cached)."""
        problem = self._untrained(config, dtype, device)
        if config.stage:
            load_stage(problem, fitted(config)["states"][config.stage])
        return problem

    def _untrained(self, config, dtype: torch.dtype | None = None, device: str | None = None) -> Problem:
        dtype = dtype or getattr(torch, config.dtype)
        device = device or config.device
        torch.manual_seed(config.seed)
        field = CNFField(config.dim, config.width, config.layers, self.divergence)
        generator = torch.Generator().manual_seed(config.seed)
        samples = two_moons(config.batch, generator)
        if config.dim > 2:
            samples = torch.cat([samples, torch.randn(config.batch, config.dim - 2, generator=generator)], dim=1)
        else:
            samples = samples[:, : config.dim]
        noise = (torch.randint(0, 2, (config.batch, config.dim), generator=generator) * 2 - 1).float()
        field.noise = noise
        field = field.to(dtype=dtype, device=device)
        y0 = torch.cat([samples, torch.zeros(config.batch, 1)], dim=1).to(dtype=dtype, device=device)
        dim = config.dim
        return Problem(field=field, y0=y0, loss_fn=lambda trajectory: cnf_nll(trajectory, dim))


def fit_key(dim: int, width: int, layers: int) -> str:
    """What identifies the staged fit of a ``dim``-dimensional, ``width`` x ``layers`` CNF field."""
    return f"cnf-fit-v{FIT_VERSION}-d{dim}-w{width}-l{layers}-{SCHEDULE.key()}-b{FIT_BATCH}-torch{torch.__version__}"


def fitted(config, progress: bool = True) -> dict:
    """The stages of the CNF field fitted to two moons (see :func:`neural_ode.workloads.stages.fit_stages`):
    fitted once, deterministically, and cached, for ``config``'s dim, width and layers; the NLL of fresh
    batches of :data:`FIT_BATCH` samples."""
    import torchdiffeq

    dim, width, layers = config.dim, config.width, config.layers
    cell = type(config)  # the cell config's class: the workloads sit below neural_ode.config

    def problem():
        stage_zero = cell(workload="cnf", solver="dopri5", dim=dim, width=width, layers=layers)
        return CNFWorkload()._untrained(stage_zero), stage_zero

    generator = torch.Generator().manual_seed(FIT_DATA_SEED)
    times = torch.tensor([0.0, 1.0])

    def loss(problem: Problem, iteration: int) -> torch.Tensor:
        samples = two_moons(FIT_BATCH, generator)
        if dim > 2:
            samples = torch.cat([samples, torch.randn(FIT_BATCH, dim - 2, generator=generator)], dim=1)
        y0 = torch.cat([samples[:, :dim], torch.zeros(FIT_BATCH, 1)], dim=1)
        step = {"step_size": 1 / SCHEDULE.grid_steps}
        trajectory = torchdiffeq.odeint(problem.field, y0, times, method="rk4", options=step)
        return cnf_nll(trajectory[1:], dim)

    return fit_stages("cnf", fit_key(dim, width, layers), problem, loss, SCHEDULE, progress)
