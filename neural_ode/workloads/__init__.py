"""The workload registry: what is integrated, and the loss that is differentiated.

A workload builds a :class:`Problem` from a cell config: the vector field, the initial state,
the output times the loss looks at, and the loss over the states at those times. Adding one is a
module with a :class:`Workload` subclass and one entry in ``WORKLOADS``; a user's own model is a
factory named ``package.module:function`` (see :mod:`neural_ode.workloads.user`).

Output times (the ``outputs`` axis): a problem's loss depends on the states at N output times.
Unless the workload brings its own times (``Problem.times``, e.g. the latent ODE's irregular
observation times), they are evenly spaced in (0, horizon]: ``horizon * k / N`` for k = 1..N.
t = 0 does not count as an output (the initial state is not a solver output); ``outputs = 1`` is
the final state alone. The solve always starts at t = 0; a workload whose own times start at 0
gets the initial state as its first output.
"""

from __future__ import annotations

from neural_ode.exports import lazy_exports
from neural_ode.workloads.base import Problem as Problem
from neural_ode.workloads.base import Workload
from neural_ode.workloads.cnf import CNFWorkload
from neural_ode.workloads.conv import ConvWorkload
from neural_ode.workloads.digits import DigitsWorkload
from neural_ode.workloads.latent import LatentWorkload
from neural_ode.workloads.mlp import MLPWorkload
from neural_ode.workloads.spiral import SpiralWorkload
from neural_ode.workloads.stiff import StiffWorkload

WORKLOADS: dict[str, Workload] = {
    w.name: w
    for w in (
        MLPWorkload(),
        ConvWorkload(),
        DigitsWorkload(),
        SpiralWorkload(),
        LatentWorkload(),
        CNFWorkload(),
        CNFWorkload(divergence="hutchinson"),
        StiffWorkload(),
    )
}


def workload_of(name: str) -> Workload:
    """The workload called ``name``: a registry key, or a user's ``package.module:factory``."""
    if name in WORKLOADS:
        return WORKLOADS[name]
    from neural_ode.workloads.user import FactoryWorkload

    return FactoryWorkload.resolve(name)


#: what the applications (:mod:`neural_ode.apps`) take from the workloads beside the registry: the
#: spiral demo's data and field, and the disk cache (public name -> where it is defined)
EXPORTS = {
    "DEMO_POINTS": "neural_ode.workloads.spiral",
    "TRUE_Y0": "neural_ode.workloads.spiral",
    "SpiralField": "neural_ode.workloads.spiral",
    "demo_data": "neural_ode.workloads.spiral",
    "disk_cached": "neural_ode.workloads.cache",
}
__getattr__, __dir__ = lazy_exports(__name__, EXPORTS)
