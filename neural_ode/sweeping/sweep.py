"""A sweep as one object: its cells, its folder, where it runs and what its cell processes take.

:class:`Sweep` is what ``neural-ode-bench run`` builds from its checked settings and then runs;
:meth:`Sweep.run` is the one entry point of both runners, this machine's forkserver
(:func:`neural_ode.sweeping.runner.run_sweep`) and a Dask cluster
(:func:`neural_ode.sweeping.dask_runner.run_sweep_dask`). Whatever the sweep fixes for its cell
processes (threads, commit, instruction counting) travels in :attr:`Sweep.process` as an argument
of each process, never through this process's environment.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from neural_ode.config import CellConfig
from neural_ode.sweeping.process import ProcessSettings
from neural_ode.sweeping.runner import SweepOutcome, run_sweep


@dataclass(frozen=True)
class Sweep:
    """A sweep to measure.

    Attributes:
        cells: the cells, in the order they are measured.
        out_dir: the folder its ``results.jsonl`` goes to (the caller holds its lock).
        process: the settings every cell process takes (torch threads, commit, instructions).
        resume: skip the cells already recorded in ``out_dir/results.jsonl``.
        scheduler: a ``distributed.Client`` (or its ``tcp://HOST:PORT`` address) to run the cells
            on a Dask cluster; None: this machine.
        progress: show progress bars on stderr (on a terminal).
    """

    cells: Sequence[CellConfig]
    out_dir: Path
    process: ProcessSettings = field(default_factory=ProcessSettings)
    resume: bool = False
    scheduler: Any = None
    progress: bool = True

    def run(self) -> SweepOutcome:
        """Measure the cells not recorded yet, appending each record to ``out_dir/results.jsonl``."""
        options = {"resume": self.resume, "progress": self.progress, "settings": self.process}
        if self.scheduler is None:
            return run_sweep(self.cells, self.out_dir, **options)
        from neural_ode.sweeping.dask_runner import run_sweep_dask  # distributed: an optional dependency

        return run_sweep_dask(self.cells, self.out_dir, self.scheduler, **options)

