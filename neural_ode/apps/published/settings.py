"""The adjoint's published claims measured in their own settings, counted on the spot.

* :func:`seminorm_counts`: backward evaluations of torchdiffeq's adjoint with its full norm, its
  seminorm and the seminorm without the time adjoint (:mod:`neural_ode.apps.published.counted`), at
  rtol = atol and at atol = rtol/1000, on the trained cnf and latent stages (the validation preset's
  sizes) and on an untrained MLP with many parameters (2-256-256-2, 66,818 parameters). Why both
  tolerance relations: the parameter adjoint starts at zero, so its error tolerance is set by atol;
  with rtol = atol it rarely limits the step, and leaving it out of the norm changes nothing.
* :func:`half_counts`: backward over forward evaluations as Chen et al. measured them (Figure 3c):
  the trained ODE-Net classifier (``digits``), one output time, accepted and rejected steps apart
  in both directions.

Counts only (any machine gives the same figures). The fitted fields are fitted once and cached
(:mod:`neural_ode.workloads.stages`; a few minutes the first time), then about a minute of one core.
"""

from __future__ import annotations

from dataclasses import dataclass

from neural_ode.apps.published.counted import NORMS, PassCounts, count_pass
from neural_ode.config import CellConfig

#: the fields the seminorm is counted on: (label, cell settings); cnf and latent at the validation
#: preset's sizes, each at its trained stages
SEMINORM_FIELDS = (
    *((f"cnf stage {s}", {"workload": "cnf", "stage": s, "batch": 256, "width": 64, "dim": 2, "layers": 2})
      for s in (1, 2, 3)),
    *((f"latent stage {s}", {"workload": "latent", "stage": s, "batch": 64, "width": 50, "dim": 4, "layers": 2,
                             "outputs": 20}) for s in (1, 2, 3)),
    ("mlp 2-256-256-2 (untrained)", {"workload": "mlp", "batch": 16, "width": 256, "dim": 2, "layers": 2}),
)  # fmt: skip
#: tolerance relations: name -> atol as a function of rtol
RELATIONS = {"rtol = atol": lambda rtol: rtol, "atol = rtol/1000": lambda rtol: rtol / 1000}
#: the relative tolerances counted
RTOLS = (1e-3, 1e-5)
#: the digits ODE-Net of the validation preset (one output time), and the tolerances counted
DIGITS = {"workload": "digits", "batch": 32, "width": 64, "dim": 4, "layers": 2}
HALF_RTOLS = (1e-3, 1e-4, 1e-5)


@dataclass(frozen=True)
class SeminormCount:
    """One field at one setting: the counts under each backward norm of :data:`NORMS`."""

    field: str
    relation: str
    rtol: float
    counts: dict  # norm name -> PassCounts

    def ratio(self, norm: str) -> float:
        """Backward evaluations under ``norm`` over those under the full norm."""
        return self.counts[norm].nfe_backward / self.counts["full"].nfe_backward


def _config(settings: dict, rtol: float, atol: float) -> CellConfig:
    return CellConfig(solver="dopri5", method="adjoint", rtol=rtol, atol=atol, **settings)


def seminorm_counts(fields=SEMINORM_FIELDS, rtols=RTOLS) -> list[SeminormCount]:
    """Every field of ``fields`` at every rtol of ``rtols`` and relation of :data:`RELATIONS`, under every norm."""
    out = []
    for label, settings in fields:
        for relation, atol_of in RELATIONS.items():
            for rtol in rtols:
                config = _config(settings, rtol, atol_of(rtol))
                out.append(SeminormCount(label, relation, rtol, {norm: count_pass(config, norm) for norm in NORMS}))
    return out


def half_counts(rtols=HALF_RTOLS) -> list[tuple[float, PassCounts]]:
    """(rtol, counts) of the trained digits ODE-Net at rtol = atol for each of ``rtols`` (full norm)."""
    return [(rtol, count_pass(_config(DIGITS, rtol, rtol))) for rtol in rtols]


__all__ = ["DIGITS", "HALF_RTOLS", "RELATIONS", "RTOLS", "SEMINORM_FIELDS", "SeminormCount", "half_counts",
           "seminorm_counts"]  # fmt: skip
