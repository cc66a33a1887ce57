"""The texts of the adjoint rows counted in their published settings (:mod:`neural_ode.apps.published.settings`):
what we found, the mechanism, and a verdict that names the setting.

Verdict levels for a saving against its published size (:func:`saving_verdict`): a ratio within
:data:`REPRODUCED_BELOW` is the published saving, one below :data:`SAVING_BELOW` a smaller saving
("partly reproduced"), anything else none.
"""

from __future__ import annotations

import numpy as np

from neural_ode.apps.published.counted import PassCounts
from neural_ode.apps.published.settings import DIGITS, RELATIONS, SeminormCount

#: the seminorm's published median backward-evaluation ratio (40 % fewer) and the verdict levels
PUBLISHED_RATIO = 0.6
REPRODUCED_BELOW = 0.7
SAVING_BELOW = 0.95


def saving_verdict(ratio: float) -> str:
    """``reproduced`` (ratio at most :data:`REPRODUCED_BELOW`), ``partly reproduced`` (a smaller saving, below
    :data:`SAVING_BELOW`) or ``not reproduced`` (no saving)."""
    if ratio <= REPRODUCED_BELOW:
        return "reproduced"
    return "partly reproduced" if ratio < SAVING_BELOW else "not reproduced"


def _median(counts: list[SeminormCount], norm: str) -> float:
    return float(np.median([c.ratio(norm) for c in counts]))


def _family(count: SeminormCount) -> str:
    """The workload of a counted field (its label's first word: ``cnf``, ``latent``, ``mlp``)."""
    return count.field.split()[0]


def seminorm_texts(counts: list[SeminormCount]) -> tuple[str, str, str, str]:
    """(ours, measured on, mechanism, verdict) of the seminorm counted at both tolerance relations: per relation
    the median backward-NFE ratio of each workload's fields (torchdiffeq's seminorm / without the time adjoint)."""
    parts, verdicts = [], []
    for relation in RELATIONS:
        rows = [c for c in counts if c.relation == relation]
        if not rows:
            continue
        by = []
        for family in dict.fromkeys(_family(c) for c in rows):
            mine = [c for c in rows if _family(c) == family]
            by.append(f"{family} {_median(mine, 'seminorm'):.2f}/{_median(mine, 'seminorm-no-time'):.2f}")
        seminorm, no_time = _median(rows, "seminorm"), _median(rows, "seminorm-no-time")
        best = min(c.ratio("seminorm-no-time") for c in rows)
        parts.append(f"{relation}: backward NFE over the full norm's, torchdiffeq's seminorm / also without the time "
                     f"adjoint: {', '.join(by)} (medians over stages and rtols; all: {seminorm:.2f}/{no_time:.2f}, "
                     f"best {best:.2f})")  # fmt: skip
        verdicts.append(f"{saving_verdict(seminorm)} with torchdiffeq's seminorm at {relation} ({seminorm:.2f}x), "
                        f"{saving_verdict(no_time)} without the time adjoint too ({no_time:.2f}x)")  # fmt: skip
    fields = list(dict.fromkeys(c.field for c in counts))
    rtols = sorted({c.rtol for c in counts})
    on = (f"{len(counts)} counted settings: {', '.join(fields)}; dopri5 at rtol {', '.join(f'{r:g}' for r in rtols)}, "
          "each at rtol = atol and atol = rtol/1000; torchdiffeq's adjoint, one pass per norm, one thread")  # fmt: skip
    mechanism = ("the parameter adjoint starts at zero in a one-output solve, so its error tolerance is atol: at "
                 "rtol = atol it rarely limits the backward step and leaving it out changes little; at atol = "
                 "rtol/1000 it does. With many output times (latent, 20) it is already large in every interval but "
                 "the last. torchdiffeq's seminorm keeps the time adjoint (the integral of a·∂f/∂t, non-zero for a "
                 "time-dependent field such as cnf's; zero for the autonomous latent and mlp fields), so on cnf part "
                 "of the paper's saving needs it left out too")  # fmt: skip
    return "; ".join(parts), on, mechanism, "; ".join(verdicts)


def half_texts(counts: list[tuple[float, PassCounts]], band: tuple[float, float]) -> tuple[str, str, str, str]:
    """(ours, measured on, mechanism, verdict) of backward/forward NFE on the digits ODE-Net at one output time,
    judged against ``band`` (the published "about half")."""
    ratios = [c.backward_over_forward for _, c in counts]
    tols = ", ".join(f"{r:g}" for r, _ in counts)
    def listed(pick) -> str:
        return ", ".join(pick(c) for _, c in counts)

    ours = (f"backward/forward NFE {', '.join(f'{x:.2f}' for x in ratios)} at rtol {tols} (forward NFE "
            f"{listed(lambda c: str(c.nfe_forward))}, backward {listed(lambda c: str(c.nfe_backward))}); "
            f"accepted steps forward/backward {listed(lambda c: f'{c.accepted_forward}/{c.accepted_backward}')}; "
            f"rejected forward/backward {listed(lambda c: f'{c.rejected_forward}/{c.rejected_backward}')}")  # fmt: skip
    on = (f"the trained ODE-Net classifier on the digits (width {DIGITS['width']}, batch {DIGITS['batch']}), dopri5 "
          f"at rtol = atol = {tols}, one output time, torchdiffeq's adjoint; steps counted by its callbacks")
    equal = sum(c.accepted_forward == c.accepted_backward for _, c in counts)
    extra = ", ".join(str(c.rejected_backward - c.rejected_forward) for _, c in counts)
    mechanism = (f"accepted steps equal both ways at {equal} of {len(counts)} tolerances: the backward solve of the "
                 "state, its adjoint and the parameter adjoint under one error norm takes as many steps as the forward "
                 f"solve, not half; the excess is rejected backward steps ({extra} more than forward)")  # fmt: skip
    median = float(np.median(ratios))
    inside = band[0] <= median <= band[1]
    verdict = (f"{'reproduced' if inside else 'not reproduced'} on the trained digits ODE-Net at one output time "
               f"(median {median:.2f})")  # fmt: skip
    return ours, on, mechanism, verdict


__all__ = ["PUBLISHED_RATIO", "REPRODUCED_BELOW", "SAVING_BELOW", "half_texts", "saving_verdict", "seminorm_texts"]
