"""ASV benchmarks: adjoint vs direct backpropagation across solvers, depths and tolerances.

Four classes over the grid of :mod:`benchmarks.common` (sized by ``NEURAL_ODE_BENCH_PROFILE``):

* ``FixedGrid`` / ``Adaptive``: wall time of a whole step (``time_step``: forward + backward)
  and of the forward pass alone (``time_forward``), and the process's peak RSS over a step
  (``peakmem_step``). ``setup`` builds the cell's problem and runs one warm-up step; the timed
  methods only call into the library.
* ``FixedGridFigures`` / ``AdaptiveFigures``: the exact figures (``track_*``, each with its
  unit): NFE of the forward and of the backward pass, bytes saved for backward, peak CPU
  tensor bytes, peak CUDA bytes (skipped without a GPU) and the gradient's relative error
  against the float64 reference. They come from ``neural_ode.measure_cell`` run once per cell
  in ``setup_cache`` (shared by both classes), so a commit's run measures each cell once.

Parameters are named after :class:`neural_ode.CellConfig` fields (``tol`` = rtol = atol); the
report's ASV reader maps them back to cells. CUDA cells are skipped (``NotImplementedError`` in
``setup``) where torch sees no GPU.
"""

from __future__ import annotations

from asv_runner.benchmarks.mark import SkipNotImplemented

from neural_ode import build_pass, synchronizer
from neural_ode.results.schema import tracked

from . import common


class _Timed:
    """Shared body of the timing classes; subclasses set params, param_names and ``cell``."""

    # one call per sample (a step is milliseconds or more); 2 to 10 samples within 5 s per round
    number = 1
    repeat = (2, 10, 5.0)
    warmup_time = 0.0  # setup runs a warm-up step (the first adjoint backward pays one-off costs)
    timeout = 600

    def setup(self, *params):
        config = self.cell(*params)
        if not common.available(config):
            raise NotImplementedError(f"{config.device} is not available on this machine")
        self.step = build_pass(config)
        self.sync = synchronizer(config.device)
        self.step.run()
        self.sync()

    def time_step(self, *params):
        """Forward + backward (gradients reset first), as one training step."""
        self.step.run()
        self.sync()

    def time_forward(self, *params):
        """The forward pass under the gradient method (graph or adjoint state recorded), loss included."""
        self.step.forward()
        self.sync()

    def peakmem_step(self, *params):
        """Peak RSS of the process (imports and set-up included) over a whole step."""
        self.step.run()


class _Figures:
    """Shared body of the exact-figure classes; subclasses set params, param_names, ``kind``, ``cell``."""

    timeout = 600

    def setup_cache(self):
        """Every available cell of both grids measured once: ``{(kind, params): record row}``."""
        figures = {}
        for kind, params, config in common.grid():
            if common.available(config):
                figures[(kind, params)] = common.exact_figures(config)
        return figures

    setup_cache.timeout = 1800

    def setup(self, figures, *params):
        config = self.cell(*params)
        if not common.available(config):
            raise NotImplementedError(f"{config.device} is not available on this machine")
        self.row = figures[(self.kind, tuple(params))]
        if self.row["status"] != "ok":
            raise RuntimeError(f"cell {common.cell_id(config)} failed: {self.row['status']}: {self.row['error']}")

    def _figure(self, name: str):
        value = self.row[name]
        if value is None:
            raise RuntimeError(f"{name} was not measured for this cell")
        return value


def _track(metric):
    """The ``track_<metric>`` benchmark of one schema metric: its exact figure, with its unit;
    skipped on the devices the metric is not measured on."""

    def track(self, figures, *params):
        if self.row["device"] not in metric.devices:
            raise SkipNotImplemented(f"{metric.name} is measured on {', '.join(metric.devices)} cells only")
        return self._figure(metric.name)

    track.__name__ = f"track_{metric.name}"
    track.__qualname__ = f"_Figures.track_{metric.name}"
    track.__doc__ = f"{metric.description} [{metric.unit}]"
    track.unit = metric.unit
    return track


# one track_ benchmark per tracked metric of the schema: a new metric needs no edit here
for _metric in tracked():
    setattr(_Figures, f"track_{_metric.name}", _track(_metric))


class _FixedGridCells:
    kind = "fixed"
    params = common.fixed_params()
    param_names = common.FIXED_PARAM_NAMES

    @staticmethod
    def cell(*params):
        return common.fixed_cell(*params)


class _AdaptiveCells:
    kind = "adaptive"
    params = common.adaptive_params()
    param_names = common.ADAPTIVE_PARAM_NAMES

    @staticmethod
    def cell(*params):
        return common.adaptive_cell(*params)


class FixedGrid(_FixedGridCells, _Timed):
    """Time and peak RSS of fixed-grid solvers: method x solver x steps (x device)."""


class Adaptive(_AdaptiveCells, _Timed):
    """Time and peak RSS of adaptive solvers: method x solver x horizon x tolerance (x device)."""


class FixedGridFigures(_FixedGridCells, _Figures):
    """Exact NFE, memory and error figures of fixed-grid solvers."""


class AdaptiveFigures(_AdaptiveCells, _Figures):
    """Exact NFE, memory and error figures of adaptive solvers."""
