"""A sweep's specification on disk: ``DIR/sweep.json``, the cells the folder's sweep measures.

Written before the first cell runs, so that ``run --resume --out DIR`` without axes continues
*that* sweep, and a ``--resume`` whose axes make other cells is refused (exit status 2) instead
of pouring a second sweep into the folder; ``--extend`` adds the new cells to the specification.
Cells are compared by :attr:`neural_ode.config.CellConfig.key` (what is measured), so repeats,
warm-up and time budget may change between runs of one sweep.
"""

from __future__ import annotations

import json
import os
import re
import shlex
from collections.abc import Sequence
from pathlib import Path

from neural_ode.config import CellConfig
from neural_ode.sweeping.plan import split_values
from neural_ode.validation import UsageError, open_owned
from neural_ode.workloads.trusted import check_workload

SPEC_NAME = "sweep.json"
FORMAT = 1
#: the largest sweep.json read back, bytes
MAX_BYTES = 50_000_000


def read_spec(out_dir: Path) -> list[CellConfig] | None:
    """The cells of the sweep recorded in ``out_dir`` (validated again), or None when there is none.

    Raises:
        UsageError: the file is not a regular file, not JSON of this format, or holds a bad cell.
    """
    path = Path(out_dir) / SPEC_NAME
    if not os.path.lexists(path):
        return None
    try:
        with open_owned(path, "r") as handle:
            data = json.loads(handle.read(MAX_BYTES + 1))
        workloads = [fields.get("workload") if isinstance(fields, dict) else None for fields in data["cells"]]
        for workload in workloads:  # a factory named in the file is not imported unless the user named it
            try:
                check_workload(workload)
            except ValueError as exc:
                if isinstance(workload, str) and FACTORY.fullmatch(workload):
                    raise UsageError(_name_the_factories(path, workloads)) from None
                raise UsageError(f"{path}: {exc}; refused") from None
        cells = [CellConfig(**fields) for fields in data["cells"]]
    except UsageError:
        raise
    except (OSError, ValueError, TypeError, KeyError, RecursionError, AttributeError) as exc:
        raise UsageError(
            f"{path} is damaged ({type(exc).__name__}: {str(exc)[:120]}); move it away to resume with the axes given"
        ) from exc
    return cells


#: the form of a user's factory, ``package.module:function`` (as ``--workload`` takes it)
FACTORY = re.compile(r"[A-Za-z_]\w*(\.[A-Za-z_]\w*)*:[A-Za-z_]\w*", flags=re.ASCII)


def _name_the_factories(path: Path, workloads: list) -> str:
    """The refusal of a sweep of a user's factory resumed without naming it: the one command that
    resumes it (the factories are imported only when the user names them on the command line)."""
    plain = re.compile(r"[A-Za-z_][\w-]*", flags=re.ASCII)  # a registered workload's name
    shown = [w for w in workloads if isinstance(w, str) and (FACTORY.fullmatch(w) or plain.fullmatch(w))]
    named = list(dict.fromkeys(shown))
    factories = [w for w in named if ":" in w]
    return (
        f"{path} records a sweep of the user's factor{'ies' if len(factories) > 1 else 'y'} {', '.join(factories)} "
        "(not a registered workload), "
        "which this tool imports only when named on the command line; resume it with: "
        f"neural-ode-bench run --resume --out {shlex.quote(str(path.parent))} --workload {','.join(named)}"
    )


def write_spec(out_dir: Path, cells: Sequence[CellConfig]) -> Path:
    """Record ``cells`` as the folder's sweep (written to a temporary name, then renamed)."""
    path = Path(out_dir) / SPEC_NAME
    from neural_ode.storage.writer import write_file

    text = json.dumps({"format": FORMAT, "cells": [cell.to_dict() for cell in cells]}, indent=1)
    if len(text) > MAX_BYTES:  # never write a specification read_spec would refuse
        raise UsageError(f"the sweep's {len(cells)} cells make a {len(text)}-byte {SPEC_NAME}; at most {MAX_BYTES}")
    write_file(path, text)
    return path


def merged(recorded: Sequence[CellConfig], new: Sequence[CellConfig]) -> list[CellConfig]:
    """The recorded cells, then the new ones not among them (by key)."""
    keys = {cell.key for cell in recorded}
    return list(recorded) + [cell for cell in new if cell.key not in keys]


def describe_difference(recorded: Sequence[CellConfig], new: Sequence[CellConfig]) -> str:
    """``3 cells not in it, 2 of its cells missing`` (for the refusal's message)."""
    old_keys, new_keys = {c.key for c in recorded}, {c.key for c in new}
    added, missing = len(new_keys - old_keys), len(old_keys - new_keys)
    return f"{added} of the cells asked for are not in it, {missing} of its are missing"


def sweep_cells(
    out: Path, cells: list[CellConfig], *, resume: bool, preset: bool, given: dict, extend: bool
) -> list[CellConfig]:
    """The cells to run in ``out``: its recorded sweep when resuming it (see :func:`resumes_recorded`),
    else ``cells``; a different sweep than the one recorded is refused unless ``extend``.

    ``preset``: the user named a preset (then the preset's sweep is meant, not the recorded one);
    ``given``: the axes given on the command line or in the config file, by name.
    """
    recorded = read_spec(out)
    results = Path(out) / "results.jsonl"
    has_records = results.is_file() and results.stat().st_size > 0
    if resume and not preset and resumes_recorded(recorded, given):
        if recorded is None:
            raise UsageError(nothing_to_resume(out))
        return recorded  # the README's `run --resume --out DIR`: continue that sweep
    if recorded is None or not has_records:
        return list(cells)
    if {c.key for c in recorded} == {c.key for c in cells}:
        return list(cells)
    if extend:
        return merged(recorded, cells)
    raise UsageError(
        f"--out {out} holds another sweep ({len(recorded)} cells in {Path(out) / SPEC_NAME}; "
        f"{describe_difference(recorded, cells)}); resume it without axes, add --extend to add these cells, "
        "or pick another --out"
    )


def nothing_to_resume(out: Path) -> str:
    """The refusal of ``--resume`` without axes where no sweep is recorded."""
    return (
        f"--resume: {out} records no sweep (no {Path(out) / SPEC_NAME}): there is nothing to resume; "
        f"start one with axes or --preset, e.g. neural-ode-bench run --preset quick --out {out}"
    )


def resumes_recorded(recorded: Sequence[CellConfig] | None, given: dict) -> bool:
    """True when ``--resume`` continues the folder's recorded sweep as it is: no axes given, or
    only ``--workload`` naming exactly the recorded sweep's workloads (a sweep of a user's factory,
    which is imported only when named on the command line)."""
    if not given:
        return True
    if recorded is None or set(given) != {"workload"}:
        return False
    return set(map(str, split_values(given["workload"]))) == {cell.workload for cell in recorded}
