"""What a sweep gives every process that measures one of its cells, beside the cell itself.

A sweep fixes three things once, for all its cells: torch's CPU threads (``run --threads``), the
commit its records carry (the one the sweep started at: a commit made while it runs does not split
it, since its cells run the code the sweep loaded) and whether cells count their instructions
(``run --instructions``). They travel as a :class:`ProcessSettings` argument of the process's
target (local cell processes, the group process, a Dask task and its cell process), never through
environment variables: a cell process reads its settings from its arguments alone.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass


@dataclass(frozen=True)
class ProcessSettings:
    """The settings of a sweep's cell processes.

    Attributes:
        threads: torch intra-op CPU threads of each cell process (None: torch's default, as in a
            process that was given none; each record's ``threads`` says what ran).
        commit: the git commit each record carries (None: the commit of the checkout the cell
            process runs from, where there is one).
        instructions: count each cell's forward and backward instructions under valgrind.
    """

    threads: int | None = None
    commit: str | None = None
    instructions: bool = False

    def apply(self) -> int:
        """Set torch's CPU threads of this process (when :attr:`threads` is given); the count in use."""
        import torch

        if self.threads is not None:
            torch.set_num_threads(self.threads)
        return torch.get_num_threads()

    def cell_options(self) -> dict:
        """The keyword arguments of :func:`neural_ode.measuring.cell.measure_cell` these settings fix."""
        return {"instructions": self.instructions, "commit": self.commit}

    def to_dict(self) -> dict:
        """The settings as a JSON-ready dict (for a process started with JSON arguments)."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: dict) -> ProcessSettings:
        """The settings of :meth:`to_dict`'s dict; a ``ValueError`` naming a key or value that is not one."""
        names = {field.name for field in dataclasses.fields(cls)}
        unknown = sorted(set(values) - names)
        if unknown:
            raise ValueError(f"unknown process setting {unknown[0]!r}; allowed: {', '.join(sorted(names))}")
        threads = values.get("threads")
        if threads is not None and (isinstance(threads, bool) or not isinstance(threads, int) or threads < 1):
            raise ValueError(f"process setting threads must be a positive integer, got {threads!r}")
        return cls(**values)


#: the settings of a cell process given none (torch's default threads, the checkout's commit, no
#: instruction counts): the default of every cell-process target
DEFAULT_SETTINGS = ProcessSettings()

