"""ASV benchmarks: adjoint vs direct backpropagation across solvers, depths and tolerances.

Five classes over the grid of :mod:`benchmarks.common` (sized by ``NEURAL_ODE_BENCH_PROFILE``):

* ``FixedGrid`` / ``Adaptive``: wall time of a whole step (``time_step``: forward + backward)
  and of the forward pass alone (``time_forward``). ``setup`` builds the cell's problem and runs
  one warm-up step; the timed methods only call into the library.
* ``FixedGridFigures`` / ``AdaptiveFigures``: the exact figures (``track_*``, each with its
  unit), one per tracked metric of the schema (:func:`neural_ode.results.schema.tracked`):
  NFE of the forward and of the backward pass, bytes saved for backward, peak tensor
  bytes (``track_peak_tensor_bytes``: CPU tensors on CPU cells, CUDA allocations on CUDA cells,
  one benchmark so neither half is ``n/a``) and the gradient's relative error
  against the float64 reference. They come
  from ``neural_ode.measure_cell`` run once per cell in ``setup_cache`` (shared by both
  classes), so a commit's run measures each cell once.
* ``RssPeak``: ``track_rss_peak_bytes``, the RSS peak of a step in a fresh process over its
  post-setup baseline (in place of ASV's ``peakmem_*``, which would count torch's import).

Each class has one parameter, ``cell``, listing only the cells this machine can run (supported
method/solver pairs; CUDA only where torch sees a GPU), written as config fields
(``workload=mlp method=adjoint solver=rk4 steps=10 device=cpu``; ``tol`` = rtol = atol); the
report's ASV reader maps them back to cells.

Quiet ``asv continuous``: 5 to 20 samples a round (2 rounds), and compare with
``--factor 1.5`` (README, "ASV"); a step is milliseconds, and single-digit-percent moves are
noise on a shared machine.
"""

from __future__ import annotations

import sys

from neural_ode import DEVICES, METRICS, build_pass, synchronizer
from neural_ode.results.schema import tracked

from . import common


class _Timed:
    """Shared body of the timing classes; subclasses set params, param_names and ``cell``."""

    # one call per sample (a step is milliseconds or more); 5 to 20 samples within 10 s per round
    number = 1
    repeat = (5, 20, 10.0)
    warmup_time = 0.0  # setup runs a warm-up step (the first adjoint backward pays one-off costs)
    timeout = 600

    def setup(self, cell):
        config = self.cell(cell)
        self.step = build_pass(config)
        self.sync = synchronizer(config.device)
        self.step.run()
        self.sync()

    def time_step(self, cell):
        """Forward + backward (gradients reset first), as one training step."""
        self.step.run()
        self.sync()

    def time_forward(self, cell):
        """The forward pass under the gradient method (graph or adjoint state recorded), loss included."""
        self.step.forward()
        self.sync()


class _Figures:
    """Shared body of the exact-figure classes; subclasses set params, param_names, ``kind``, ``cell``."""

    timeout = 600

    def setup_cache(self):
        """Every cell of both grids measured once: ``{cell parameter: record row}``."""
        return {cell: common.exact_figures(common.parse_cell_param(cell)) for cell in self.all_cells()}

    setup_cache.timeout = 1800

    @staticmethod
    def all_cells() -> list[str]:
        return common.fixed_cells() + common.adaptive_cells()

    def setup(self, figures, cell):
        self.row = figures[cell]
        if self.row["status"] != "ok":
            raise RuntimeError(f"cell {cell} failed: {self.row['status']}: {self.row['error']}")

    def _figure(self, name: str):
        value = self.row[name]
        if value is None:
            raise RuntimeError(f"{name} was not measured for this cell")
        return value

    def track_peak_tensor_bytes(self, figures, cell):
        """Peak tensor bytes: CPU tensors (profiler) on CPU cells, CUDA allocations on CUDA cells."""
        return self._figure("cuda_peak_bytes" if self.row["device"] == "cuda" else "cpu_peak_bytes")

    track_peak_tensor_bytes.unit = METRICS["cpu_peak_bytes"].unit



def _track(metric):
    """The ``track_<metric>`` benchmark of one schema metric: its exact figure, with its unit."""

    def track(self, figures, cell):
        return self._figure(metric.name)

    track.__name__ = f"track_{metric.name}"
    track.__qualname__ = f"_Figures.track_{metric.name}"
    track.__doc__ = f"{metric.description} [{metric.unit}]"
    track.unit = metric.unit
    return track


# one track_ benchmark per tracked metric of the schema that every device measures: a new metric
# needs no edit here (the device-specific peaks are the one track_peak_tensor_bytes above)
for _metric in tracked():
    if set(_metric.devices) == set(DEVICES):
        setattr(_Figures, f"track_{_metric.name}", _track(_metric))


class _FixedGridCells:
    params = [common.fixed_cells()]
    param_names = common.CELL_PARAM_NAMES
    cell = staticmethod(common.parse_cell_param)


class _AdaptiveCells:
    params = [common.adaptive_cells()]
    param_names = common.CELL_PARAM_NAMES
    cell = staticmethod(common.parse_cell_param)


class FixedGrid(_FixedGridCells, _Timed):
    """Time of fixed-grid solvers: every runnable method x solver x steps x device."""


class Adaptive(_AdaptiveCells, _Timed):
    """Time of adaptive solvers: every runnable method x solver x horizon x tolerance x device."""


class FixedGridFigures(_FixedGridCells, _Figures):
    """Exact NFE, memory and error figures of fixed-grid solvers."""


class AdaptiveFigures(_AdaptiveCells, _Figures):
    """Exact NFE, memory and error figures of adaptive solvers."""


class RssPeak:
    """Peak RSS of a step in a fresh process, over its post-setup baseline, in bytes: every cell of both grids.

    ASV's ``peakmem_*`` would read the benchmark process's whole RSS, torch's import included
    (hundreds of MB against a few MB of tensors). Each cell is measured once, in ``setup_cache``,
    by a new interpreter that runs one forward+backward and reads its peak (:func:`common.rss_record`).
    """

    params = [common.fixed_cells() + common.adaptive_cells()]
    param_names = common.CELL_PARAM_NAMES
    timeout = 600

    def setup_cache(self):
        cells = self.params[0]
        records = {}
        for number, cell in enumerate(cells, 1):
            # ASV shows only "Setting up" while this runs: one line a cell on stderr says how far it is
            print(f"RssPeak: cell {number}/{len(cells)}: {cell}", file=sys.stderr, flush=True)
            records[cell] = common.rss_record(common.parse_cell_param(cell))
        return records

    setup_cache.timeout = 3600

    def setup(self, records, cell):
        self.row = records[cell]
        if self.row["status"] != "ok" or self.row.get("rss_peak_bytes") is None:
            raise RuntimeError(f"cell {cell}: no RSS peak ({self.row['status']}: {self.row['error']})")

    def track_rss_peak_bytes(self, records, cell):
        return self.row["rss_peak_bytes"]

    track_rss_peak_bytes.unit = METRICS["rss_peak_bytes"].unit
