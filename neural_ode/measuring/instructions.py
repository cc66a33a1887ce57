"""Instruction counts of one forward and one backward pass of a cell, under valgrind's callgrind.

Wall time on a shared machine moves with the load; the number of instructions a pass executes does
not (it is what cachegrind-based gates such as iai and ``torch.utils.benchmark``'s
``collect_callgrind`` rely on). :func:`measure_instructions` runs a fresh interpreter under
``valgrind --tool=callgrind`` on one or more cells and returns, per cell, ``instructions_forward``
(the forward solve and the loss) and ``instructions_backward`` (the backward pass), in
instructions (callgrind's ``Ir``):

* instrumentation is off while Python and torch import (``--instr-atstart=no``, several times
  faster) and switched on with ``callgrind_control -i on`` once every cell is built and has run
  twice (its lazy initialisation, allocator pools and autograd caches are then warm);
* collection is toggled around each pass with torch's own client requests
  (``torch._C._valgrind_toggle``, ``_valgrind_toggle_and_dump_stats``), each pass dumped to its own
  file, whose ``totals:`` line is the count;
* one torch thread, the garbage collector off and collected before each pass, ``PYTHONHASHSEED=0``.

The script part (:func:`main`) is run by path, so that it measures the ``neural_ode`` found first on
``PYTHONPATH`` (``neural-ode-bench ab`` points it at each revision's checkout) and imports
nothing of this checkout.

How exact: two runs of a cell in separate processes differed by up to 0.7 %; the metrics' declaration
(``rtol`` in :mod:`neural_ode.results.schema`, with the measured counts) sets the tolerance ``compare``
and ``ab`` allow. The instructions the solver loop adds grow linearly with the steps: rk4 on a small
MLP added 4.75 M forward instructions from 4 to 8 steps and 9.87 M from 8 to 16 (2.08x).
Where valgrind or callgrind_control is absent, or the platform has no torch valgrind bindings, each
cell's counts are None and ``instructions_status`` says why; nothing raises.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

#: instructions_status of a measured cell
MEASURED = "measured"
#: seconds valgrind may take for one process (about a minute of CPU for a small cell: most of it importing
#: torch under valgrind; a busy machine stretches that several times)
TIMEOUT_S = 1800.0


def unavailable() -> str | None:
    """Why instruction counts cannot be measured here (valgrind or callgrind_control missing), or None."""
    missing = [tool for tool in ("valgrind", "callgrind_control") if shutil.which(tool) is None]
    if missing:
        return (f"not measured: {' and '.join(missing)} not installed (Debian/Ubuntu: apt-get install valgrind); "
                "instruction counts need valgrind's callgrind")  # fmt: skip
    return None


def _empty(status: str) -> dict:
    return {"instructions_forward": None, "instructions_backward": None, "instructions_status": status}


def measure_instructions(
    cells: list[dict],
    *,
    python: str = sys.executable,
    pythonpath: list[str] | None = None,
    cwd: str | Path | None = None,
    threads: int = 1,
    timeout_s: float = TIMEOUT_S,
) -> list[dict]:
    """Instruction counts of each cell (a :class:`~neural_ode.config.CellConfig` as a dict) in one valgrind run.

    Args:
        cells: the cells' fields (``config.to_dict()``).
        python: the interpreter to run under valgrind.
        pythonpath: ``PYTHONPATH`` of that process (default: the folder holding this ``neural_ode``
            first, then the caller's own).
        cwd: its working directory.
        threads: torch's CPU threads there (1: callgrind serialises threads, and more change the count).
        timeout_s: the most seconds the valgrind process may take.

    Returns:
        one dict per cell: ``instructions_forward``, ``instructions_backward`` (instructions, or
        None) and ``instructions_status`` (:data:`MEASURED`, or why not).
    """
    why = unavailable()
    if why is not None:
        return [_empty(why) for _ in cells]
    if pythonpath is None:
        root = str(Path(__file__).resolve().parents[2])
        pythonpath = [root, *filter(None, os.environ.get("PYTHONPATH", "").split(os.pathsep))]
    with tempfile.TemporaryDirectory(prefix="neural-ode-callgrind-") as folder:
        env = dict(os.environ, PYTHONPATH=os.pathsep.join(pythonpath), PYTHONHASHSEED="0")
        request = {"cells": cells, "threads": threads, "folder": folder}  # the child's arguments, on its stdin
        code = f"import runpy; runpy.run_path({str(Path(__file__).resolve())!r}, run_name='__main__')"
        command = ["valgrind", "--tool=callgrind", "--instr-atstart=no", "--collect-atstart=no",
                   f"--callgrind-out-file={folder}/callgrind.out", python, "-c", code]  # fmt: skip
        try:
            done = subprocess.run(command, input=json.dumps(request), capture_output=True, text=True, env=env,
                                  cwd=cwd, timeout=timeout_s, check=False)  # fmt: skip
        except subprocess.TimeoutExpired:
            return [_empty(f"not measured: valgrind took more than {timeout_s:g} s") for _ in cells]
        index_path = Path(folder) / "index.json"
        if not index_path.is_file():
            tail = " | ".join(done.stderr.strip().splitlines()[-3:])
            return [_empty(f"not measured: the callgrind run failed (exit {done.returncode}): {tail}"[:300])
                    for _ in cells]  # fmt: skip
        index = json.loads(index_path.read_text())
        results = []
        for entry in index:
            if "error" in entry:
                results.append(_empty(f"not measured: {entry['error']}"[:300]))
                continue
            forward, backward = (_totals(Path(folder) / f"callgrind.out.{part}") for part in entry["parts"])
            results.append({"instructions_forward": forward, "instructions_backward": backward,
                            "instructions_status": MEASURED})  # fmt: skip
        return results


def _totals(path: Path) -> int | None:
    """The ``totals:`` (or ``summary:``) event count of one callgrind dump, None if it has none."""
    try:
        lines = path.read_text().splitlines()
    except OSError:
        return None
    for prefix in ("totals:", "summary:"):
        for line in lines:
            if line.startswith(prefix):
                return int(line.split()[1])
    return None


def _instrumentation_on() -> None:
    """Switch callgrind's instrumentation on for this process (``callgrind_control -i on PID``).

    Callgrind reads the command between basic blocks of this process, so the process keeps running
    Python while it waits rather than blocking in ``wait()``.
    """
    control = subprocess.Popen(["callgrind_control", "-i", "on", str(os.getpid())],
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT)  # fmt: skip
    while control.poll() is None:
        sum(range(1000))
    answer = control.stdout.read().decode(errors="replace")
    if control.returncode != 0 or "OK" not in answer:
        raise RuntimeError(f"callgrind_control could not switch instrumentation on: {answer.strip()[:200]}")


def main() -> None:
    """Under valgrind: build and warm each cell of the request on stdin (``cells``, with torch's
    ``threads``), then count each one's forward and backward pass into its own callgrind dump; write
    ``index.json`` into the request's ``folder`` (each cell's dump numbers, or its error); exit."""
    import gc

    import torch

    request = json.loads(sys.stdin.read())
    torch.set_num_threads(int(request["threads"]))
    from neural_ode.config import CellConfig
    from neural_ode.measuring.gradient_pass import build_pass

    folder = Path(request["folder"])
    steps, index = [], []
    for fields in request["cells"]:
        try:
            import dataclasses

            names = {f.name for f in dataclasses.fields(CellConfig)}
            step = build_pass(CellConfig(**{k: v for k, v in fields.items() if k in names}))
            step.run()
            step.run()
            step.zero_grad()
            steps.append(step)
            index.append({})
        except Exception as exc:
            steps.append(None)
            index.append({"error": f"{type(exc).__name__}: {exc}"})
    _instrumentation_on()
    part = 0
    for step, entry in zip(steps, index):
        if step is None:
            continue
        step.run()  # once instrumented, so the counted passes start from the same state as every later one
        step.zero_grad()
        gc.collect()
        gc.disable()
        torch._C._valgrind_toggle()
        loss = step.forward()
        torch._C._valgrind_toggle_and_dump_stats()
        torch._C._valgrind_toggle()
        step.backward(loss)
        torch._C._valgrind_toggle_and_dump_stats()
        gc.enable()
        step.zero_grad()
        entry["parts"] = [part + 1, part + 2]
        part += 2
    (folder / "index.json").write_text(json.dumps(index))
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)  # no interpreter teardown: torch's finalisers, instrumented, took minutes under callgrind


if __name__ == "__main__":
    main()
