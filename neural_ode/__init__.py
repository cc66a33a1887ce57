"""neural-ode-bench: wall time, NFE and memory of Neural ODE gradient methods, measured.

The public API, for notebooks, scripts and the benchmark suites::

    from neural_ode import CellConfig, measure_cell, records_to_frame
    record = measure_cell(CellConfig(workload="mlp", method="adjoint", solver="rk4", steps=40))
    frame = records_to_frame([record])

    gradient_pass = build_pass(config)   # one forward + backward, for timing it yourself
    gradient_pass.run(); synchronizer(config.device)()

Registries (the extension points): ``WORKLOADS``, ``METHODS``, ``SOLVERS``, ``METRICS`` (the
metric schema: :func:`neural_ode.results.schema.declare` adds one).

Names are imported on first use, so that ``neural_ode.results.schema`` can be imported (and a
metric declared) before the record class is built from the schema.
"""

from __future__ import annotations

import importlib

__version__ = "0.1.0"

#: public name -> module that defines it
_EXPORTS = {
    "CellConfig": "neural_ode.config",
    "DEVICES": "neural_ode.config",
    "ConfigError": "neural_ode.config",
    "measure_cell": "neural_ode.measuring.cell",
    "build_pass": "neural_ode.measuring.cell",
    "GradientPass": "neural_ode.measuring.cell",
    "synchronizer": "neural_ode.measuring.timing",
    "METHODS": "neural_ode.methods",
    "GradientMethod": "neural_ode.methods",
    "METRICS": "neural_ode.results.schema",
    "Metric": "neural_ode.results.schema",
    "CellRecord": "neural_ode.results.record",
    "records_to_frame": "neural_ode.results.record",
    "SOLVERS": "neural_ode.solvers",
    "WORKLOADS": "neural_ode.workloads",
    "Workload": "neural_ode.workloads",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name not in _EXPORTS:
        raise AttributeError(f"module 'neural_ode' has no attribute {name!r}")
    value = getattr(importlib.import_module(_EXPORTS[name]), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_EXPORTS])
