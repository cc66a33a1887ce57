"""Timing the cells of one problem together: interleaved rounds in one process.

Cells that share a problem (every axis of :func:`neural_ode.axes.problem_keys` equal) and differ in
what a user chooses (method, solver, steps or tolerances, landing, dtype) are the contenders of a
head-to-head. Timed one after the other, minutes apart, their ratio carries whatever the machine did
in between; timed in rounds (each round times every member once, in an order that turns between
rounds: :func:`neural_ode.measuring.timing.round_order`), a slow spell falls on all of them and
the per-round ratio sees through it (:func:`neural_ode.measuring.intervals.paired_ratio`).

Only the timings are taken here: each member's exact figures and memory come from its own fresh
process as before (the sweep's :mod:`neural_ode.sweeping.groups`), since an allocator that has
served another cell's tensors shows no true peak.
"""

from __future__ import annotations

import torch

from neural_ode.config import CellConfig
from neural_ode.measuring.cell import build_pass, load_average
from neural_ode.measuring.counting import Deadline
from neural_ode.measuring.timed import evaluation_fields, timing_fields, timing_member
from neural_ode.measuring.timing import Contention, time_rounds


def group_settings(configs: list[CellConfig]) -> dict:
    """The calibration of a group's rounds from its members' settings: the most repeats, warm-up and
    maximum any member asks for, the tightest half-width, and the members' time budgets added up
    (one round times every member)."""
    maxima = [c.max_repeats for c in configs if c.max_repeats is not None]
    return {
        "repeats": max(c.repeats for c in configs),
        "warmup": max(c.warmup for c in configs),
        "max_repeats": max(maxima) if maxima else None,
        "halfwidth": min(c.ci_halfwidth for c in configs),
        "budget_s": sum(c.time_budget_s for c in configs),
    }


def time_group(configs: list[CellConfig], nfe_forward: list[int | None], group: str) -> list[dict]:
    """Time ``configs`` (one problem, one device) in interleaved rounds; per member, the record fields
    of its timings (as :func:`neural_ode.measuring.cell.measure_cell` fills them), ``time_group``
    (``group``) and ``time_group_size``.

    ``nfe_forward``: each member's forward NFE from its counted run (the evaluation time is taken
    over as many calls). Raises what a member raises (a timeout of the group's deadline: the sum of
    the members' ``timeout_s``).
    """
    deadline = Deadline(sum(c.timeout_s for c in configs))
    steps = [build_pass(config) for config in configs]
    members = [timing_member(step, deadline) for step in steps]
    load_before = load_average()
    with Contention(torch.get_num_threads()) as contention:
        timings = time_rounds(members, device=configs[0].device, **group_settings(configs))
    shared = {
        "other_cpu_cores": contention.other_cores,
        "contended": contention.contended,
        "time_group": group,
        "time_group_size": len(configs),
        "load_before": load_before,
        "load_after": load_average(),
    }
    out = []
    for step, nfe, (forward, backward) in zip(steps, nfe_forward, timings, strict=True):
        deadline.check()
        fields = {**shared, **timing_fields(step.config, forward, backward)}
        fields.update(evaluation_fields(step, nfe, forward.median_s))
        out.append(fields)
    return out
