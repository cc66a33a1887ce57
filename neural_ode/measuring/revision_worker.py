"""A long-lived worker that measures cells with the code of one revision: ``neural-ode-bench ab``'s side.

``ab`` (:mod:`neural_ode.commands.ab`) starts one of these per side, as a script run by path
(``python -P .../revision_worker.py``) with ``PYTHONPATH`` set to that side's checkout, so the
``neural_ode`` it imports is the revision's, not the one ``ab`` runs from. This file therefore
imports only the standard library at its top, and from ``neural_ode`` only the long-standing public
entry points (``CellConfig``, ``measure_cell``, ``build_pass`` and the pass's ``forward``/``backward``/
``zero_grad``/``run``), so that older revisions can be measured too.

Its one argument is torch's CPU threads (``ab --threads``; default 1).

Protocol: one JSON object a line on stdin, one a line on stdout (the library's own prints go to
stderr):

* at start the worker sends ``{"ready": true, "package": ..., "versions": {...}, "threads": N}``
  (``package``: the file of the ``neural_ode.config`` it imported);
* ``{"op": "prepare", "cells": [config dicts], "exact": true}``: each cell's exact figures by the
  revision's own ``measure_cell`` (NFE, saved bytes, errors; no timing, no peak, no RSS run; with
  ``"exact": false`` none, a later worker of the same side needing only the timings), then its gradient
  pass is built and warmed up (``warmup`` forward+backward runs, at least one); answers
  ``{"records": [record dicts], "dropped": [config keys this revision does not know]}``;
* ``{"op": "time", "cell": i}``: one untimed forward+backward (so that each timed run starts from
  warm caches, whatever the other side's process did meanwhile), then one timed forward and one
  timed backward, the garbage collector off; answers ``{"forward_s": ..., "backward_s": ...}``
  (seconds, ``time.perf_counter``; CUDA synchronised);
* ``{"op": "quit"}`` ends the worker (so does the end of stdin).

A request that fails answers ``{"error": "Type: message"}`` and the worker goes on.
"""

from __future__ import annotations

import gc
import inspect
import json
import os
import sys
import time


def _send(stream, message: dict) -> None:
    stream.write(json.dumps(message, default=str) + "\n")
    stream.flush()


class _Side:
    """The revision's cells: their gradient passes, built and warmed up."""

    def __init__(self):
        from neural_ode.config import CellConfig
        from neural_ode.measuring.cell import build_pass, measure_cell

        self.CellConfig, self.build_pass, self.measure_cell = CellConfig, build_pass, measure_cell
        known = inspect.signature(measure_cell).parameters
        wanted = {"rss": "skip", "peak": False, "timing": False, "roundoff": False, "reference": True}
        self.options = {name: value for name, value in wanted.items() if name in known}
        self.passes: list = []
        self.syncs: list = []

    def config(self, fields: dict):
        import dataclasses

        names = {f.name for f in dataclasses.fields(self.CellConfig)}
        dropped = sorted(key for key in fields if key not in names)
        return self.CellConfig(**{k: v for k, v in fields.items() if k in names}), dropped

    def prepare(self, cells: list[dict], exact: bool = True) -> dict:
        import torch

        try:  # the user's own --workload factories, named on ab's command line
            from neural_ode.workloads.trusted import trust_factories

            trust_factories(str(cell.get("workload")) for cell in cells)
        except ImportError:
            pass
        records, dropped = [], set()
        for fields in cells:
            config, unknown = self.config(fields)
            dropped.update(unknown)
            record = self.measure_cell(config, **self.options).to_dict() if exact else {"status": "ok"}
            records.append(record)
            step = None
            if record.get("status", "ok") == "ok":
                try:
                    step = self.build_pass(config)
                    for _ in range(max(1, int(getattr(config, "warmup", 1) or 1))):
                        step.run()
                    step.zero_grad()
                except Exception as exc:  # its exact run passed: a failure here is the timed pass's
                    record.update(status="error", error=f"{type(exc).__name__}: {exc}")
                    step = None
            self.passes.append(step)
            cuda = torch.device(config.device).type == "cuda"
            self.syncs.append((lambda d=config.device: torch.cuda.synchronize(d)) if cuda else (lambda: None))
        return {"records": records, "dropped": sorted(dropped)}

    def time(self, index: int) -> dict:
        step, sync = self.passes[index], self.syncs[index]
        if step is None:
            raise ValueError(f"cell {index} failed its exact run: it is not timed")
        step.run()  # untimed: warm caches and allocator for the timed run, as a warm-up before each repeat
        step.zero_grad()
        enabled = gc.isenabled()
        gc.disable()
        try:
            sync()
            start = time.perf_counter()
            loss = step.forward()
            sync()
            middle = time.perf_counter()
            step.backward(loss)
            sync()
            end = time.perf_counter()
        finally:
            if enabled:
                gc.enable()
        step.zero_grad()
        return {"forward_s": middle - start, "backward_s": end - middle}


def main() -> int:
    """Serve requests on stdin until ``quit`` or its end (see the module docstring)."""
    out = os.fdopen(os.dup(sys.stdout.fileno()), "w")
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())  # prints of the library go to stderr
    import torch

    threads = int(sys.argv[1]) if len(sys.argv) > 1 else 1  # ``python -c CODE THREADS``: argv is [-c, THREADS]
    torch.set_num_threads(threads)
    versions = {"torch": torch.__version__}
    try:
        import torchdiffeq

        versions["torchdiffeq"] = getattr(torchdiffeq, "__version__", "?")
    except ImportError:
        pass
    try:
        side = _Side()
    except Exception as exc:  # a revision without the entry points this worker needs
        _send(out, {"ready": False, "error": f"{type(exc).__name__}: {exc}"})
        return 1
    package = inspect.getfile(side.CellConfig)  # where the revision's neural_ode was imported from
    _send(out, {"ready": True, "package": package, "versions": versions, "threads": threads})
    for line in sys.stdin:
        if not line.strip():
            continue
        request = json.loads(line)
        if request.get("op") == "quit":
            break
        try:
            if request.get("op") == "prepare":
                answer = side.prepare(request["cells"], bool(request.get("exact", True)))
            elif request.get("op") == "time":
                answer = side.time(int(request["cell"]))
            else:
                answer = {"error": f"unknown op {request.get('op')!r}"}
        except Exception as exc:
            answer = {"error": f"{type(exc).__name__}: {exc}"}
        _send(out, answer)
    return 0


if __name__ == "__main__":
    sys.exit(main())
