"""The metric schema: every measured figure declared once, with its unit, type and label.

A :class:`Metric` is the single declaration of a figure. Everything else is derived from
:data:`METRICS`:

* the fields of :class:`neural_ode.results.record.CellRecord` (one per metric, plus the timing
  spread ``*_iqr_s``/``*_min_s``/``*_max_s`` and the median's 95 % interval ``*_ci_low_s``/``*_ci_high_s``
  of metrics with ``spread=True``);
* the columns and dtypes of ``results.csv`` (:mod:`neural_ode.results.frame`);
* the report's axis labels, display units and glossary (:mod:`neural_ode.reporting.columns`);
* the ASV suite's ``track_*`` benchmarks and pytest-benchmark's ``extra_info``
  (the metrics with ``track=True``, see :func:`tracked`);
* ``neural-ode-bench list metrics``.

Adding a metric is its measurement (a key in the fields ``measure_cell`` fills) plus one
:func:`declare` call or one entry below. Units: ``bytes``, ``s`` (seconds), ``evaluations``,
``ratio`` (dimensionless), ``count``.

Kinds say how a figure may be compared between two runs:

* ``exact``: deterministic for a given code and configuration (NFE, bytes, counts): equal or not;
* ``accuracy``: deterministic up to floating-point reassociation (relative errors): compared
  within a relative tolerance;
* ``timed``: wall times, which need repeats and a statistical test;
* ``derived``: computed from others (ratios of times): informative only.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from neural_ode.axes import AXES

#: the devices a metric may be measured on
DEVICES = AXES["device"].choices
#: the statistics of the timing spread, in the order of the record's fields: interquartile range,
#: minimum, maximum, and the bounds of the median's 95 % interval (distribution-free, from order
#: statistics: :func:`neural_ode.measuring.timing.median_interval`; NaN with fewer than 6 repeats)
SPREAD_STATS = ("iqr", "min", "max", "ci_low", "ci_high")
KINDS = ("exact", "accuracy", "timed", "derived")
#: display unit and scale of each unit: bytes are shown in MB (10^6 bytes) and seconds in ms everywhere, console
#: included
DISPLAY = {"bytes": ("MB", 1e6), "s": ("ms", 1e-3), "evaluations": ("evaluations", 1.0), "ratio": ("", 1.0)}
DISPLAY["count"] = ("", 1.0)


@dataclass(frozen=True)
class Metric:
    """One measured figure of a cell.

    Attributes:
        name: the record field and results column; the unit is part of the name where it has one
            (``_s`` seconds, ``_bytes`` bytes).
        unit: ``bytes``, ``s``, ``evaluations``, ``ratio`` or ``count``.
        description: one line: what is measured and how.
        label: a short axis or column label, without the unit.
        dtype: ``int`` or ``float``; integer columns are stored as pandas nullable integers.
        kind: ``exact``, ``accuracy``, ``timed`` or ``derived`` (how two runs compare).
        devices: the devices on which it is measured (``cuda_peak_bytes`` only on CUDA).
        spread: timed medians carrying their IQR, minimum, maximum and the 95 % interval of the
            median as extra fields (:data:`SPREAD_STATS`).
        track: followed by the ASV ``track_*`` benchmarks and stored in pytest-benchmark's
            ``extra_info`` (the exact and accuracy figures).
        rtol: exact figures: the relative difference two runs of the same code may show and still
            compare equal (0: none; instruction counts, see their declaration).
    """

    name: str
    unit: str
    description: str
    label: str
    dtype: type = float
    kind: str = "exact"
    devices: tuple[str, ...] = DEVICES
    spread: bool = False
    track: bool = field(default=None)  # type: ignore[assignment]  # None: exact and accuracy metrics
    rtol: float = 0.0

    def __post_init__(self) -> None:
        if self.unit not in DISPLAY:
            raise ValueError(f"metric {self.name!r}: unknown unit {self.unit!r}; allowed: {', '.join(DISPLAY)}")
        if self.kind not in KINDS:
            raise ValueError(f"metric {self.name!r}: unknown kind {self.kind!r}; allowed: {', '.join(KINDS)}")
        if self.dtype not in (int, float):
            raise ValueError(f"metric {self.name!r}: dtype must be int or float, got {self.dtype!r}")
        if self.track is None:
            object.__setattr__(self, "track", self.kind in ("exact", "accuracy"))

    @property
    def display_unit(self) -> str:
        """The unit the report and console print (``MB`` for bytes)."""
        return DISPLAY[self.unit][0]

    @property
    def scale(self) -> float:
        """Divide a value by this to print it in :attr:`display_unit`."""
        return DISPLAY[self.unit][1]

    @property
    def axis_label(self) -> str:
        """``label (display unit)``, or the label alone for dimensionless figures."""
        return f"{self.label} ({self.display_unit})" if self.display_unit else self.label

    @property
    def spread_fields(self) -> tuple[str, ...]:
        """The names of the spread fields (``time_forward_iqr_s`` ...), empty without spread."""
        if not self.spread:
            return ()
        base = self.name.removesuffix("_s")
        return tuple(f"{base}_{stat}_s" for stat in SPREAD_STATS)


METRICS: dict[str, Metric] = {}


def declare(metric: Metric) -> Metric:
    """Add ``metric`` to :data:`METRICS` (a name may be declared once); returns it.

    Declare before :mod:`neural_ode.results.record` is imported: the record's fields are
    built from the schema when that module loads.
    """
    if metric.name in METRICS:
        raise ValueError(f"metric {metric.name!r} is already declared")
    METRICS[metric.name] = metric
    return metric


for _metric in (
    Metric("nfe_forward", "evaluations", "vector-field evaluations in the forward pass", "forward NFE", int),
    Metric("nfe_backward", "evaluations", "vector-field evaluations in the backward pass", "backward NFE", int),
    Metric(
        "time_forward_s", "s", "median wall time of the forward pass (loss included)", "forward time",
        kind="timed", spread=True,
    ),
    Metric(
        "time_backward_s", "s", "median wall time of the backward pass", "backward time", kind="timed", spread=True
    ),
    Metric(
        "time_eval_s", "s", "median wall time of one bare vector-field evaluation (no grad)", "one evaluation",
        kind="timed",
    ),
    Metric(
        "solver_overhead", "ratio", "forward time / (nfe_forward x time_eval_s): the solver's own cost",
        "solver overhead", kind="derived",
    ),
    Metric(
        "saved_bytes", "bytes",
        "bytes of the distinct storages the autograd graph still holds for backward when the forward pass ends "
        "(saved-tensor hooks; parameters included; what was saved and freed before, or by instruments, excluded; "
        "tensors a Function keeps as plain attributes are not seen: checkpoint keeps none, see its test against an "
        "allocator count)",
        "saved for backward", int,
    ),
    Metric(
        "cpu_peak_bytes", "bytes", "peak live CPU tensor bytes over forward+backward (torch profiler)",
        "peak CPU tensor memory", int, devices=("cpu",),
    ),
    Metric(
        "rss_peak_bytes", "bytes", "process RSS high-water over the post-setup baseline, fresh process",
        "peak RSS over baseline", int, kind="timed", track=False,
    ),
    Metric(
        "cuda_peak_bytes", "bytes", "peak CUDA bytes allocated over the baseline (torch.cuda stats)",
        "peak CUDA memory", int, devices=("cuda",),
    ),
    Metric(
        "grad_rel_error", "ratio", "relative L2 error of dL/dtheta against the float64 reference",
        "gradient error", kind="accuracy",
    ),
    Metric(
        "sol_rel_error", "ratio", "relative L2 error of the final state against the float64 reference",
        "solution error", kind="accuracy",
    ),
    Metric(
        "reverse_state_error", "ratio",
        "adjoint cells: largest relative L2 error of a state reconstructed by solving backwards over one output "
        "interval with the cell's solver and tolerances (what a backsolve adjoint integrates); None otherwise",
        "reconstructed state error", kind="accuracy", track=False,  # no figure for direct cells: not an ASV track
    ),
    Metric("params", "count", "number of trainable parameters of the vector field", "parameters", int),
    Metric(
        "ref_grad_rel_error", "ratio", "the float64 reference's own gradient error (vs 100x looser tolerance)",
        "reference's own gradient error", kind="accuracy",
    ),
    Metric(
        "ref_sol_rel_error", "ratio", "the float64 reference's own final-state error (vs 100x looser tolerance)",
        "reference's own solution error", kind="accuracy",
    ),
    Metric(
        "grad_roundoff_floor", "ratio",
        "float32 cells: relative L2 distance of the gradient from the same solve in float64 (same method, solver, "
        "grid or tolerances, landing, parameters and initial state, upcast): the part of grad_rel_error that "
        "float32 round-off makes, so a gradient-error target below it is decided by rounding, not by the method. "
        "Adaptive solvers: the float64 solve at the same tolerances, whose accepted steps can differ where the "
        "error estimate itself is at float32 round-off (an over-estimate there). None for float64 cells (no wider "
        "type on every device; their round-off is about 2^-29 of a float32 cell's)",
        "gradient round-off floor", kind="accuracy", track=False,
    ),
    Metric(
        "sol_roundoff_floor", "ratio",
        "float32 cells: relative L2 distance of the states at the output times from the same solve in float64 "
        "(as grad_roundoff_floor): the round-off part of sol_rel_error; None for float64 cells",
        "solution round-off floor", kind="accuracy", track=False,
    ),
    # Instruction counts (neural_ode.measuring.instructions, run --instructions): deterministic up to what
    # differs between two processes of the same code (allocator and interpreter state). Measured here: mlp rk4
    # 4 steps (batch 4, width 8, dim 2) counted alone in one valgrind process and first of three cells in
    # another: forward 5,440,544 vs 5,453,236 (0.23 %), backward 5,562,372 vs 5,523,660 (0.70 %). They compare
    # equal within 2 %, about three times the larger difference; a field doing 10 % more work, or one more
    # solver step in ten, moves them by five times that.
    Metric(
        "instructions_forward", "count",
        "instructions executed by one forward pass (solve and loss), counted by valgrind's callgrind after two "
        "warm-up passes, one torch thread; None unless measured with --instructions (instructions_status says why)",
        "forward instructions", int, track=False, rtol=0.02,
    ),
    Metric(
        "instructions_backward", "count",
        "instructions executed by one backward pass, counted as instructions_forward",
        "backward instructions", int, track=False, rtol=0.02,
    ),
    *(
        Metric(
            f"steps_{outcome}_{direction}", "count",
            f"adaptive torchdiffeq solvers: {outcome} steps of the {solve} (torchdiffeq's callback_{outcome[:-2]}_step"
            f"{'_adjoint' if direction == 'backward' else ''}); None for fixed grids, other libraries"
            + (" and methods without a backward solve" if direction == "backward" else ""),
            f"{outcome} steps {direction}", int, track=False,
        )
        for direction, solve in (("forward", "forward solve"), ("backward", "adjoint's backward solve"))
        for outcome in ("accepted", "rejected")
    ),
):  # fmt: skip
    declare(_metric)


def tracked(device: str | None = None) -> list[Metric]:
    """The metrics the benchmark suites follow (``track=True``), those measured on ``device`` if given."""
    return [m for m in METRICS.values() if m.track and (device is None or device in m.devices)]


def memory_metrics() -> list[str]:
    """The names of the metrics in bytes, in declaration order."""
    return [m.name for m in METRICS.values() if m.unit == "bytes"]


def integer_columns() -> list[str]:
    """The names of the integer metrics."""
    return [m.name for m in METRICS.values() if m.dtype is int]


def spread_columns() -> list[str]:
    """Every spread field of every metric (``time_forward_iqr_s`` ...)."""
    return [name for m in METRICS.values() for name in m.spread_fields]
