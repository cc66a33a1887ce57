"""Running a sweep: every cell in its own fresh process, every record on disk as soon as it lands.

Why a fresh process per cell: the allocator keeps freed memory, so only a process's first run
shows its true RSS peak; and a crash (a segfault, the kernel's out-of-memory killer) or a hang
then takes down one cell, not the sweep. Cell processes are forked from a multiprocessing
forkserver that has imported torch and the measuring core once and run nothing else (see
:mod:`neural_ode.sweeping.worker`): importing torch, torchdiffeq and what the profiler needs costs seconds
per process, which a sweep of many small cells would otherwise spend mostly on imports.

A cell stops itself at its ``timeout_s`` (status ``timeout``, figures measured so far kept); a
cell process still running :data:`KILL_GRACE_S` seconds later is killed here and recorded as
``timeout``. A cell process that dies is recorded as ``crashed`` with its exit code or signal and
the tail of its output.

``results.jsonl`` holds one record per line, appended, flushed and fsynced as each cell finishes,
so a killed sweep loses at most the cell in flight; :class:`ResultsLog` reads it back for
``--resume``, dropping a truncated last line (with a warning) and cutting the file back to its
last whole line before appending.

The float64 references the cells' errors are measured against are computed first, in a pass of
their own (:func:`prepare_references`): one fresh process per problem not in the disk cache yet,
as many at a time as there are cores (nothing is timed then), each within
:data:`REFERENCE_TIMEOUT_S`. A reference that cannot be computed there is named in a warning; its
cells try again last, after their timings, within their own timeouts, so it fails their accuracy
figures, not their other figures or the sweep (see :mod:`neural_ode.measuring.reference`).

What it owns: the sweep appends only to a regular ``results.jsonl`` (never through a symlink, never
to a FIFO: see :func:`neural_ode.validation.open_owned`); a cell's temporary folder lies under
``DIR/.cells-tmp/``, which the next sweep on that folder clears; a cell process dies with the sweep
whatever ended it (see :func:`neural_ode.sweeping.worker.die_with`).
"""

from __future__ import annotations

import contextlib
import datetime
import json
import os
import shutil
import signal
import stat
import sys
import tempfile
import threading
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path

from neural_ode.config import CellConfig
from neural_ode.family import kill_descendants, kill_group, left_behind
from neural_ode.results.record import CellRecord
from neural_ode.results.records import ResultsLog
from neural_ode.sweeping.groups import measure_untimed_into, problem_groups, time_group_records
from neural_ode.sweeping.plan import cell_label
from neural_ode.sweeping.process import DEFAULT_SETTINGS, ProcessSettings
from neural_ode.sweeping.worker import measure_into, reference_into, run_child, start_worker_server, worker_context

#: seconds a cell process may run past its cell's ``timeout_s`` (a phase that overruns, a hang)
KILL_GRACE_S = 10.0
#: characters of a dead cell process's output kept in the record's ``error``
LOG_TAIL_CHARS = 400
#: the folder under a sweep's --out that holds its cells' temporary folders
TMP_NAME = ".cells-tmp"
#: seconds one reference may take in the reference pass (the conv block's at horizon 4 takes about
#: 6 minutes of one core)
REFERENCE_TIMEOUT_S = 1800.0


