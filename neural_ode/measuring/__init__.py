"""Measuring one cell: the core every front end calls, and its instruments (counts, memory, time, reference)."""

from __future__ import annotations

from neural_ode.exports import lazy_exports

#: the measuring API the applications (:mod:`neural_ode.apps`) use, beside the root package's
#: (``measure_cell``, ``build_pass``, ``synchronizer``): public name -> where it is defined
EXPORTS = {
    "CountingField": "neural_ode.measuring.counting",
    "StepCountingField": "neural_ode.measuring.counting",
    "Deadline": "neural_ode.measuring.counting",
    "solver_options": "neural_ode.measuring.options",
    "cpu_peak_bytes": "neural_ode.measuring.memory",
    "cuda_peak_bytes": "neural_ode.measuring.memory",
    "saved_bytes": "neural_ode.measuring.memory",
    "record_provenance": "neural_ode.measuring.provenance:provenance",
    "flat_gradient": "neural_ode.measuring.reference",
    "relative_error": "neural_ode.measuring.reference",
    "RESOLUTION_FACTOR": "neural_ode.measuring.reference",
    "CHECK_TOL": "neural_ode.measuring.reference",
    "GRID_SEGMENT": "neural_ode.measuring.reference",
    "GRID_SOLVER": "neural_ode.measuring.reference",
    "REFERENCE_SOLVER": "neural_ode.measuring.reference",
    "REFERENCE_TOL": "neural_ode.measuring.reference",
}
__all__ = sorted(EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, EXPORTS)
