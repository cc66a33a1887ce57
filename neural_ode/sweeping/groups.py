"""A sweep's head-to-heads: the cells of one problem, timed together in one process.

:func:`problem_groups` splits a sweep's cells by problem (every axis of
:func:`neural_ode.axes.problem_keys` equal: the same workload, sizes, horizon, outputs, device,
seed; they differ in what a user chooses). The sweep measures each member's exact figures and
memory in a fresh process of its own as before, without timings (:func:`measure_untimed_into`),
then times all members that succeeded in one more process, in interleaved rounds
(:func:`time_group_records`, running :func:`neural_ode.measuring.grouped.time_group`), and gives
every member's record its timings, the group's id and size. A problem with one cell is timed in
its own process, as before.

A group process that fails (a crash, its deadline: the sum of the members' ``timeout_s``) leaves
its members' records as the untimed pass made them, with the reason in ``error`` and status
``ok`` kept: their exact figures stand, their timings are missing.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
import uuid
from collections.abc import Sequence
from dataclasses import replace
from functools import partial
from pathlib import Path

from neural_ode.axes import AXES, problem_keys
from neural_ode.config import CellConfig
from neural_ode.family import kill_group
from neural_ode.results.record import CellRecord
from neural_ode.storage.paths import replace_atomically
from neural_ode.sweeping.process import DEFAULT_SETTINGS, ProcessSettings
from neural_ode.sweeping.worker import run_child, start_worker_server, worker_context

#: seconds a group process may run past the sum of its members' ``timeout_s``
GROUP_GRACE_S = 10.0


def problem_key(cell: CellConfig) -> tuple:
    """The values of the problem axes (:func:`neural_ode.axes.problem_keys`, config fields only) of ``cell``."""
    return tuple(getattr(cell, name) for name in problem_keys() if AXES[name].config)


def problem_groups(cells: Sequence[CellConfig]) -> list[list[CellConfig]]:
    """``cells`` split by problem, in the order each problem first appears, members in their order."""
    groups: dict[tuple, list[CellConfig]] = {}
    for cell in cells:
        groups.setdefault(problem_key(cell), []).append(cell)
    return list(groups.values())


def measure_untimed_into(config: dict, record_path: str, settings: ProcessSettings = DEFAULT_SETTINGS) -> None:
    """In a cell process: measure the cell ``config`` under the sweep's ``settings`` without its timed
    runs (RSS peak first, exact figures, memory, errors) and write its record to ``record_path``
    (written whole, then renamed)."""
    from neural_ode.measuring.cell import measure_cell

    settings.apply()
    record = measure_cell(CellConfig(**config), rss="here", timing=False, **settings.cell_options())
    _write_json(record_path, record.to_dict())


def time_group_into(payload: dict, result_path: str, settings: ProcessSettings = DEFAULT_SETTINGS) -> None:
    """In the group process: time ``payload["cells"]`` together (forward NFE ``payload["nfe_forward"]``,
    id ``payload["group"]``) with the sweep's threads (``settings``) and write their timing fields, a
    JSON list, to ``result_path``."""
    from neural_ode.measuring.grouped import time_group

    settings.apply()
    cells = [CellConfig(**cell) for cell in payload["cells"]]
    _write_json(result_path, time_group(cells, payload["nfe_forward"], payload["group"]))


def _write_json(path: str, value) -> None:
    """``value`` as JSON into ``path``, atomically (a reader sees all of it or nothing)."""
    replace_atomically(Path(path), json.dumps(value).encode("utf-8"))


def time_group_records(
    records: list[CellRecord], *, tmp_dir: Path | str | None = None, settings: ProcessSettings = DEFAULT_SETTINGS
) -> list[CellRecord]:
    """``records`` (one problem's members, measured untimed) with the timings of one interleaved group
    process (run under the sweep's ``settings``) added to those with status ``ok``; the others unchanged.

    With fewer than two ok members there is nothing to interleave, and the one left is timed in the
    same way alone (a group of one; no group id)."""
    timed = [i for i, record in enumerate(records) if record.ok]
    if not timed:
        return records
    group = uuid.uuid4().hex[:12] if len(timed) > 1 else None
    payload = {
        "cells": [records[i].config.to_dict() for i in timed],
        "nfe_forward": [records[i].nfe_forward for i in timed],
        "group": group,
    }
    limit = sum(records[i].config.timeout_s for i in timed) + GROUP_GRACE_S
    begun = time.perf_counter()
    fields, failure = _run_group_process(payload, limit, tmp_dir, settings)
    share = (time.perf_counter() - begun) / len(timed)  # the group process's wall, each member's part of it
    out = list(records)
    for position, index in enumerate(timed):
        if fields is None:
            out[index] = replace(records[index], error=f"interleaved timing failed: {failure}")
            continue
        # the cell's own run keeps its load averages; a group of one is no group
        dropped = {"load_before", "load_after"} | ({"time_group", "time_group_size"} if group is None else set())
        own = {name: value for name, value in fields[position].items() if name not in dropped}
        own["phase_s"] = {**(records[index].phase_s or {}), "timed_group": share}
        out[index] = replace(records[index], **own)
    return out


def _run_group_process(payload: dict, kill_after_s: float, tmp_dir, settings) -> tuple[list[dict] | None, str]:
    """Run :func:`time_group_into` in a fresh worker process: (its fields per member, "") or (None, why)."""
    start_worker_server()
    with tempfile.TemporaryDirectory(prefix="neural-ode-group-", dir=tmp_dir) as tmp:
        result_path, log_path = os.path.join(tmp, "timings.json"), os.path.join(tmp, "output.txt")
        process = worker_context().Process(
            target=run_child,
            args=(partial(time_group_into, settings=settings), dict(os.environ), payload, result_path, log_path,
                  os.getpid()),  # fmt: skip
            name=f"neural-ode-bench group of {len(payload['cells'])} cells",
        )
        process.start()
        try:
            deadline = time.monotonic() + kill_after_s
            while process.is_alive() and time.monotonic() < deadline:
                process.join(min(0.2, max(0.0, deadline - time.monotonic())))
            timed_out = process.is_alive()
        finally:
            if process.is_alive():
                process.kill()
                process.join()
            kill_group(process.pid)  # what the user's field forked before the process ended
        if timed_out:
            return None, f"killed after {kill_after_s:g} s"
        try:
            with open(result_path, encoding="utf-8") as handle:
                fields = json.load(handle)
        except (OSError, ValueError):
            output = Path(log_path).read_text(errors="replace") if os.path.exists(log_path) else ""
            tail = " | ".join(line.strip() for line in output.splitlines()[-3:] if line.strip())[-400:]
            return None, f"the group process ended with exit code {process.exitcode} and no result; output: {tail}"
    if not isinstance(fields, list) or len(fields) != len(payload["cells"]):
        return None, "the group process wrote something else than one entry per cell"
    return fields, ""