def run_cell(
    config: CellConfig,
    *,
    kill_after_s: float | None = None,
    target: Callable[[dict, str], None] = measure_into,
    tmp_dir: Path | str | None = None,
    settings: ProcessSettings | None = None,
) -> CellRecord:
    """Measure ``config`` in a fresh process; never raises for a failing cell.

    Args:
        config: the cell.
        kill_after_s: wall-clock seconds after which the process is killed (status ``timeout``);
            default ``config.timeout_s + KILL_GRACE_S``.
        target: what the process runs, ``target(config_dict, record_path)``, its output going
            to a log whose tail a failure's ``error`` quotes; default
            :func:`neural_ode.sweeping.worker.measure_into`. It sees this process's environment variables
            (the user's: ``NEURAL_ODE_BENCH_CACHE``).
        tmp_dir: where the cell's temporary folder goes (default: the system's); a sweep passes
            ``DIR/.cells-tmp`` so that a killed sweep leaves nothing outside its folder.
        settings: the sweep's settings of its cell processes (threads, commit, instructions), given
            to ``target`` as its ``settings`` argument; None: the target takes none (its defaults).

    Returns:
        the process's record, or a record with status ``timeout`` or ``crashed`` and no figures.

    As with any multiprocessing code, a script that calls this must guard its top level with
    ``if __name__ == "__main__":`` (the cell process imports the main module).
    """
    kill_after_s = config.timeout_s + KILL_GRACE_S if kill_after_s is None else kill_after_s
    start_worker_server()
    measured_at = _now()
    work = target if settings is None else partial(target, settings=settings)
    commit = None if settings is None else settings.commit
    with tempfile.TemporaryDirectory(prefix="neural-ode-cell-", dir=tmp_dir) as tmp:
        record_path, log_path = os.path.join(tmp, "record.json"), os.path.join(tmp, "output.txt")
        process = worker_context().Process(
            target=run_child,
            args=(work, dict(os.environ), config.to_dict(), record_path, log_path, os.getpid()),
            name=f"neural-ode-bench cell: {cell_label(config)}",
        )
        started = time.perf_counter()
        process.start()
        try:
            deadline = time.monotonic() + kill_after_s
            while process.is_alive() and time.monotonic() < deadline and not STOP.is_set():
                process.join(min(0.2, max(0.0, deadline - time.monotonic())))  # a Ctrl-C elsewhere: within 0.2 s
            if STOP.is_set() and process.is_alive():
                raise KeyboardInterrupt
            timed_out = process.is_alive()
        finally:
            if process.is_alive():
                kill_descendants(process.pid)  # what the user's code forked dies with its cell
                process.kill()
                process.join()
            left = kill_group(process.pid)  # forked by a cell process that then ended (os._exit, a crash)
        output = Path(log_path).read_text(errors="replace") if os.path.exists(log_path) else ""
        record = _read_record(record_path)
    if timed_out:
        message = f"killed after {kill_after_s:g} s (the cell's timeout is {config.timeout_s:g} s)"
        return _failed(config, "timeout", _with_tail(message, output), started, measured_at, commit)
    if process.exitcode == 0 and record is not None:
        return record
    reason = describe_exit(process.exitcode) if process.exitcode != 0 else "the cell process wrote no record"
    if left:
        reason += "; " + left_behind(left, after="the cell process ended")
    return _failed(config, "crashed", _with_tail(reason, output), started, measured_at, commit)


def describe_exit(returncode: int) -> str:
    """``exit status 3`` or ``killed by SIGKILL`` (a negative return code is a signal)."""
    if returncode >= 0:
        return f"the cell process exited with status {returncode}"
    try:
        name = signal.Signals(-returncode).name
    except ValueError:
        name = f"signal {-returncode}"
    hint = " (sent by the kernel's out-of-memory killer, among others)" if name == "SIGKILL" else ""
    return f"the cell process was killed by {name}{hint}"


def _with_tail(message: str, output: str) -> str:
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    tail = " | ".join(lines[-3:])[-LOG_TAIL_CHARS:]
    return f"{message}; output: {tail}" if tail else message


def _read_record(path: str) -> CellRecord | None:
    try:
        with open(path, encoding="utf-8") as handle:
            return CellRecord.from_dict(json.load(handle))
    except (OSError, ValueError, TypeError):
        return None


def _now() -> str:
    return datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")


def _failed(
    config: CellConfig, status: str, error: str, started: float, measured_at: str, commit: str | None = None
) -> CellRecord:
    """The record of a cell whose process gave none: status, error and provenance (``commit``: the
    sweep's), no figures."""
    from neural_ode.measuring.provenance import provenance

    try:
        origin = provenance(config.device, commit)
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


