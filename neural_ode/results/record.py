"""The record of one measured cell: the contract between measuring and reporting.

A :class:`CellRecord` is immutable; :meth:`CellRecord.to_dict` flattens it (config fields,
metrics, provenance) into one JSON-ready row, which is what ``results.jsonl`` and
``results.csv`` hold and what the report reads.

Its fields are built from the metric schema (:mod:`neural_ode.results.schema`): one field per
declared metric (None when not measured) and the timing spread of the timed ones, between the
status fields and the provenance fields below. A new metric needs no edit here.
"""

from __future__ import annotations

import dataclasses

from neural_ode.axes import AXES
from neural_ode.config import CellConfig
from neural_ode.results.schema import METRICS, Metric

#: bump when fields are renamed or change meaning
SCHEMA_VERSION = 1

#: what the record says about how the cell ran and where, after the metrics: name -> type
CONTEXT_FIELDS: dict[str, type] = {
    "time_repeats": int,  # timed repeats behind each median
    # calibrated timings: why the repeats stopped (width, budget, max repeats, fixed count), and whether
    # the forward and backward medians' 95 % intervals lie within the cell's ci_halfwidth
    "time_stop": str,
    "time_ci_reached": bool,
    # interleaved timing (neural_ode.measuring.grouped): the id of the group of cells of one problem timed
    # together in rounds (the i-th samples of its members come from round i; time_repeats counts the
    # rounds), and how many cells it had; None: timed alone
    "time_group": str,
    # the larger lag-1 autocorrelation of the forward and backward repeats' log times: their 95 % intervals
    # are widened for it (neural_ode.measuring.intervals); None: results from before, intervals unwidened
    "time_autocorrelation": float,
    "time_group_size": int,
    "time_forward_samples_s": list,  # every timed repeat of the forward pass, seconds (results.jsonl only)
    "time_backward_samples_s": list,  # every timed repeat of the backward pass, seconds (results.jsonl only)
    "interpolated": bool,  # the solver's value at the last output time was interpolated, not landed on
    # status ok, but the gradient error is far beyond what the solution error implies (neural_ode.results.trust)
    "gradient_wrong": bool,
    "load_before": float,  # 1-minute load average of the machine when the cell started (processes)
    "load_after": float,  # 1-minute load average of the machine when the cell ended (processes)
    "other_cpu_cores": float,  # cores kept busy by other processes during the timed runs (/proc/stat)
    "contended": bool,  # timed under contention (other processes took a core): timings not trustworthy
    "cell_wall_s": float,  # wall time of the whole cell measurement, seconds
    # wall seconds of each pass of the cell (rss, build, counted, peak, timed, roundoff, reference), and in a
    # sweep timed_group: the cell's equal share of its interleaved group process's wall time (outside cell_wall_s):
    # where a sweep's time goes (scripts/phase_breakdown.py); results.jsonl only
    "phase_s": dict,
    "instructions_status": str,  # "measured", or why instruction counts are None (neural_ode.measuring.instructions)
    "measured_at": str,  # ISO 8601, UTC
}
#: and where it ran: the axes that are no config field (threads, host, device name, versions, commit)
CONTEXT_FIELDS.update({axis.name: axis.kind for axis in AXES.values() if not axis.config})


class _RecordBase:
    """Behaviour of :class:`CellRecord` (its fields come from the schema)."""

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
    def from_dict(cls, row: dict):
        """The record of a row written by :meth:`to_dict` (unknown keys are ignored)."""
        config_names = {f.name for f in dataclasses.fields(CellConfig)}
        own_names = {f.name for f in dataclasses.fields(cls)} - {"config"}
        config = CellConfig(**{k: v for k, v in row.items() if k in config_names})
        return cls(config=config, **{k: v for k, v in row.items() if k in own_names})


def _metric_fields(metric: Metric) -> list[tuple]:
    fields = [(metric.name, metric.dtype | None, dataclasses.field(default=None))]
    fields += [(name, float | None, dataclasses.field(default=None)) for name in metric.spread_fields]
    return fields


def build_record_class(metrics=None) -> type:
    """The record dataclass of ``metrics`` (default: every declared metric), frozen."""
    metrics = METRICS if metrics is None else metrics
    fields = [
        ("config", CellConfig),
        ("status", str, dataclasses.field(default="ok")),
        ("error", str | None, dataclasses.field(default=None)),
    ]
    for metric in metrics.values():
        fields += _metric_fields(metric)
    fields += [(name, kind | None, dataclasses.field(default=None)) for name, kind in CONTEXT_FIELDS.items()]
    fields.append(("schema_version", int, dataclasses.field(default=SCHEMA_VERSION)))
    doc = (
        "What was measured of one cell. None means not measured (see ``status``/``error``).\n\n"
        "Times are in seconds (median over ``time_repeats`` repeats after warm-up, with IQR, min, max and the\n"
        "median's 95 % interval),\n"
        "memory in bytes, errors as relative L2 norms; one field per metric of the schema:\n\n"
        + "\n".join(f"* ``{m.name}`` [{m.unit}]: {m.description}" for m in metrics.values())
    )
    return dataclasses.make_dataclass(
        "CellRecord", fields, bases=(_RecordBase,), frozen=True, namespace={"__doc__": doc, "__module__": __name__}
    )


CellRecord = build_record_class()


def records_to_frame(records):
    """A pandas DataFrame with one row per record (records or their dicts)."""
    import pandas as pd

    return pd.DataFrame([r.to_dict() if isinstance(r, _RecordBase) else r for r in records])


__all__ = ["CONTEXT_FIELDS", "METRICS", "SCHEMA_VERSION", "CellRecord", "Metric", "records_to_frame"]
