"""Running a sweep: every cell in its own fresh process, every record on disk as soon as it lands.

Why a fresh process per cell: the allocator keeps freed memory, so only a process's first run
shows its true RSS peak; and a crash (a segfault, the kernel's out-of-memory killer) or a hang
then takes down one cell, not the sweep. The worker is ``python -m neural_ode.worker``
(:mod:`neural_ode.worker`); it stops itself at the cell's ``timeout_s`` (status ``timeout``,
figures measured so far kept), and a worker still running :data:`KILL_GRACE_S` seconds later
(start-up included) is killed here and recorded as ``timeout``. A worker that dies is recorded
as ``crashed`` with its exit code or signal and the tail of its stderr.

``results.jsonl`` holds one record per line, appended, flushed and fsynced as each cell finishes,
so a killed sweep loses at most the cell in flight; :class:`ResultsLog` reads it back for
``--resume``, dropping a truncated last line (with a warning) and cutting the file back to its
last whole line before appending.

The float64 reference a cell's errors are measured against is computed by the first cell of
each problem, in its worker, and cached on disk for the others (see :mod:`neural_ode.reference`):
a reference that cannot be computed then fails its cell, not the sweep.
"""

from __future__ import annotations

import datetime
import json
import os
import signal
import subprocess
import sys
import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from neural_ode.config import CellConfig
from neural_ode.record import CellRecord
from neural_ode.sweep import cell_label

#: seconds a worker may run past its cell's ``timeout_s`` (process start-up, a step that never returns)
KILL_GRACE_S = 15.0
#: characters of a dead worker's stderr kept in the record's ``error``
STDERR_TAIL_CHARS = 400


def worker_command() -> list[str]:
    """The command that measures one cell in a new process."""
    return [sys.executable, "-m", "neural_ode.worker"]


def worker_environment() -> dict[str, str]:
    """This process's environment, with this very ``neural_ode`` first on the worker's path.

    So that the worker measures with the code that planned the sweep, installed or not.
    """
    package_root = str(Path(__file__).resolve().parent.parent)
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [package_root, env.get("PYTHONPATH")]))
    return env


def run_cell(
    config: CellConfig, *, kill_after_s: float | None = None, command: Sequence[str] | None = None
) -> CellRecord:
    """Measure ``config`` in a fresh worker process; never raises for a failing cell.

    Args:
        config: the cell (sent to the worker as JSON on stdin).
        kill_after_s: wall-clock seconds after which the worker is killed (status ``timeout``);
            default ``config.timeout_s + KILL_GRACE_S``.
        command: the worker command (default :func:`worker_command`).

    Returns:
        the worker's record, or a record with status ``timeout`` or ``crashed`` and no figures.
    """
    command = list(command or worker_command())
    kill_after_s = config.timeout_s + KILL_GRACE_S if kill_after_s is None else kill_after_s
    measured_at = _now()
    started = time.perf_counter()
    try:
        done = subprocess.run(
            command,
            check=False,
            input=json.dumps(config.to_dict()),
            capture_output=True,
            text=True,
            timeout=kill_after_s,
            env=worker_environment(),
        )
    except subprocess.TimeoutExpired as exc:  # subprocess.run has killed the worker
        message = f"killed after {kill_after_s:g} s (the cell's timeout is {config.timeout_s:g} s)"
        return _failed(config, "timeout", _with_tail(message, exc.stderr), started, measured_at)
    record = _parse_record(done.stdout)
    if done.returncode == 0 and record is not None:
        return record
    if done.returncode == 0:
        return _failed(config, "crashed", _with_tail("the worker wrote no record", done.stderr), started, measured_at)
    return _failed(config, "crashed", _with_tail(describe_exit(done.returncode), done.stderr), started, measured_at)


def describe_exit(returncode: int) -> str:
    """``exit status 3`` or ``killed by SIGKILL`` (a negative return code is a signal)."""
    if returncode >= 0:
        return f"the worker exited with status {returncode}"
    try:
        name = signal.Signals(-returncode).name
    except ValueError:
        name = f"signal {-returncode}"
    hint = " (sent by the kernel's out-of-memory killer, among others)" if name == "SIGKILL" else ""
    return f"the worker was killed by {name}{hint}"