def quiet(progress: bool) -> bool | None:
    """tqdm's ``disable``: off when ``progress`` is false, else shown only on a terminal (None)."""
    return None if progress else True


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
    settings: ProcessSettings = DEFAULT_SETTINGS,
) -> SweepOutcome:
    """Measure ``cells``, one fresh process each, appending each record to ``out_dir/results.jsonl``.

    Every cell process (reference pass, cells, group processes) runs under ``settings``: the
    sweep's torch threads, commit and instruction counting.

    The cells of one problem are timed together, in interleaved rounds in one more process
    (:mod:`neural_ode.sweeping.groups`), and their records appended once that is done: a killed
    sweep loses at most the problem in flight.

    With ``resume``, cells already recorded there (any status) are skipped. A progress bar on
    stderr names the cell in hand and estimates the time left. The caller holds the folder's
    lock (:class:`neural_ode.sweeping.lock.FolderLock`); the cells' temporary folders go under
    ``out_dir/.cells-tmp``, cleared first of what a killed sweep left there.
    """
    from tqdm import tqdm

    tmp_dir = clear_tmp(Path(out_dir))
    log = ResultsLog(Path(out_dir) / "results.jsonl")
    done = log.done_keys() if resume else set()
    todo = [cell for cell in cells if cell.key not in done]
    records = []
    prepare_workloads(todo, progress=progress)
    with _removed_after(tmp_dir):
        prepare_references(todo, tmp_dir=tmp_dir, progress=progress, settings=settings)
    tmp_dir = clear_tmp(Path(out_dir))
    with (
        tqdm(total=len(todo), file=sys.stderr, unit="cell", disable=quiet(progress), dynamic_ncols=True) as bar,
        _removed_after(tmp_dir),
    ):
        for group in problem_groups(todo):
            bar.set_description(cell_label(group[0]) + (f" and {len(group) - 1} more" if len(group) > 1 else ""))
            if len(group) == 1:
                done_now = [run_cell(group[0], tmp_dir=tmp_dir, settings=settings)]
            else:  # one problem's contenders: exact figures each alone, then timed together (see groups)
                done_now = [
                    run_cell(cell, tmp_dir=tmp_dir, target=measure_untimed_into, settings=settings) for cell in group
                ]
                done_now = time_group_records(done_now, tmp_dir=tmp_dir, settings=settings)
            for record in done_now:
                log.append(record)
                records.append(record)
                bar.set_postfix_str(record.status, refresh=False)
                bar.update(1)
    return SweepOutcome(records=records, skipped=len(cells) - len(todo))


def prepare_workloads(cells: Sequence[CellConfig], progress: bool = True) -> None:
    """Do here, once, what the cells' problems need built first (a staged field's fit, with its
    progress bar and its NFE per stage on stderr), so that neither the reference pass nor the
    cells' processes fit it unseen. A workload that fails here fails in its cells, with the reason."""
    from neural_ode.workloads import workload_of

    seen = set()
    for cell in cells:
        what = (cell.workload, cell.dim, cell.width, cell.layers, cell.stage)
        if what in seen:
            continue
        seen.add(what)
        try:
            workload_of(cell.workload).prepare(cell, progress=progress)
        except Exception as exc:  # noqa: BLE001 - reported by the cells that need it
            warnings.warn(f"preparing {cell_label(cell)} failed ({exc}); its cells will say why", stacklevel=2)


