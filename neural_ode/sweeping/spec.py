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
from neural_ode.storage.trust import check_workload
from neural_ode.validation import UsageError, open_owned

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