def _with_tail(message: str, stderr: str | bytes | None) -> str:
    if isinstance(stderr, bytes):
        stderr = stderr.decode("utf-8", "replace")
    lines = [line.strip() for line in (stderr or "").splitlines() if line.strip()]
    tail = " | ".join(lines[-3:])[-STDERR_TAIL_CHARS:]
    return f"{message}; stderr: {tail}" if tail else message


def _parse_record(stdout: str) -> CellRecord | None:
    for line in reversed(stdout.splitlines()):
        if line.strip():
            try:
                return CellRecord.from_dict(json.loads(line))
            except (ValueError, TypeError):
                return None
    return None


def _now() -> str:
    return datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")


def _failed(config: CellConfig, status: str, error: str, started: float, measured_at: str) -> CellRecord:
    """The record of a cell whose worker gave none: status, error and provenance, no figures."""
    from neural_ode.provenance import provenance

    try:
        origin = provenance(config.device)
    except (OSError, RuntimeError):  # provenance is a nicety; the failure is the result
        origin = {}
    return CellRecord(
        config=config,
        status=status,
        error=error,
        cell_wall_s=time.perf_counter() - started,
        measured_at=measured_at,
        **origin,
    )


class ResultsLog:
    """``results.jsonl``: one record per line, each appended and fsynced as its cell finishes."""

    def __init__(self, path: Path | str):
        self.path = Path(path)

    def rows(self) -> list[dict]:
        """The records on disk; a truncated or corrupt line is dropped with a warning, and a
        truncated last line (a killed run) is cut off the file so that appending continues cleanly."""
        from neural_ode.readers.jsonl import load_rows

        if not self.path.exists():
            return []
        rows = load_rows(self.path)
        self._repair_tail()
        return rows

    def done_keys(self) -> set[tuple]:
        """The :attr:`CellConfig.key` of every cell already recorded (any status)."""
        keys = set()
        for number, row in enumerate(self.rows(), 1):
            try:
                keys.add(CellRecord.from_dict(row).config.key)
            except (TypeError, ValueError) as exc:
                warnings.warn(f"{self.path}: record {number} is not a cell record ({exc}); ignored", stacklevel=2)
        return keys

    def append(self, record: CellRecord) -> None:
        """Add ``record`` as one line, on disk before this returns (flush + fsync)."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        line = json.dumps(record.to_dict()) + "\n"
        with open(self.path, "a", encoding="utf-8") as handle:
            handle.write(line)
            handle.flush()
            os.fsync(handle.fileno())

    def _repair_tail(self) -> None:
        """Cut an unfinished last line; end a whole last line that lacks its newline."""
        data = self.path.read_bytes()
        if not data or data.endswith(b"\n"):
            return
        cut = data.rfind(b"\n") + 1
        try:
            json.loads(data[cut:])
        except ValueError:
            with open(self.path, "r+b") as handle:
                handle.truncate(cut)
            return
        with open(self.path, "ab") as handle:
            handle.write(b"\n")


@dataclass(frozen=True)
class SweepOutcome:
    """What a sweep did: the records it measured now, and how many cells were already done."""

    records: list[CellRecord]
    skipped: int


def run_sweep(
    cells: Sequence[CellConfig],
    out_dir: Path | str,
    *,
    resume: bool = False,
    progress: bool = True,
    command: Sequence[str] | None = None,
) -> SweepOutcome:
    """Measure ``cells``, one fresh worker each, appending each record to ``out_dir/results.jsonl``.

    With ``resume``, cells already recorded there (any status) are skipped. A progress bar on
    stderr names the cell in hand and estimates the time left.
    """
    from tqdm import tqdm

    log = ResultsLog(Path(out_dir) / "results.jsonl")
    done = log.done_keys() if resume else set()
    todo = [cell for cell in cells if cell.key not in done]
    records = []
    with tqdm(total=len(todo), file=sys.stderr, unit="cell", disable=not progress, dynamic_ncols=True) as bar:
        for cell in todo:
            bar.set_description(cell_label(cell))
            record = run_cell(cell, command=command)
            log.append(record)
            records.append(record)
            bar.set_postfix_str(record.status, refresh=False)
            bar.update(1)
    return SweepOutcome(records=records, skipped=len(cells) - len(todo))