def prepare_references(
    cells: Sequence[CellConfig],
    *,
    tmp_dir: Path | str | None = None,
    parallel: int | None = None,
    timeout_s: float | None = None,
    progress: bool = True,
    settings: ProcessSettings = DEFAULT_SETTINGS,
) -> dict[str, str]:
    """Compute the float64 references ``cells`` need that the disk cache lacks, before any is measured.

    One fresh process per problem, ``parallel`` at a time (default: the cores this process may
    use); nothing is timed while they run. Each is killed after ``timeout_s`` (default: the
    longest ``timeout_s`` of the cells that need it, at most :data:`REFERENCE_TIMEOUT_S`). Each
    process takes the sweep's ``settings`` (its threads).

    Returns:
        the problems whose reference could not be computed: a readable label -> the reason (each
        also given in a warning). Their cells compute it themselves, within their own timeouts.
    """
    from concurrent.futures import ThreadPoolExecutor

    from tqdm import tqdm

    from neural_ode.measuring.reference import cache_key, is_cached

    STOP.clear()  # an earlier interrupted pass of this process is over
    needed: dict[str, CellConfig] = {}
    budget: dict[str, float] = {}  # the longest timeout of the cells that need each reference
    for cell in cells:
        try:
            key = cache_key(cell)
            if key not in needed and not is_cached(cell):
                needed[key] = cell
        except Exception:  # noqa: BLE001 - a problem that cannot even be built fails in its cells, with the reason
            continue
        if key in needed:
            budget[key] = max(budget.get(key, 0.0), cell.timeout_s)
    if not needed:
        return {}
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    parallel = parallel or max(1, min(len(needed), cores))

    def one(key: str) -> CellRecord:
        limit = min(REFERENCE_TIMEOUT_S, budget[key]) if timeout_s is None else timeout_s
        return run_cell(needed[key], kill_after_s=limit, target=reference_into, tmp_dir=tmp_dir, settings=settings)

    failed: dict[str, str] = {}
    start_worker_server()
    with (
        ThreadPoolExecutor(max_workers=parallel) as pool,
        tqdm(total=len(needed), file=sys.stderr, unit="reference", disable=quiet(progress), dynamic_ncols=True) as bar,
        _stopping_on_interrupt(),  # innermost: the threads are told to stop before the pool waits for them
    ):
        bar.set_description(f"float64 references ({parallel} at a time)")
        for cell, outcome in zip(needed.values(), pool.map(one, needed)):
            if outcome.status != "ok":
                label = reference_label(cell)
                failed[label] = outcome.error or outcome.status
                warnings.warn(
                    f"the reference of {label} could not be computed ({failed[label]}); "
                    "its cells try again within their own timeouts",
                    stacklevel=2,
                )
            bar.update(1)
    return failed


#: set while an interrupted pass stops: every :func:`run_cell` in flight (in any thread) kills its
#: process within 0.2 s, so Ctrl-C during the reference pass stops in well under 5 s
STOP = threading.Event()


@contextlib.contextmanager
def _stopping_on_interrupt():
    """On Ctrl-C (or SIGTERM) in the body, tell the other threads' cell processes to stop, then re-raise."""
    try:
        yield
    except BaseException:
        STOP.set()
        raise


def reference_label(cell: CellConfig) -> str:
    """The problem a reference belongs to, readably: workload, sizes, horizon, outputs."""
    return (
        f"{cell.workload} batch {cell.batch} width {cell.width} dim {cell.dim} layers {cell.layers} "
        f"horizon {cell.horizon:g} outputs {cell.outputs} seed {cell.seed}"
    )


@contextlib.contextmanager
def _removed_after(folder: Path):
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def clear_tmp(out_dir: Path) -> Path:
    """``out_dir/.cells-tmp``, emptied of what a killed sweep left (only a real folder of ours is
    cleared; a symlink there is refused), and created."""
    tmp = out_dir / TMP_NAME
    try:
        info = os.lstat(tmp)
    except FileNotFoundError:
        info = None
    if info is not None:
        if not stat.S_ISDIR(info.st_mode):
            from neural_ode.validation import UsageError

            raise UsageError(f"{tmp}: expected this tool's temporary folder, found something else; refused")
        shutil.rmtree(tmp)
    tmp.mkdir(parents=True)
    return tmp
