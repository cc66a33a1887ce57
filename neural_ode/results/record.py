"""The record of one measured cell: the contract between measuring and reporting.

A :class:`CellRecord` is immutable; :meth:`CellRecord.to_dict` flattens it (config fields,
metrics, provenance) into one JSON-ready row, which is what ``results.jsonl`` and
``results.csv`` hold and what the report reads. ``METRICS`` names every metric with its unit.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from neural_ode.config import CellConfig

#: bump when fields are renamed or change meaning
SCHEMA_VERSION = 1


@dataclass(frozen=True)
class Metric:
    """A measured figure: its unit and what it means."""

    name: str
    unit: str
    description: str


METRICS: dict[str, Metric] = {
    m.name: m
    for m in (
        Metric("nfe_forward", "evaluations", "vector-field evaluations in the forward pass"),
        Metric("nfe_backward", "evaluations", "vector-field evaluations in the backward pass"),
        Metric("time_forward_s", "s", "median wall time of the forward pass (loss included)"),
        Metric("time_backward_s", "s", "median wall time of the backward pass"),
        Metric("time_eval_s", "s", "median wall time of one bare vector-field evaluation (no grad)"),
        Metric("solver_overhead", "ratio", "forward time / (nfe_forward x time_eval_s): the solver's own cost"),
        Metric(
            "saved_bytes",
            "bytes",
            "bytes of the distinct storages the autograd graph still holds for backward when the forward pass ends "
            "(saved-tensor hooks; parameters included; what was saved and freed before, or by instruments, excluded)",
        ),
        Metric("cpu_peak_bytes", "bytes", "peak live CPU tensor bytes over forward+backward (torch profiler)"),
        Metric("rss_peak_bytes", "bytes", "process RSS high-water over the post-setup baseline, fresh process"),
        Metric("cuda_peak_bytes", "bytes", "peak CUDA bytes allocated over the baseline (torch.cuda stats)"),
        Metric("grad_rel_error", "ratio", "relative L2 error of dL/dtheta against the float64 reference"),
        Metric("sol_rel_error", "ratio", "relative L2 error of the final state against the float64 reference"),
        Metric("params", "count", "number of trainable parameters of the vector field"),
        # -- issue 9: the reference's own error, interpolation, machine load --------------------
        Metric("ref_grad_rel_error", "ratio", "the float64 reference's own gradient error (vs 100x looser tolerance)"),
        Metric("ref_sol_rel_error", "ratio", "the float64 reference's own final-state error (vs 100x looser tol.)"),
        Metric("load_before", "processes", "1-minute load average of the machine when the cell started"),
        Metric("load_after", "processes", "1-minute load average of the machine when the cell ended"),
        Metric("other_cpu_cores", "cores", "cores kept busy by other processes during the timed runs (/proc/stat)"),
    )
}


@dataclass(frozen=True)
class CellRecord:
    """What was measured of one cell. None means not measured (see ``status``/``error``).

    Times are in seconds (median over ``time_repeats`` repeats after warm-up, with IQR, min and
    max), memory in bytes, errors as relative L2 norms.
    """

    config: CellConfig
    status: str = "ok"
    error: str | None = None
    nfe_forward: int | None = None
    nfe_backward: int | None = None
    time_forward_s: float | None = None
    time_forward_iqr_s: float | None = None
    time_forward_min_s: float | None = None
    time_forward_max_s: float | None = None
    time_backward_s: float | None = None
    time_backward_iqr_s: float | None = None
    time_backward_min_s: float | None = None
    time_backward_max_s: float | None = None
    time_repeats: int | None = None
    time_eval_s: float | None = None
    solver_overhead: float | None = None
    saved_bytes: int | None = None
    cpu_peak_bytes: int | None = None
    rss_peak_bytes: int | None = None
    cuda_peak_bytes: int | None = None
    grad_rel_error: float | None = None
    sol_rel_error: float | None = None
    params: int | None = None
    # -- issue 9: the reference's own error, interpolation, machine load --------------------------
    ref_grad_rel_error: float | None = None
    ref_sol_rel_error: float | None = None
    interpolated: bool | None = None
    load_before: float | None = None
    load_after: float | None = None
    other_cpu_cores: float | None = None
    contended: bool | None = None
    cell_wall_s: float | None = None
    measured_at: str | None = None
    torch_version: str | None = None
    torchdiffeq_version: str | None = None
    python_version: str | None = None
    device_name: str | None = None
    threads: int | None = None
    hostname: str | None = None
    git_commit: str | None = None
    schema_version: int = SCHEMA_VERSION

    @property
    def ok(self) -> bool:
        """True when the cell was measured without failure."""
        return self.status == "ok"

    @property
    def time_total_s(self) -> float | None:
        """Forward plus backward median time, in seconds."""
        if self.time_forward_s is None or self.time_backward_s is None:
            return None
        return self.time_forward_s + self.time_backward_s

    def to_dict(self) -> dict:
        """One flat, JSON-ready row: the config's fields, then the measured ones."""
        row = self.config.to_dict()
        row.update({f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name != "config"})
        return row

    @classmethod
    def from_dict(cls, row: dict) -> CellRecord:
        """The record of a row written by :meth:`to_dict` (unknown keys are ignored)."""
        config_names = {f.name for f in dataclasses.fields(CellConfig)}
        own_names = {f.name for f in dataclasses.fields(cls)} - {"config"}
        config = CellConfig(**{k: v for k, v in row.items() if k in config_names})
        return cls(config=config, **{k: v for k, v in row.items() if k in own_names})


def records_to_frame(records):
    """A pandas DataFrame with one row per record (records or their dicts)."""
    import pandas as pd

    return pd.DataFrame([r.to_dict() if isinstance(r, CellRecord) else r for r in records])
