"""neural-ode-bench: wall time, NFE and memory of Neural ODE gradient methods, measured.

The public API, for notebooks and scripts::

    from neural_ode import CellConfig, measure_cell, records_to_frame
    record = measure_cell(CellConfig(workload="mlp", method="adjoint", solver="rk4", steps=40))
    frame = records_to_frame([record])

Registries (the extension points): ``WORKLOADS``, ``METHODS``, ``SOLVERS``, ``METRICS``.
"""

from neural_ode.config import CellConfig, ConfigError
from neural_ode.measuring.cell import measure_cell
from neural_ode.methods import METHODS, GradientMethod
from neural_ode.results.record import METRICS, CellRecord, records_to_frame
from neural_ode.solvers import SOLVERS
from neural_ode.workloads import WORKLOADS, Workload

__version__ = "0.1.0"

__all__ = [
    "METHODS",
    "METRICS",
    "SOLVERS",
    "WORKLOADS",
    "CellConfig",
    "CellRecord",
    "ConfigError",
    "GradientMethod",
    "Workload",
    "measure_cell",
    "records_to_frame",
]
